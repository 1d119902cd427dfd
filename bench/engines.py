"""The engines the benchmarks compare, each reading the same Iceberg tables of
a Floe data dir (SQLite catalog + local warehouse):

- Floe over Flight SQL through an ADBC client, result fetched into Arrow;
- Python Polars in process: `pl.scan_iceberg` frames in a `pl.SQLContext`;
- DuckDB in process: `iceberg_scan` of each table's current metadata file;
- ROAPI (DataFusion's Flight SQL server) over the tables' Parquet data files,
  through the same ADBC client.

Each engine runs SQL and returns a pyarrow Table, or raises.
"""

import contextlib
import os
import sys
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa

from common import load_duckdb_extension
from harness import Service, free_port, set_session


def flight_sql_connection(uri: str, timeout: float = 600, schema: str | None = None):
    conn = flightsql.connect(uri, autocommit=True, db_kwargs={
        "adbc.flight.sql.rpc.with_cookie_middleware": "true",
        "adbc.flight.sql.rpc.timeout_seconds.query": str(timeout),
        "adbc.flight.sql.rpc.timeout_seconds.fetch": str(timeout),
    })
    if schema:
        set_session(conn, schema=schema)
    return conn


def ingest_tables(duck, uri: str, namespace: str, tables: list[str], timeout: float = 600) -> float:
    """Loads DuckDB's tables into Floe (`namespace`) through Floe's own bulk
    ingest, in ~8 MiB batches (ADBC sends each batch as one gRPC message,
    16 MiB at most by default); answers the seconds it took."""
    started = time.perf_counter()
    with flight_sql_connection(uri, timeout) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {namespace}")
        cursor.fetch_arrow_table()
        for table in tables:
            data = duck.execute(f"SELECT * FROM {table}").to_arrow_table()
            rows = max(1_000, int(8 * 2**20 / max(1, data.nbytes / max(1, data.num_rows))))
            cursor.adbc_ingest(table, data.from_batches(data.to_batches(max_chunksize=rows)), mode="replace", db_schema_name=namespace)
    return time.perf_counter() - started


class FlightSqlEngine:
    def __init__(self, name: str, uri: str, schema: str | None, timeout: float):
        self.name, self.uri = name, uri
        self.conn = flight_sql_connection(uri, timeout, schema)

    def run(self, sql: str) -> pa.Table:
        with self.conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetch_arrow_table()

    def close(self):
        self.conn.close()


def tpch_data_dir(sf: float, explicit: str | None) -> Path:
    """Where `bench/tpch.py --timed` keeps the loaded TPC-H tables of a scale factor."""
    return Path(explicit or Path.home() / ".cache" / "floe-bench" / f"tpch-sf{sf}")


def loaded_tpch(sf: float, explicit: str | None) -> Path:
    data_dir = tpch_data_dir(sf, explicit)
    if not (data_dir / "loaded").exists():
        sys.exit(f"no TPC-H data in {data_dir}: run bench/tpch.py --sf {sf} --timed first")
    return data_dir


def iceberg_tables(data_dir: Path, namespace: str, names: list[str]) -> dict:
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("floe", uri=f"sqlite:///{data_dir / 'catalog.db'}",
                         warehouse=f"file://{data_dir / 'warehouse'}")
    return {name: catalog.load_table(f"{namespace}.{name}") for name in names}


class PolarsEngine:
    name = "polars"

    def __init__(self, tables: dict):
        import polars as pl

        self.pl = pl
        self.context = pl.SQLContext({name: pl.scan_iceberg(table) for name, table in tables.items()})

    def run(self, sql: str) -> pa.Table:
        return self.context.execute(sql, eager=False).collect().to_arrow()

    def close(self):
        pass


class DuckDbEngine:
    name = "duckdb"

    def __init__(self, tables: dict):
        import duckdb
        import duckdb_extension_avro
        import duckdb_extension_iceberg

        self.con = duckdb.connect()
        load_duckdb_extension(self.con, duckdb_extension_avro)
        load_duckdb_extension(self.con, duckdb_extension_iceberg)
        for name, table in tables.items():
            self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM iceberg_scan('{table.metadata_location}')")

    def run(self, sql: str) -> pa.Table:
        return self.con.execute(sql).to_arrow_table()

    def close(self):
        self.con.close()


def roapi_binary() -> str:
    found = Path(sys.executable).parent / "roapi"
    return str(found) if found.exists() else "roapi"


class Roapi(Service):
    """A ROAPI server over the tables' Parquet files (read per query, not loaded into memory)."""

    def __init__(self, tables: dict, log: Path):
        self.port = free_port()
        args = [roapi_binary(), "--addr-flight-sql", f"127.0.0.1:{self.port}",
                "--addr-http", f"127.0.0.1:{free_port()}", "--addr-postgres", f"127.0.0.1:{free_port()}"]
        for name, table in tables.items():
            data = table.location().removeprefix("file://") + "/data"
            args += ["-t", f"{name}={data},format=parquet,use_memory_table=false"]
        self.launch(args, log, self.port, seconds=120)
        self.uri = f"grpc://127.0.0.1:{self.port}"


def _status_mib(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib(pid: int) -> float:
    return _status_mib(pid, "VmHWM:")


def rss_mib(pid: int) -> float:
    return _status_mib(pid, "VmRSS:")


def anon_rss_mib(pid: int) -> float:
    """Heap and other private memory, without file-backed pages (the binary's
    text, memory-mapped Parquet files) that the kernel can drop and re-read."""
    return _status_mib(pid, "RssAnon:")


def cpu_seconds(pid: int) -> float:
    """User and system CPU `pid` has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, seconds: float = 10):
    """Waits (at most `seconds`) until `pid` stops using CPU: Floe decodes the
    columns a query missed into its data cache after the query answers, which
    would otherwise run during the next engine's timed query."""
    deadline = time.monotonic() + seconds
    used = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now - used < 0.005:
            return
        used = now


def context_switches(pid: int) -> int:
    """Times the threads of `pid` alive now have been switched out, voluntarily
    or not: hand-offs between threads show here, however fast the machine runs.
    A thread that has exited takes its count with it (tokio's idle blocking
    threads leave after 10 s), so compare over short, busy stretches."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            for line in (task / "status").read_text().splitlines():
                if "ctxt_switches:" in line:  # voluntary_… and nonvoluntary_…
                    total += int(line.split()[1])
    return total


class PeakSampler:
    """The highest anonymous RSS of `pid`, sampled every 10 ms while in use
    (the kernel keeps a peak only for the total, VmHWM)."""

    def __init__(self, pid: int):
        import threading

        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self.stop.wait(0.01):
            self.peak = max(self.peak, anon_rss_mib(self.pid))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


os.environ.setdefault("POLARS_SKIP_CPU_CHECK", "1")
