"""Floe's script runner. It runs inside the sandbox, one workload per process.

The sandbox has no network, no credentials and no view of the warehouse, so
every byte of lake data arrives from the Floe server over the socket inherited
as fd 3: `scan()` is a Polars IO source whose batches the server reads with its
own Iceberg reader after applying the projection, predicate and limit Polars
pushed down. The server stays the only party that can touch storage or commit.

Frames on the socket: one kind byte, a big-endian u32 length, the payload.
  J  JSON (requests and replies)        A  Arrow IPC stream (a table chunk)
  X  JSON error from the server         E  end of a scan
  R  Arrow IPC stream (a result chunk)
"""

import json
import os
import socket
import struct
import sys
import threading
import time
import traceback

CHANNEL_FD = 3
RESULT_CHUNK_ROWS = 65536


class Channel:
    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        # Polars may pull several IO sources from its own threads; a request
        # and its reply stay together.
        self.lock = threading.Lock()
        # A forked child must not speak on the parent's channel: interleaved
        # frames would corrupt it. Children may compute, not talk.
        os.register_at_fork(after_in_child=self._detach)

    def _detach(self):
        try:
            self.sock.detach()
            os.close(CHANNEL_FD)
        except OSError:
            pass
        self.sock = None

    def send(self, kind, payload):
        self.sock.sendall(kind + struct.pack(">I", len(payload)))
        if payload:
            self.sock.sendall(payload)

    def send_json(self, message):
        self.send(b"J", json.dumps(message).encode())

    def recv(self):
        header = self._exactly(5)
        (length,) = struct.unpack(">I", header[1:])
        return header[:1], self._exactly(length)

    def call(self, message):
        with self.lock:
            self.send_json(message)
            return self.recv()

    def _exactly(self, n):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:])
            if k == 0:
                raise EOFError("the Floe server closed the channel")
            got += k
        return bytes(buf)


class TableError(LookupError):
    """A table the server could not give the script (unknown, unreadable)."""


def _reply_error(kind, payload):
    if kind == b"X":
        raise TableError(json.loads(payload)["error"])
    raise RuntimeError(f"unexpected reply from the Floe server: {kind!r}")


# Polars predicates reach the IO source as expressions. The subset below is
# translated to SQL so the server can prune Iceberg files; anything else is
# still applied here, so an untranslated predicate costs speed, never rows.
_COMPARISONS = {"Eq": "=", "NotEq": "<>", "Lt": "<", "LtEq": "<=", "Gt": ">", "GtEq": ">="}


def _sql_literal(node):
    if not isinstance(node, dict) or "Literal" not in node:
        return None
    literal = node["Literal"]
    inner = literal.get("Dyn") or literal.get("Scalar")
    if not isinstance(inner, dict) or len(inner) != 1:
        return None
    (kind, value), = inner.items()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)) and kind.startswith(("Int", "UInt", "Float")):
        return repr(value)
    if isinstance(value, str) and kind in ("Str", "String"):
        return "'" + value.replace("'", "''") + "'"
    return None


def _sql_column(node):
    if isinstance(node, dict) and isinstance(node.get("Column"), str):
        return '"' + node["Column"].replace('"', '""') + '"'
    return None


def _to_sql(node):
    if not isinstance(node, dict):
        return None
    if "BinaryExpr" in node:
        b = node["BinaryExpr"]
        op = b.get("op")
        left, right = _to_sql_or_none(b.get("left")), _to_sql_or_none(b.get("right"))
        if op in ("And", "LogicalAnd"):
            # A conjunct we cannot translate is dropped: the rest still prunes.
            parts = [p for p in (left, right) if p]
            return " AND ".join(f"({p})" for p in parts) or None
        if op in ("Or", "LogicalOr"):
            return f"({left}) OR ({right})" if left and right else None
        if op in _COMPARISONS:
            col, lit = _sql_column(b.get("left")), _sql_literal(b.get("right"))
            if col and lit:
                return f"{col} {_COMPARISONS[op]} {lit}"
            col, lit = _sql_column(b.get("right")), _sql_literal(b.get("left"))
            flipped = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
            if col and lit:
                return f"{col} {flipped[_COMPARISONS[op]]} {lit}"
        return None
    if "Function" in node:
        f = node["Function"]
        inputs = f.get("input") or []
        test = (f.get("function") or {}).get("Boolean")
        if test in ("IsNull", "IsNotNull") and len(inputs) == 1:
            col = _sql_column(inputs[0])
            return f"{col} IS {'NOT ' if test == 'IsNotNull' else ''}NULL" if col else None
    return None


