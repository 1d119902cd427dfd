"""TPC-DS on Floe, each of the 99 answers checked against DuckDB's on the
same data; with --timed, Floe's time against DuckDB's and Python Polars'.

    python bench/tpcds.py --sf 0.01            # correctness report: N/99 and each failure's cause
    python bench/tpcds.py --sf 0.01 --strict   # CI: exit 1 when any query's status differs from KNOWN_FAILING
    python bench/tpcds.py --sf 1 --timed       # by hand, for BENCHMARKS.md

Data: DuckDB's tpcds extension generates the tables, loaded into Floe's
catalog (namespace `tpcds`) through Floe's own bulk ingest (ADBC). Queries:
the extension's 99 texts, run by Floe over Flight SQL via ADBC as a user
would. Answers compare order-insensitively unless the query orders, with a
numeric tolerance; a query whose ORDER BY leaves ties at its LIMIT may pick
other rows, so it also passes when Floe's rows are among DuckDB's without the limit.
"""

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import duckdb_extension_tpcds

from common import load_duckdb_extension
from engines import flight_sql_connection, ingest_tables, settle
from harness import FloeServer, set_session
from tpch import values_match

TABLES = ["call_center", "catalog_page", "catalog_returns", "catalog_sales", "customer", "customer_address",
          "customer_demographics", "date_dim", "household_demographics", "income_band", "inventory", "item",
          "promotion", "reason", "ship_mode", "store", "store_returns", "store_sales", "time_dim", "warehouse",
          "web_page", "web_returns", "web_sales", "web_site"]

# Queries not yet correct in Floe, each with its cause (kept current by --strict).
KNOWN_FAILING: dict[int, str] = {}


def generate(sf: float):
    duck = duckdb.connect()
    load_duckdb_extension(duck, duckdb_extension_tpcds)
    duck.execute(f"CALL dsdgen(sf={sf})")
    return duck


def load(duck, uri: str, timeout: float) -> float:
    """Loads DuckDB's generated tables into Floe (namespace `tpcds`) through Floe's own bulk ingest."""
    return ingest_tables(duck, uri, "tpcds", TABLES, timeout)


def rows_of(table) -> list[tuple]:
    return list(zip(*[column.to_pylist() for column in table.columns]))


def same_rows(got: list[tuple], expected: list[tuple]) -> bool:
    return len(got) == len(expected) and all(all(values_match(x, y) for x, y in zip(a, b)) for a, b in zip(got, expected))


def sort_key(row: tuple):
    # Floats rounded so that values equal within the tolerance sort alike.
    return repr(tuple(round(float(v), 4) if isinstance(v, float) or type(v).__name__ == "Decimal" else v for v in row))


def compare(sql: str, got, expected, unlimited) -> str | None:
    """None when Floe's answer is DuckDB's; else what differs."""
    if got.num_columns != expected.num_columns:
        return f"{got.num_columns} columns, DuckDB has {expected.num_columns}"
    floe, duck = rows_of(got), rows_of(expected)
    ordered = re.search(r"\border\s+by\b", sql, re.IGNORECASE) is not None
    if ordered and same_rows(floe, duck):
        return None
    if same_rows(sorted(floe, key=sort_key), sorted(duck, key=sort_key)):
        return None if not ordered else "same rows, another order"
    if len(floe) != len(duck):
        return f"{len(floe)} rows, DuckDB has {len(duck)}"
    if unlimited is not None:
        # Ties at the LIMIT: every row Floe returned is one DuckDB could have.
        pool = sorted(rows_of(unlimited()), key=sort_key)
        if all(any(same_rows([row], [candidate]) for candidate in pool) for row in floe):
            return None
    return "values differ"


