"""Many clients at once: 32 threads, each with its own ADBC connection,
running short queries for a fixed time. Prints queries/s, p50/p99 latency and
errors for Floe and for ROAPI on the same data. Needs the tables
`bench/tpch.py --timed` loads.

    python bench/concurrency.py --sf 1 --clients 32 --seconds 20
"""

import tempfile
import threading
import time
from pathlib import Path

import common  # puts tests/python, the harness, on sys.path
from engines import Roapi, flight_sql_connection, iceberg_tables, loaded_tpch
from harness import FloeServer

# Short queries a dashboard sends: a small table, a filtered count, a point lookup.
QUERIES = [
    "SELECT n_name, r_name FROM {ns}nation JOIN {ns}region ON n_regionkey = r_regionkey",
    "SELECT count(*) FROM {ns}customer WHERE c_mktsegment = 'BUILDING'",
    "SELECT o_orderstatus, o_totalprice FROM {ns}orders WHERE o_orderkey = 4242",
]


def hammer(uri: str, namespace: str, clients: int, seconds: float) -> dict:
    latencies, errors, lock = [], [], threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(index: int):
        try:
            conn = flight_sql_connection(uri, 60)
        except Exception as err:  # counted, not raised
            with lock:
                errors.append(str(err))
            return
        n = index
        while time.monotonic() < stop_at:
            sql = QUERIES[n % len(QUERIES)].format(ns=namespace)
            n += 1
            begun = time.perf_counter()
            try:
                with conn.cursor() as cursor:
                    cursor.execute(sql)
                    cursor.fetch_arrow_table()
                with lock:
                    latencies.append(time.perf_counter() - begun)
            except Exception as err:  # counted, not raised
                with lock:
                    errors.append(str(err).splitlines()[0])
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    return {"qps": len(latencies) / elapsed, "p50": pick(0.5), "p99": pick(0.99), "errors": len(errors),
            "first_error": errors[0] if errors else ""}


def main() -> None:
    parser = common.tpch_arguments()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--result-cache-mb", type=int, default=0,
                        help="also measure a Floe server keeping answers (`--result-cache-mb`)")
    args = parser.parse_args()
    data_dir = loaded_tpch(args.sf, args.data_dir)
    work = Path(tempfile.mkdtemp())
    floe = FloeServer(data_dir, "--no-demo", "--no-scripts", run_dir=work)
    roapi = Roapi(iceberg_tables(data_dir, "tpch", ["nation", "region", "customer", "orders"]), work / "roapi.log")
    try:
        results = {"Floe": hammer(floe.uri, "tpch.", args.clients, args.seconds),
                   "ROAPI": hammer(roapi.uri, "", args.clients, args.seconds)}
    finally:
        roapi.stop()
        floe.stop()
    if args.result_cache_mb:
        cached = FloeServer(data_dir, "--no-demo", "--no-scripts", "--result-cache-mb", str(args.result_cache_mb),
                            run_dir=work / "cached")
        try:
            results["Floe+rc"] = hammer(cached.uri, "tpch.", args.clients, args.seconds)
        finally:
            cached.stop()
    print(f"{args.clients} clients for {args.seconds:.0f} s, queries: {len(QUERIES)} short ones in turn")
    print(f"{'server':<8} {'queries/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in results.items():
        print(f"{name:<8} {r['qps']:>10.1f} {r['p50'] * 1000:>8.1f} {r['p99'] * 1000:>8.1f} {r['errors']:>7}  {r['first_error'][:80]}")
    ratio = results["Floe"]["qps"] / results["ROAPI"]["qps"] if results["ROAPI"]["qps"] else float("nan")
    print(f"Floe/ROAPI throughput: {ratio:.2f}")
    if "Floe+rc" in results:
        print(f"Floe with its result cache / ROAPI throughput: {results['Floe+rc']['qps'] / results['ROAPI']['qps']:.2f}")


if __name__ == "__main__":
    main()
