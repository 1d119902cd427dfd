"""Short statements one at a time, each Flight call timed apart: GetFlightInfo
and DoGet from a pyarrow client (medians after warm-up), and the server's CPU
time and thread switches per statement (both calls) from /proc. Needs the tables
`bench/tpch.py --timed` loads; Linux (reads /proc/<pid>/stat and
/proc/<pid>/task/*/status).

    python bench/latency.py --sf 1
"""

import statistics
import tempfile
import time
from pathlib import Path

import common  # puts tests/python, the harness, on sys.path
import pyarrow.flight as flight
from engines import context_switches, cpu_seconds, loaded_tpch
from flight_sql_wire import statement_query
from harness import FloeServer

STATEMENTS = [
    "SELECT 1",
    "SELECT o_orderstatus, o_totalprice FROM tpch.orders WHERE o_orderkey = 4242",
    "SELECT * FROM tpch.nation",
    "SELECT n_name, r_name FROM tpch.nation JOIN tpch.region ON n_regionkey = r_regionkey",
]


def measure(client, pid: int, sql: str, repeat: int) -> tuple[float, float, float, float]:
    descriptor = flight.FlightDescriptor.for_command(statement_query(sql))
    info_ms, get_ms = [], []
    for i in range(repeat + 5):
        begun = time.perf_counter()
        info = client.get_flight_info(descriptor)
        planned = time.perf_counter()
        client.do_get(info.endpoints[0].ticket).read_all()
        done = time.perf_counter()
        if i >= 5:  # warm-up: first plans, first reads of the files
            info_ms.append((planned - begun) * 1000)
            get_ms.append((done - planned) * 1000)
    runs, before, switched = 10 * repeat, cpu_seconds(pid), context_switches(pid)
    for _ in range(runs):
        info = client.get_flight_info(descriptor)
        client.do_get(info.endpoints[0].ticket).read_all()
    cpu_ms, switches = (cpu_seconds(pid) - before) / runs * 1000, (context_switches(pid) - switched) / runs
    return statistics.median(info_ms), statistics.median(get_ms), cpu_ms, switches


def main() -> None:
    args = common.tpch_arguments(repeat=21).parse_args()
    data_dir = loaded_tpch(args.sf, args.data_dir)
    floe = FloeServer(data_dir, "--no-demo", "--no-scripts", run_dir=Path(tempfile.mkdtemp()))
    try:
        client = flight.connect(floe.uri)
        print(f"{'statement':<62} {'GetFlightInfo ms':>16} {'DoGet ms':>9} {'server CPU ms':>14} {'thread switches':>16}")
        for sql in STATEMENTS:
            info, get, cpu, switches = measure(client, floe.process.pid, sql, args.repeat)
            print(f"{sql[:62]:<62} {info:>16.2f} {get:>9.2f} {cpu:>14.2f} {switches:>16.1f}")
    finally:
        floe.stop()


if __name__ == "__main__":
    main()
