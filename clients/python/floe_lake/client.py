"""The Floe client: SQL, lazy scans with pushdown, writes and workloads,
over ADBC Flight SQL (and pyarrow.flight for Floe's `floe.run` action)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Sequence

import adbc_driver_flightsql.dbapi as flightsql
import polars as pl
import pyarrow as pa
import pyarrow.flight as flight
from polars.io.plugins import register_io_source

from .errors import FloeError, from_exception
from .pushdown import predicate_sql, quote_identifier

WriteMode = Literal["append", "overwrite", "create"]

# ADBC's ingest modes for ours: overwrite keeps the table (and its history)
# and replaces its rows in one snapshot.
_INGEST_MODES = {"append": "create_append", "overwrite": "replace", "create": "create"}


@dataclass(frozen=True)
class WriteResult:
    """What a write committed."""

    table: str
    rows_written: int
    snapshot_id: int | None
    mode: str


@dataclass
class RunResult:
    """A `floe.run` answer: the rows (`frame`) or, with a destination, `saved`."""

    row_count: int
    columns: list[str]
    column_types: list[str]
    compute: dict[str, Any]
    execution_time: str
    frame: pl.DataFrame | None = None
    saved: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _at_least_one(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches, or one empty batch: ADBC's Flight SQL driver sends
    nothing at all for a reader without batches, so an empty frame would
    reach the server without its table or schema."""
    sent = False
    for batch in batches:
        sent = True
        yield batch
    if not sent:
        yield pa.RecordBatch.from_pylist([], schema)


