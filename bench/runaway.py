"""Runaway queries under a memory budget: TPC-DS queries that used to take
the whole server down (Q95 asked Polars for a 3.8 TB allocation and aborted
the process; Q13 and Q66 grew it past 9-19 GB) run on a server started with
`--query-memory-mb`, while a small query is streamed beside each. Prints, per
query, what it answered and how long it took, and whether the server and the
query beside it came through. Measures; asserts nothing about time.

    python bench/runaway.py --sf 1 --budget-mb 4096 --queries 95,13,66
"""

import argparse
import sys
import time
from pathlib import Path

import duckdb
import duckdb_extension_tpcds
import pyarrow.flight as flight

import common
from engines import ingest_tables
from flight_sql_wire import session_options_request, statement_query
from harness import Cookies, FloeServer

TABLES = ["call_center", "catalog_page", "catalog_returns", "catalog_sales", "customer", "customer_address",
          "customer_demographics", "date_dim", "household_demographics", "income_band", "inventory", "item",
          "promotion", "reason", "ship_mode", "store", "store_returns", "store_sales", "time_dim", "warehouse",
          "web_page", "web_returns", "web_sales", "web_site"]
BESIDE = "SELECT count(*) AS n FROM tpcds.item"


def load(data_dir: Path, sf: float) -> duckdb.DuckDBPyConnection:
    duck = duckdb.connect()
    common.load_duckdb_extension(duck, duckdb_extension_tpcds)
    if (data_dir / "loaded").exists():
        return duck
    duck.execute(f"CALL dsdgen(sf={sf})")
    floe = FloeServer(data_dir, "--no-demo", "--no-scripts", run_dir=data_dir / "load")
    try:
        ingest_tables(duck, floe.uri, "tpcds", TABLES)
    finally:
        floe.stop()
    (data_dir / "loaded").write_text(str(sf))
    return duck


def run(client: flight.FlightClient, sql: str):
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)))
    return client.do_get(info.endpoints[0].ticket)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sf", type=float, default=1)
    parser.add_argument("--budget-mb", type=int, default=4096)
    parser.add_argument("--queries", default="95,13,66")
    parser.add_argument("--data-dir", default=str(Path.home() / ".cache/floe-bench/tpcds"))
    args = parser.parse_args()
    data_dir = Path(args.data_dir) / f"sf{args.sf}"
    data_dir.mkdir(parents=True, exist_ok=True)
    duck = load(data_dir, args.sf)
    floe = FloeServer(data_dir, "--no-demo", "--no-scripts", "--query-memory-mb", str(args.budget_mb),
                      run_dir=data_dir / "capped")
    survived = True
    try:
        with flight.connect(floe.uri, middleware=[Cookies()]) as client:
            list(client.do_action(flight.Action("SetSessionOptions", session_options_request({"schema": "tpcds"}))))
            expected_beside = run(client, BESIDE).read_all().column("n").to_pylist()
            for number in [int(n) for n in args.queries.split(",")]:
                sql = duck.execute(f"SELECT query FROM tpcds_queries() WHERE query_nr = {number}").fetchone()[0]
                sql = sql.replace("\n", " ").strip().rstrip(";")
                beside = run(client, BESIDE)
                started = time.perf_counter()
                try:
                    rows = run(client, sql).read_all().num_rows
                    outcome = f"{rows} rows"
                except Exception as err:  # what the server answered is the measurement
                    outcome = str(err).splitlines()[0][:150]
                elapsed = time.perf_counter() - started
                beside_rows = beside.read_all().column("n").to_pylist()
                print(f"Q{number}: {elapsed:6.1f}s  {outcome}  | beside it: {beside_rows}  | server alive: {floe.alive()}",
                      flush=True)
                survived = survived and floe.alive() and beside_rows == expected_beside
    finally:
        floe.stop()
    # Whatever a runaway query answers, the server and the query beside it must come through.
    return 0 if survived else 1


if __name__ == "__main__":
    sys.exit(main())