def _to_sql_or_none(node):
    try:
        return _to_sql(node)
    except Exception:
        return None


def predicate_sql(predicate):
    try:
        return _to_sql(json.loads(predicate.meta.serialize(format="json")))
    except Exception:
        return None


def make_scan(channel, pl):
    from polars.io.plugins import register_io_source

    def scan(table):
        if not isinstance(table, str) or not table.strip():
            raise TypeError(f"scan() takes a table name like 'namespace.table', not {table!r}")
        kind, payload = channel.call({"op": "schema", "table": table})
        if kind != b"A":
            _reply_error(kind, payload)
        schema = pl.read_ipc_stream(payload).schema

        def source(with_columns, predicate, n_rows, batch_size):
            filter_sql = predicate_sql(predicate) if predicate is not None else None
            # A limit is only exact for the server when the whole filter went with it.
            exact = predicate is None
            kind, payload = channel.call({
                "op": "scan", "table": table, "columns": with_columns,
                "filter": filter_sql, "limit": n_rows if exact else None,
            })
            if kind != b"J":
                _reply_error(kind, payload)
            scan_id = json.loads(payload)["id"]
            produced = 0
            while True:
                kind, payload = channel.call({"op": "next", "id": scan_id})
                if kind == b"E":
                    return
                if kind != b"A":
                    _reply_error(kind, payload)
                frame = pl.read_ipc_stream(payload)
                if predicate is not None:
                    frame = frame.filter(predicate)
                if n_rows is not None and produced + frame.height > n_rows:
                    frame = frame.head(n_rows - produced)
                produced += frame.height
                yield frame
                if n_rows is not None and produced >= n_rows:
                    channel.call({"op": "close", "id": scan_id})
                    return

        return register_io_source(source, schema=schema)

    return scan


def make_catalog(channel, name):
    """A read-only pyiceberg catalog answered by the server: metadata only."""
    from pyiceberg.catalog import Catalog
    from pyiceberg.io import FileIO
    from pyiceberg.table import Table
    from pyiceberg.table.metadata import TableMetadataUtil

    def ask(message):
        kind, payload = channel.call(message)
        if kind != b"J":
            _reply_error(kind, payload)
        return json.loads(payload)

    class SandboxIO(FileIO):
        def _refuse(self, location, *_args, **_kwargs):
            raise PermissionError(f"{location}: files are not readable inside the sandbox; read tables with scan()")

        new_input = new_output = delete = _refuse

    def ident(identifier):
        return tuple(identifier.split(".")) if isinstance(identifier, str) else tuple(identifier)

    class ServerCatalog(Catalog):
        def list_namespaces(self, namespace=()):
            return [tuple(ns) for ns in ask({"op": "namespaces", "parent": list(ident(namespace))})["namespaces"]]

        def list_tables(self, namespace):
            return [tuple(t) for t in ask({"op": "tables", "namespace": list(ident(namespace))})["tables"]]

        def load_table(self, identifier):
            reply = ask({"op": "load_table", "table": ".".join(ident(identifier))})
            metadata = TableMetadataUtil.parse_raw(reply["metadata"])
            return Table(ident(identifier), metadata, reply["metadata_location"], SandboxIO(), self)

        def table_exists(self, identifier):
            return ask({"op": "table_exists", "table": ".".join(ident(identifier))})["exists"]

        def namespace_exists(self, namespace):
            parts = ident(namespace)
            return parts in self.list_namespaces(parts[:-1])

        def list_views(self, namespace):
            return []

        def view_exists(self, identifier):
            return False

        def supports_server_side_planning(self):
            return False

    def read_only(method):
        def refuse(self, *_args, **_kwargs):
            raise PermissionError(
                f"catalog.{method}: the script's catalog is read-only; save results with `destination`")
        return refuse

    for method in list(Catalog.__abstractmethods__):
        if method not in ServerCatalog.__dict__:
            setattr(ServerCatalog, method, read_only(method))
    ServerCatalog.__abstractmethods__ = frozenset()
    return ServerCatalog(name)


