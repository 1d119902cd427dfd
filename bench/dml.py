"""Row-level changes on TPC-H lineitem: Floe's DELETE, UPDATE and MERGE
(over Flight SQL via ADBC) against pyiceberg doing the same change on its
own copy of the same table (`delete`, `overwrite` with a filter, `upsert`),
in one run on one machine. Each round starts from a freshly loaded table;
the changed tables are compared (row counts and a checksum) so a fast wrong
answer cannot pass.

    python bench/dml.py --sf 1 --repeat 3      # the benchmark
    python bench/dml.py --sf 0.01 --repeat 1   # CI smoke

Prints median seconds per operation and the Floe/pyiceberg ratio (below 1:
Floe is faster). Timing is never asserted.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import duckdb_extension_tpch
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo, LessThan

from common import load_duckdb_extension
from harness import FloeServer

CUTOFF = "1993-01-01"


def lineitem(sf: float) -> pa.Table:
    duck = duckdb.connect()
    load_duckdb_extension(duck, duckdb_extension_tpch)
    duck.execute(f"CALL dbgen(sf={sf})")
    table = duck.execute("SELECT * FROM lineitem").to_arrow_table()
    # Decimals as doubles: pyiceberg's upsert and Floe's casts then agree exactly.
    columns = [pc.cast(c, pa.float64()) if pa.types.is_decimal(c.type) else c for c in table.columns]
    table = pa.table(columns, names=table.column_names)
    return pa.Table.from_batches(table.to_batches(max_chunksize=100_000))


def checksum(table: pa.Table) -> tuple:
    return (table.num_rows, round(pc.sum(table.column("l_quantity")).as_py() or 0, 4),
            round(pc.sum(table.column("l_discount")).as_py() or 0, 4))


class FloeSide:
    def __init__(self, work: Path):
        self.server = FloeServer(work / "floe", "--no-demo", "--no-scripts")
        self.conn = flightsql.connect(self.server.uri, autocommit=True)

    def sql(self, statement: str) -> pa.Table:
        with self.conn.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetch_arrow_table()

    def reset(self, data: pa.Table):
        with self.conn.cursor() as cursor:
            cursor.adbc_ingest("lineitem", data, mode="replace", db_schema_name="dml")

    def delete(self):
        self.sql(f"DELETE FROM dml.lineitem WHERE l_shipdate < CAST('{CUTOFF}' AS DATE)")

    def update(self):
        self.sql("UPDATE dml.lineitem SET l_discount = l_discount + 0.01 WHERE l_returnflag = 'R'")

    def merge(self):
        self.sql("MERGE INTO dml.lineitem AS t USING (SELECT l_orderkey, l_linenumber, l_quantity + 1 AS q "
                 "FROM dml.lineitem WHERE l_orderkey % 100 = 0) AS s "
                 "ON t.l_orderkey = s.l_orderkey AND t.l_linenumber = s.l_linenumber "
                 "WHEN MATCHED THEN UPDATE SET l_quantity = s.q")

    def table(self) -> pa.Table:
        return self.sql("SELECT * FROM dml.lineitem")

    def close(self):
        self.conn.close()
        self.server.stop()


class PyicebergSide:
    def __init__(self, work: Path):
        (work / "py").mkdir()
        self.catalog = SqlCatalog("bench", uri=f"sqlite:///{work}/py/catalog.db", warehouse=f"file://{work}/py/warehouse")
        self.catalog.create_namespace("dml")

    def reset(self, data: pa.Table):
        if self.catalog.table_exists("dml.lineitem"):
            self.catalog.drop_table("dml.lineitem")
        self.iceberg = self.catalog.create_table("dml.lineitem", schema=data.schema)
        self.iceberg.append(data)

    def delete(self):
        self.iceberg.delete(delete_filter=LessThan("l_shipdate", CUTOFF))

    def update(self):
        changed = self.iceberg.scan(row_filter=EqualTo("l_returnflag", "R")).to_arrow()
        index = changed.schema.get_field_index("l_discount")
        changed = changed.set_column(index, "l_discount", pc.add(changed.column("l_discount"), 0.01))
        self.iceberg.overwrite(changed, overwrite_filter=EqualTo("l_returnflag", "R"))

    def merge(self):
        picked = self.iceberg.scan().to_arrow()
        keys = picked.column("l_orderkey")  # l_orderkey % 100 = 0 (integer division truncates)
        picked = picked.filter(pc.equal(pc.subtract(keys, pc.multiply(pc.divide(keys, 100), 100)), 0))
        index = picked.schema.get_field_index("l_quantity")
        picked = picked.set_column(index, "l_quantity", pc.add(picked.column("l_quantity"), 1))
        self.iceberg.upsert(picked, join_cols=["l_orderkey", "l_linenumber"], when_not_matched_insert_all=False)

    def table(self) -> pa.Table:
        return self.iceberg.scan().to_arrow()

    def close(self):
        pass


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run_isolated(action) -> float | None:
    """Runs a pyiceberg change in a forked child: pyiceberg's upsert has
    crashed the interpreter (SIGSEGV) on SF 1, which must not end the run."""
    import multiprocessing

    started = time.perf_counter()
    child = multiprocessing.get_context("fork").Process(target=action)
    child.start()
    child.join()
    return time.perf_counter() - started if child.exitcode == 0 else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = lineitem(args.sf)
    print(f"lineitem SF {args.sf}: {data.num_rows} rows", flush=True)
    operations = ["delete", "update", "merge"]
    times = {side: {op: [] for op in operations} for side in ("floe", "pyiceberg")}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sides = {"floe": FloeSide(work), "pyiceberg": PyicebergSide(work)}
        try:
            for _ in range(args.repeat):
                for operation in operations:
                    results = {}
                    for name, side in sides.items():
                        side.reset(data)
                        seconds = run_isolated(getattr(side, operation)) if name == "pyiceberg" else timed(getattr(side, operation))
                        if seconds is None:
                            print(f"{operation}: pyiceberg crashed (killed by a signal); no comparison", flush=True)
                            break
                        times[name][operation].append(seconds)
                        if name == "pyiceberg":
                            side.iceberg = side.catalog.load_table("dml.lineitem")
                        results[name] = checksum(side.table())
                    if len(results) == 2 and results["floe"] != results["pyiceberg"]:
                        raise SystemExit(f"{operation}: Floe {results['floe']} != pyiceberg {results['pyiceberg']}")
        finally:
            for side in sides.values():
                side.close()
    print(f"{'operation':<10} {'floe s':>8} {'pyiceberg s':>12} {'ratio':>7}")
    for operation in operations:
        floe = statistics.median(times["floe"][operation])
        if not times["pyiceberg"][operation]:
            print(f"{operation:<10} {floe:>8.3f} {'crashed':>12} {'-':>7}")
            continue
        peer = statistics.median(times["pyiceberg"][operation])
        print(f"{operation:<10} {floe:>8.3f} {peer:>12.3f} {floe / peer:>7.2f}")
    print("(median seconds; ratio floe/pyiceberg, below 1 means Floe is faster; same rows checked after each)")


if __name__ == "__main__":
    main()
