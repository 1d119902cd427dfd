"""Distributed vs single-node Floe on TPC-H, measured in the same run.

Starts a coordinator and N `floe worker` processes on loopback sharing one
catalog, loads TPC-H through Floe's ingest with lineitem and orders split
into several files, then times each query with the session option
`distributed` off and on (median of --repeat runs) and prints the ratio and
where the distributed time went (partitions: gather; coordinator: final
step), read from the coordinator's log. On a 2-core machine expect overhead,
not speedup: workers share the same cores.

    python bench/cluster.py --sf 0.1 --workers 3 --repeat 3
"""

import argparse
import math
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402,F401  (puts tests/python, the harness, on sys.path)
from harness import Cluster  # noqa: E402
from tpch import TABLES, generate, tables_match  # noqa: E402

SPREADABLE = [1, 3, 5, 6, 10, 12, 14, 19]
TIMEOUT = 600  # seconds per ADBC call


def timed(conn, sql: str):
    started = time.perf_counter()
    with conn.cursor() as cursor:
        cursor.execute(sql)
        table = cursor.fetch_arrow_table()
    return (time.perf_counter() - started) * 1000, table


def load(cluster: Cluster, sf: float, pieces: int):
    duck = generate(sf)
    with cluster.connect(False, timeout=TIMEOUT) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE SCHEMA IF NOT EXISTS tpch")
        cursor.fetch_arrow_table()
        for table in TABLES:
            data = duck.execute(f"SELECT * FROM {table}").to_arrow_table()
            count = pieces if table in ("lineitem", "orders") else 1
            step = -(-data.num_rows // count)
            # ADBC sends each batch as one gRPC message (16 MiB by default): ~8 MiB batches.
            rows = max(1_000, int(8 * 2**20 / max(1, data.nbytes / max(1, data.num_rows))))
            for piece in range(count):
                mode = "replace" if piece == 0 else "append"
                part = data.slice(piece * step, step)
                part = part.from_batches(part.to_batches(max_chunksize=rows))
                cursor.adbc_ingest(table, part, mode=mode, db_schema_name="tpch")
    return dict(duck.execute("SELECT query_nr, query FROM tpch_queries()").fetchall())


def stage_stats(log: Path, since: int) -> str:
    """The last distributed query's gather/final split and its partitions' spread."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace")[since:])
    done = re.findall(r"gather_ms=(\d+) final_ms=(\d+)", text)
    partitions = [int(ms) for ms in re.findall(r"partition done.*?millis=(\d+)", text)]
    if not done:
        return "ran on one node"
    gather, final = done[-1]
    spread = f"partitions {min(partitions)}–{max(partitions)} ms" if partitions else ""
    return f"gather {gather} ms, final {final} ms; {spread}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pieces", type=int, default=6, help="data files for lineitem and orders")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        # Started once every worker has heart-beaten: all of them count from the first query.
        cluster = Cluster(Path(tmp), workers=args.workers)
        log = cluster.coordinator.log_path
        try:
            started = time.perf_counter()
            queries = load(cluster, args.sf, args.pieces)
            print(f"TPC-H SF {args.sf} loaded in {time.perf_counter() - started:.1f}s; "
                  f"{args.workers} workers, {args.repeat} runs each, medians", flush=True)
            print(f"{'query':>5} {'local ms':>9} {'spread ms':>9} {'ratio':>6}  where the distributed time went")
            ratios = []
            with cluster.connect(False, "tpch", TIMEOUT) as local, cluster.connect(True, "tpch", TIMEOUT) as spread:
                for number in SPREADABLE:
                    sql = queries[number]
                    local_runs, spread_runs = [], []
                    for _ in range(args.repeat):
                        ms, expected = timed(local, sql)
                        local_runs.append(ms)
                        mark = len(log.read_text(errors="replace"))
                        ms, got = timed(spread, sql)
                        spread_runs.append(ms)
                        problem = tables_match(got, expected)
                        if problem:
                            sys.exit(f"Q{number}: distributed answer differs: {problem}")
                    ratio = statistics.median(spread_runs) / statistics.median(local_runs)
                    ratios.append(ratio)
                    print(f"{'Q' + str(number):>5} {statistics.median(local_runs):9.1f} {statistics.median(spread_runs):9.1f} "
                          f"{ratio:6.2f}  {stage_stats(log, mark)}", flush=True)
            geomean = math.exp(sum(map(math.log, ratios)) / len(ratios))
            print(f"geomean distributed/local: {geomean:.2f} (lower is better; 1.0 = no overhead)")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