def _pem(value: str | bytes | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return value if "-----BEGIN" in value else open(value).read()


class Client:
    """A connection to one Floe server. Use `connect()`."""

    def __init__(self, uri: str, *, token: str | None = None, user: str | None = None, password: str | None = None,
                 tls_root_certs: str | bytes | None = None, tls_skip_verify: bool = False,
                 namespace: str | None = None):
        self.uri = uri
        self.namespace = namespace
        #: The SQL of the last scan() batch fetch, for seeing what was pushed down.
        self.last_scan_sql: str | None = None
        root_certs = _pem(tls_root_certs)
        db_kwargs = {"adbc.flight.sql.rpc.with_cookie_middleware": "true"}
        if token:
            db_kwargs["adbc.flight.sql.authorization_header"] = f"Bearer {token}"
        if user is not None:
            db_kwargs["username"], db_kwargs["password"] = user, password or ""
        if root_certs:
            db_kwargs["adbc.flight.sql.client_option.tls_root_certs"] = root_certs
        if tls_skip_verify:
            db_kwargs["adbc.flight.sql.client_option.tls_skip_verify"] = "true"
        try:
            self._conn = flightsql.connect(uri, db_kwargs=db_kwargs, autocommit=True)
        except Exception as error:  # noqa: BLE001
            raise from_exception(error) from error
        self._flight = flight.FlightClient(uri, tls_root_certs=root_certs, disable_server_verification=tls_skip_verify)
        headers: list[tuple[bytes, bytes]] = []
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        elif user is not None:
            try:
                headers.append(self._flight.authenticate_basic_token(user, password or ""))
            except Exception as error:  # noqa: BLE001
                raise from_exception(error) from error
        self._options = flight.FlightCallOptions(headers=headers)

    # --- names -------------------------------------------------------------

    def _table_name(self, table: str) -> tuple[str | None, str]:
        namespace, _, name = table.rpartition(".")
        return (namespace or self.namespace), name

    def _relation(self, table: str, snapshot: int | str | None = None) -> str:
        namespace, name = self._table_name(table)
        parts = [*(namespace.split(".") if namespace else []), name]
        relation = ".".join(quote_identifier(part) for part in parts)
        if snapshot is not None:
            version = str(int(snapshot)) if isinstance(snapshot, int) else "'" + snapshot.replace("'", "''") + "'"
            relation += f" FOR VERSION AS OF {version}"
        return relation

    # --- SQL ---------------------------------------------------------------

    def arrow(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Runs `query` (with `?` parameters) and returns its rows as Arrow."""
        try:
            with self._conn.cursor() as cursor:
                cursor.execute(query, params)
                return cursor.fetch_arrow_table()
        except Exception as error:  # noqa: BLE001
            raise from_exception(error) from error

    def sql(self, query: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """Runs `query` (with `?` parameters) and returns a Polars DataFrame."""
        frame = pl.from_arrow(self.arrow(query, params))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def execute(self, statement: str, params: Sequence[Any] | None = None) -> int:
        """Runs DDL or DML and returns the rows it affected."""
        table = self.arrow(statement, params)
        if table.column_names == ["rows_affected"] and table.num_rows == 1:
            return int(table.column(0)[0].as_py())
        return table.num_rows

    def _batches(self, query: str) -> Iterator[pa.RecordBatch]:
        try:
            with self._conn.cursor() as cursor:
                cursor.execute(query)
                yield from cursor.fetch_record_batch()
        except Exception as error:  # noqa: BLE001
            raise from_exception(error) from error

    # --- tables ------------------------------------------------------------

    def schema(self, table: str) -> pl.Schema:
        """The table's columns as Polars types."""
        empty = pl.from_arrow(self.arrow(f"SELECT * FROM {self._relation(table)} LIMIT 0"))
        assert isinstance(empty, pl.DataFrame)
        return empty.schema

    def tables(self) -> list[str]:
        """Every table the caller may see, as `namespace.table`."""
        try:
            objects = self._conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        except Exception as error:  # noqa: BLE001
            raise from_exception(error) from error
        return sorted(f"{schema['db_schema_name']}.{t['table_name']}"
                      for catalog in objects for schema in catalog["catalog_db_schemas"] or []
                      for t in schema["db_schema_tables"] or [])

    def snapshots(self, table: str) -> pl.DataFrame:
        """The table's snapshots (`committed_at`, `snapshot_id`, `operation`, …)."""
        namespace, name = self._table_name(table)
        prefix = f"{quote_identifier(namespace)}." if namespace else ""
        return self.sql(f"SELECT * FROM {prefix}{quote_identifier(name + '$snapshots')} ORDER BY committed_at")

    def current_snapshot(self, table: str) -> int | None:
        """The snapshot `main` points at, or None for an empty table."""
        namespace, name = self._table_name(table)
        prefix = f"{quote_identifier(namespace)}." if namespace else ""
        refs = self.sql(f"SELECT snapshot_id FROM {prefix}{quote_identifier(name + '$refs')} WHERE name = 'main'")
        return int(refs["snapshot_id"][0]) if refs.height else None

    def exists(self, table: str) -> bool:
        try:
            self.schema(table)
            return True
        except FloeError as error:
            if error.code == "NotFound" or "not found" in error.message:
                return False
            raise

    # --- scans and writes --------------------------------------------------

    def scan(self, table: str, snapshot: int | str | None = None, where: str | None = None) -> pl.LazyFrame:
        """A LazyFrame over the table (at `snapshot`, an id or a branch or tag;
        only rows matching the SQL condition `where`, if given). Polars'
        projection, the predicate's translatable conjuncts and the row limit
        become the SQL Floe runs; batches stream as they arrive."""
        relation = self._relation(table, snapshot)
        schema = self.schema(table)

        def source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
                   _batch_size: int | None) -> Iterator[pl.DataFrame]:
            wanted = list(with_columns) if with_columns is not None else list(schema)
            needed = list(dict.fromkeys(wanted + (predicate.meta.root_names() if predicate is not None else [])))
            columns = ", ".join(quote_identifier(c) for c in needed) if needed else "*"
            query = f"SELECT {columns} FROM {relation}"
            conditions = [condition for condition in (where, predicate_sql(predicate)) if condition]
            if conditions:
                query += " WHERE " + " AND ".join(f"({condition})" for condition in conditions)
            if n_rows is not None and predicate is None:
                query += f" LIMIT {int(n_rows)}"
            self.last_scan_sql = query
            left = n_rows
            for batch in self._batches(query):
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                if predicate is not None:
                    frame = frame.filter(predicate)
                frame = frame.select(wanted) if needed else frame
                if left is not None:
                    frame = frame.head(left)
                    left -= frame.height
                yield frame
                if left is not None and left <= 0:
                    return

        return register_io_source(source, schema=schema)

    def write(self, frame: pl.DataFrame | pl.LazyFrame, table: str, mode: WriteMode = "append") -> WriteResult:
        """Writes `frame` to `table` in one commit: `append` (creating the
        table if missing), `overwrite` (replace its rows, keeping history)
        or `create`. A LazyFrame streams in batches, never collected whole."""
        if mode not in _INGEST_MODES:
            raise ValueError(f"mode must be append, overwrite or create, not {mode!r}")
        namespace, name = self._table_name(table)
        if isinstance(frame, pl.LazyFrame):
            schema = pl.DataFrame(schema=frame.collect_schema()).to_arrow().schema
            batches: Iterator[pa.RecordBatch] = (batch for chunk in frame.collect_batches() for batch in chunk.to_arrow().to_batches())
        else:
            table = frame.to_arrow()
            schema, batches = table.schema, iter(table.to_batches())
        data = pa.RecordBatchReader.from_batches(schema, _at_least_one(schema, batches))
        try:
            with self._conn.cursor() as cursor:
                rows = cursor.adbc_ingest(name, data, mode=_INGEST_MODES[mode], db_schema_name=namespace)
        except Exception as error:  # noqa: BLE001
            raise from_exception(error) from error
        full = f"{namespace}.{name}" if namespace else name
        return WriteResult(full, int(rows), self.current_snapshot(full), mode)

    # --- workloads ---------------------------------------------------------

    def run(self, *, query: str | None = None, script: str | None = None, tables: Sequence[str] | None = None,
            params: dict[str, str] | None = None, destination: str | None = None,
            save_mode: Literal["overwrite", "append"] = "overwrite", vcpus: int | None = None,
            distributed: bool = False, idempotency_key: str | None = None) -> RunResult:
        """Runs a Polars workload (`floe.run`, oleander's request): a query
        over `tables` aliases, or a script with `params`; rows come back in
        `frame`, or go to `destination`."""
        if (query is None) == (script is None):
            raise ValueError("pass exactly one of query= or script=")
        request: dict[str, Any] = {"mode": "query" if query is not None else "script", "distributed": distributed}
        optional = {"query": query, "script": script, "tables": list(tables) if tables else None, "params": params,
                    "destination": destination, "vcpus": vcpus, "idempotencyKey": idempotency_key}
        request.update({key: value for key, value in optional.items() if value is not None})
        if destination:
            request["saveMode"] = save_mode
        try:
            results = list(self._flight.do_action(flight.Action("floe.run", json.dumps(request).encode()),
                                                  self._options))
            answer = json.loads(results[0].body.to_pybytes())
            frame = None
            if "ticket" in answer:
                ticket = flight.Ticket(base64.b64decode(answer["ticket"]))
                rows = pl.from_arrow(self._flight.do_get(ticket, self._options).read_all())
                frame = rows if isinstance(rows, pl.DataFrame) else rows.to_frame()
        except Exception as error:  # noqa: BLE001
            raise from_exception(error) from error
        return RunResult(answer["row_count"], answer["columns"], answer["column_types"], answer["compute"],
                         answer["execution_time"], frame, answer.get("saved"), answer)

    def close(self) -> None:
        self._conn.close()
        self._flight.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def connect(uri: str, token: str | None = None, user: str | None = None, password: str | None = None, *,
            tls_root_certs: str | bytes | None = None, tls_skip_verify: bool = False,
            namespace: str | None = None) -> Client:
    """Connects to Floe at `uri` (`grpc://host:port`, or `grpc+tls://` with
    `tls_root_certs` as PEM text or a file path). Authenticate with a bearer
    `token`, or `user` and `password` (Basic, exchanged for a token).
    `namespace` is where names without one resolve (else `default`)."""
    return Client(uri, token=token, user=user, password=password, tls_root_certs=tls_root_certs,
                  tls_skip_verify=tls_skip_verify, namespace=namespace)