def cause(err: Exception) -> str:
    text = " ".join(str(err).split())
    for marker in ("details = ", "Polars: ", "SQL: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text[:140]


def correctness(args, duck, queries) -> dict[int, str]:
    failing: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = lambda: FloeServer(work / "floe", "--no-demo", "--no-scripts", "--query-memory-mb", str(args.query_memory_mb), run_dir=work)
        floe = start()
        try:
            print(f"loaded TPC-DS SF {args.sf} into Floe in {load(duck, floe.uri, args.timeout):.1f}s", flush=True)
            print(f"{'query':>5}  {'result':<7} {'floe s':>8} {'duckdb s':>9}  detail", flush=True)
            for number, sql in sorted(queries.items()):
                if args.queries and number not in args.queries:
                    continue
                begun = time.perf_counter()
                expected = duck.execute(sql).to_arrow_table()
                duck_seconds = time.perf_counter() - begun
                limited = re.search(r"\blimit\s+\d+\s*;?\s*$", sql, re.IGNORECASE)
                unlimited = (lambda: duck.execute(sql[:limited.start()]).to_arrow_table()) if limited else None
                begun = time.perf_counter()
                try:
                    with flight_sql_connection(floe.uri, args.timeout) as conn:
                        set_session(conn, schema="tpcds")
                        with conn.cursor() as cursor:
                            cursor.execute(sql)
                            got = cursor.fetch_arrow_table()
                    try:
                        problem = compare(sql, got, expected, unlimited)
                    except (TypeError, ValueError) as err:  # values of another type (a list for a number)
                        problem = f"values differ ({' '.join(str(err).split())[:80]}; Floe's types: {got.schema.types})"
                except Exception as err:  # reported per query
                    problem = cause(err)
                    if not floe.alive() or "DEADLINE" in problem.upper():
                        floe.kill()
                        floe = start()
                seconds = time.perf_counter() - begun
                if problem is not None:
                    failing[number] = problem
                status = "ok" if problem is None else "FAIL"
                print(f"{number:>5}  {status:<7} {seconds:>8.3f} {duck_seconds:>9.3f}  {problem or ''}", flush=True)
            ran = len(args.queries) if args.queries else len(queries)
            print(f"{ran - len(failing)} of {ran} TPC-DS queries correct in Floe (reference: DuckDB on the same data)")
        finally:
            floe.kill()
    return failing


def timed(args, duck, queries) -> dict[int, str]:
    """Floe (over ADBC, loaded data reused) against DuckDB in process and
    Python Polars (pl.SQLContext over the same tables as Arrow) where it runs."""
    import polars as pl

    context = None
    if "polars" in args.engines:
        frames = {table: pl.from_arrow(duck.execute(f"SELECT * FROM {table}").to_arrow_table()).lazy() for table in TABLES}
        context = pl.SQLContext(frames)
    data = Path(args.data_dir or Path.home() / ".cache/floe-bench/tpcds-timed") / f"sf{args.sf}"
    fresh = not (data / "loaded").exists()
    floe = FloeServer(data, "--no-demo", "--no-scripts", run_dir=data / "run")
    failing: dict[int, str] = {}
    try:
        if fresh:
            load(duck, floe.uri, args.timeout)
            (data / "loaded").write_text(str(args.sf))
        print(f"{'query':>5} {'floe s':>8} {'duckdb s':>9} {'polars s':>9} {'floe/duckdb':>12} {'floe/polars':>12}", flush=True)
        ratios_duck, ratios_polars = [], []
        # A connection per query, opened before its clock starts (as TPC-H's
        # timed runs hold one, and a BI tool does): a failed or timed-out
        # query leaves an ADBC connection unusable. Opening one costs the
        # client ~5 ms (the Go driver's set-up, then HTTP/2's on the first call).
        for number, sql in sorted(queries.items()):
            if args.queries and number not in args.queries:
                continue
            times = {"floe": [], "duckdb": [], "polars": [] if context else None}
            held = Held(floe.uri, args.timeout)
            runs = [("floe", lambda: held.run(sql)), ("duckdb", lambda: duck.execute(sql).to_arrow_table())]
            if context:
                runs.append(("polars", lambda: context.execute(sql).collect()))
            for round_ in range(args.repeat + 1):
                if round_ == 1 and floe.alive():
                    settle(floe.process.pid)  # the data cache fills after a query's first run
                for engine, run in runs:
                    if times[engine] is None:
                        continue
                    begun = time.perf_counter()
                    try:
                        run()
                        times[engine].append(time.perf_counter() - begun)
                    except Exception as err:  # an engine that cannot run the query has no time
                        times[engine] = None
                        if engine == "floe":
                            failing[number] = cause(err)
                            if not floe.alive() or "DEADLINE" in failing[number].upper():
                                floe.kill()  # Polars cannot stop a running join: restart rather than queue behind it
                                floe = FloeServer(data, "--no-demo", "--no-scripts", run_dir=data / "run")
            held.close()
            med = {engine: statistics.median(t[1:]) if t and len(t) > 1 else None for engine, t in times.items()}
            ratio = lambda other: med["floe"] / med[other] if med["floe"] and med[other] else None
            if ratio("duckdb"):
                ratios_duck.append(ratio("duckdb"))
            if ratio("polars"):
                ratios_polars.append(ratio("polars"))
            show = lambda v, width: f"{v:>{width}.3f}" if v else f"{'—':>{width}}"
            print(f"{number:>5} {show(med['floe'], 8)} {show(med['duckdb'], 9)} {show(med['polars'], 9)} "
                  f"{show(ratio('duckdb'), 12)} {show(ratio('polars'), 12)}", flush=True)
        geomean = lambda xs: statistics.geometric_mean(xs) if xs else float("nan")
        print(f"geomean floe/duckdb {geomean(ratios_duck):.2f} over {len(ratios_duck)} queries; "
              f"floe/polars {geomean(ratios_polars):.2f} over {len(ratios_polars)} queries Polars runs")
    finally:
        floe.stop()
    return failing


class Held:
    """One query's connection, opened with its first run (which is not
    timed) and kept for the timed ones."""

    def __init__(self, uri: str, timeout: float):
        self.uri, self.timeout, self.conn = uri, timeout, None

    def run(self, sql: str):
        if self.conn is None:
            self.conn = flight_sql_connection(self.uri, self.timeout, schema="tpcds")
        with self.conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetch_arrow_table()

    def close(self):
        if self.conn is not None:
            self.conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sf", type=float, default=0.01)
    parser.add_argument("--timeout", type=float, default=60, help="seconds per query")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless exactly KNOWN_FAILING fail")
    parser.add_argument("--timed", action="store_true", help="time Floe, DuckDB and Python Polars (see module docs)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds after one warm-up")
    parser.add_argument("--engines", default="floe,duckdb,polars", type=lambda s: s.split(","),
                        help="timed mode: Python Polars runs in this process (a query it cannot bound ends the run)")
    parser.add_argument("--queries", type=lambda s: {int(n) for n in s.split(",")}, help="only these query numbers")
    parser.add_argument("--query-memory-mb", type=int, default=4096, help="Floe's per-query memory budget")
    parser.add_argument("--data-dir", help="Floe data dir holding the loaded tables (timed mode; reused)")
    args = parser.parse_args()

    duck = generate(args.sf)
    queries = {number: text.strip().rstrip(";") for number, text in duck.execute("SELECT query_nr, query FROM tpcds_queries()").fetchall()}
    failing = timed(args, duck, queries) if args.timed else correctness(args, duck, queries)
    if args.strict and set(failing) != set(KNOWN_FAILING):
        fixed, broken = sorted(set(KNOWN_FAILING) - set(failing)), sorted(set(failing) - set(KNOWN_FAILING))
        print(f"status changed: now correct {fixed}, now failing {broken}; update KNOWN_FAILING")
        sys.exit(1)


if __name__ == "__main__":
    main()
