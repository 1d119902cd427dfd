"""Write throughput: Floe bulk ingest (ADBC, over Flight) vs pyiceberg's
`table.append` of the same data, measured in one run on one machine.

    python bench/write.py --rows 2000000 --repeat 5

Prints median seconds, rows/s and the ratio; the two engines' runs are
interleaved. Timing is never asserted;
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
    floe_times, pyiceberg_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "py").mkdir()
        catalog = SqlCatalog("bench", uri=f"sqlite:///{work}/py/catalog.db", warehouse=f"file://{work}/py/warehouse")
        catalog.create_namespace("bench")
        target = catalog.create_table("bench.target", schema=table.schema)
        floe = FloeServer(work / "floe", "--no-demo")
        try:
            with flightsql.connect(floe.uri, autocommit=True) as conn, conn.cursor() as cursor:
                cursor.adbc_ingest("target", table.slice(0, 1), mode="create", db_schema_name="bench")
                # Interleaved, each engine first in every other round, so drift
                # on a noisy machine falls on both alike.
                for round in range(args.repeat):
                    floe_run = lambda: floe_times.append(
                        timed(lambda: cursor.adbc_ingest("target", table, mode="append", db_schema_name="bench")))
                    pyiceberg_run = lambda: pyiceberg_times.append(timed(lambda: target.append(table)))
                    for run in ((floe_run, pyiceberg_run) if round % 2 == 0 else (pyiceberg_run, floe_run)):
                        run()
                cursor.execute("SELECT count(*) AS n, sum(id) AS ids FROM bench.target")
                answer = cursor.fetch_arrow_table().to_pylist()[0]
                assert answer["n"] == 1 + args.rows * args.repeat, answer
                assert answer["ids"] == args.repeat * args.rows * (args.rows - 1) // 2, answer
        finally:
            floe.stop()
        assert target.scan().to_arrow().num_rows == args.rows * args.repeat

    floe, pyiceberg = statistics.median(floe_times), statistics.median(pyiceberg_times)
    print(f"write throughput: {args.rows:,} rows x {args.repeat} runs, medians")
    print(f"{'engine':<32}{'seconds':>10}{'rows/s':>14}")
    print(f"{'floe (adbc_ingest over Flight)':<32}{floe:>10.3f}{args.rows / floe:>14,.0f}")
    print(f"{'pyiceberg table.append':<32}{pyiceberg:>10.3f}{args.rows / pyiceberg:>14,.0f}")
    print(f"ratio floe/pyiceberg time: {floe / pyiceberg:.2f} (below 1 means Floe is faster)")


if __name__ == "__main__":
    main()