class LazyCatalog:
    """Builds the catalog on first use: importing pyiceberg costs most scripts time for nothing."""

    def __init__(self, build):
        self._build, self._catalog = build, None

    def __getattr__(self, attr):
        if self._catalog is None:
            self._catalog = self._build()
        return getattr(self._catalog, attr)


def send_result(channel, pl, result):
    if isinstance(result, pl.LazyFrame):
        chunks = result.collect_batches(chunk_size=RESULT_CHUNK_ROWS, engine="streaming")
    else:
        chunks = result.iter_slices(n_rows=RESULT_CHUNK_ROWS)
    rows = 0
    sent_any = False
    for chunk in chunks:
        if chunk.height == 0 and sent_any:
            continue
        channel.send(b"R", chunk.write_ipc_stream(None, compat_level=pl.CompatLevel.newest()).getvalue())
        sent_any = True
        rows += chunk.height
    if not sent_any:
        empty = result.collect_schema() if isinstance(result, pl.LazyFrame) else result.schema
        channel.send(b"R", pl.DataFrame(schema=empty).write_ipc_stream(None).getvalue())
    channel.send_json({"op": "done", "rows": rows})


def fail(channel, kind, message, details=""):
    channel.send_json({"op": "error", "kind": kind, "message": message, "details": details})


def script_traceback(exc):
    # Frames of the runner itself mean nothing to the script's author.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<script>"]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "Traceback (most recent call last):\n" + "".join(lines)


def run(channel, pl, workload):
    source = workload["script"]
    try:
        code = compile(source, "<script>", "exec")
    except SyntaxError as exc:
        fail(channel, "syntax", f"syntax error in the script at line {exc.lineno}: {exc.msg}",
             "".join(traceback.format_exception_only(type(exc), exc)))
        return
    scope = {
        "__name__": "__floe_script__",
        "pl": pl,
        "scan": make_scan(channel, pl),
        "params": dict(workload.get("params") or {}),
        "catalog": LazyCatalog(lambda: make_catalog(channel, workload.get("catalog") or "floe")),
    }
    try:
        exec(code, scope)
        if "result" not in scope:
            fail(channel, "no_result", "the script did not assign `result` (a polars LazyFrame or DataFrame)")
            return
        result = scope["result"]
        if not isinstance(result, (pl.LazyFrame, pl.DataFrame)):
            fail(channel, "bad_result",
                 f"`result` must be a polars LazyFrame or DataFrame, not {type(result).__name__}")
            return
        send_result(channel, pl, result)
    except MemoryError:
        fail(channel, "memory", "the script ran out of memory (the workload's memory limit)")
    except TableError as exc:
        fail(channel, "table", str(exc), script_traceback(exc))
    except Exception as exc:
        fail(channel, "exception", f"the script raised {type(exc).__name__}: {exc}", script_traceback(exc))


def main():
    channel = Channel(CHANNEL_FD)
    started = time.monotonic()
    import polars as pl

    threads = pl.thread_pool_size()
    channel.send_json({"op": "ready", "import_seconds": round(time.monotonic() - started, 3), "threads": threads,
                       "polars": pl.__version__})
    kind, payload = channel.recv()
    if kind != b"J":
        sys.exit(2)
    run(channel, pl, json.loads(payload))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
