"""Write throughput: Floe bulk ingest (ADBC, over Flight) vs pyiceberg's
`table.append` of the same data, measured in one run on one machine.

    python bench/write.py --rows 2000000 --repeat 5

Prints median seconds, rows/s and the ratio. Timing is never asserted;
`--rows` small is a correctness smoke test (row counts are checked).
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog

import common  # noqa: F401  (puts tests/python, the harness, on sys.path)
from harness import FloeServer

def data(rows: int) -> pa.Table:
    ids = pa.array(range(rows), pa.int64())
    table = pa.table({
        "id": ids,
        "x": pc.multiply(pc.cast(ids, pa.float64()), 0.25),
        "s": pc.binary_join_element_wise("key-", pc.cast(pc.bit_wise_and(ids, 1023), pa.string()), ""),
    })
    return pa.Table.from_batches(table.to_batches(max_chunksize=100_000))


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    table = data(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        floe = FloeServer(work / "floe", "--no-demo")
        try:
            with flightsql.connect(floe.uri, autocommit=True) as conn, conn.cursor() as cursor:
                cursor.adbc_ingest("target", table.slice(0, 1), mode="create", db_schema_name="bench")
                floe_times = [timed(lambda: cursor.adbc_ingest("target", table, mode="append", db_schema_name="bench"))
                              for _ in range(args.repeat)]
                cursor.execute("SELECT count(*) AS n FROM bench.target")
                assert cursor.fetch_arrow_table().column("n").to_pylist() == [1 + args.rows * args.repeat]
        finally:
            floe.stop()

        (work / "py").mkdir()
        catalog = SqlCatalog("bench", uri=f"sqlite:///{work}/py/catalog.db", warehouse=f"file://{work}/py/warehouse")
        catalog.create_namespace("bench")
        target = catalog.create_table("bench.target", schema=table.schema)
        pyiceberg_times = [timed(lambda: target.append(table)) for _ in range(args.repeat)]
        assert target.scan().to_arrow().num_rows == args.rows * args.repeat

    floe, pyiceberg = statistics.median(floe_times), statistics.median(pyiceberg_times)
    print(f"write throughput: {args.rows:,} rows x {args.repeat} runs, medians")
    print(f"{'engine':<32}{'seconds':>10}{'rows/s':>14}")
    print(f"{'floe (adbc_ingest over Flight)':<32}{floe:>10.3f}{args.rows / floe:>14,.0f}")
    print(f"{'pyiceberg table.append':<32}{pyiceberg:>10.3f}{args.rows / pyiceberg:>14,.0f}")
    print(f"ratio floe/pyiceberg time: {floe / pyiceberg:.2f} (below 1 means Floe is faster)")


if __name__ == "__main__":
    main()
