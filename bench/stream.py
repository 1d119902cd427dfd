"""DoGet throughput: all of `tpch.lineitem` streamed to a pyarrow Flight client.

Against (1) a minimal pyarrow Flight server holding the same table in memory —
the protocol's practical ceiling on this machine — and (2) ROAPI over the same
Parquet files. Prints rows/s and GB/s of Arrow data (medians) and Floe's peak
RSS while streaming. Needs the tables `bench/tpch.py --timed` loads.

    python bench/stream.py --sf 1 --repeat 3
    python bench/stream.py --sf 1 --repeat 10 --baseline-bin OLD/floe   # and another build, interleaved
    python bench/stream.py --sf 1 --repeat 10 --codec lz4_raw   # and a copy written in another codec

Rounds are interleaved (each round drains every server once, in alternating
order); Floe's rows add the server's CPU per drain (median), which moves less
with the machine's noise than the drain's wall time.
"""

import contextlib
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pyarrow.flight as flight

import common  # puts tests/python, the harness, on sys.path
from engines import PeakSampler, Roapi, cpu_seconds, flight_sql_connection, iceberg_tables, loaded_tpch, peak_rss_mib, rss_mib
from flight_sql_wire import statement_query
from harness import FloeServer, free_port

REFERENCE_SERVER = textwrap.dedent("""
    import sys
    import pyarrow as pa
    import pyarrow.flight as flight
    from pyiceberg.catalog.sql import SqlCatalog

    data_dir, port = sys.argv[1], int(sys.argv[2])
    catalog = SqlCatalog("floe", uri=f"sqlite:///{data_dir}/catalog.db", warehouse=f"file://{data_dir}/warehouse")
    table = catalog.load_table("tpch.lineitem").scan().to_arrow().combine_chunks()
    # Strings as plain Utf8 and ~64K-row batches, as Floe sends them.
    table = pa.Table.from_batches(table.to_batches(max_chunksize=65536))

    class Server(flight.FlightServerBase):
        def do_get(self, context, ticket):
            return flight.RecordBatchStream(table)

    server = Server(f"grpc://127.0.0.1:{port}")
    print("ready", flush=True)
    server.serve()
""")


def drain_flight_sql(uri: str, sql: str) -> tuple[int, int]:
    client = flight.FlightClient(uri)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)))
    rows = nbytes = 0
    for endpoint in info.endpoints:
        for chunk in client.do_get(endpoint.ticket):
            rows += chunk.data.num_rows
            nbytes += chunk.data.nbytes
    client.close()
    return rows, nbytes


def drain_ticket(uri: str) -> tuple[int, int]:
    client = flight.FlightClient(uri)
    rows = nbytes = 0
    for chunk in client.do_get(flight.Ticket(b"lineitem")):
        rows += chunk.data.num_rows
        nbytes += chunk.data.nbytes
    client.close()
    return rows, nbytes


def copy_in_codec(uri: str, data_dir: Path, codec: str) -> str:
    """`tpch.lineitem_<codec>`: lineitem written again by Floe, into a table whose
    `write.parquet.compression-codec` is `codec` (made once, kept in the data dir)."""
    from pyiceberg.catalog.sql import SqlCatalog

    name = f"tpch.lineitem_{codec}"
    catalog = SqlCatalog("floe", uri=f"sqlite:///{data_dir}/catalog.db", warehouse=f"file://{data_dir}/warehouse")
    if catalog.table_exists(name) and catalog.load_table(name).current_snapshot() is not None:
        return name
    if catalog.table_exists(name):
        catalog.drop_table(name)
    source = catalog.load_table("tpch.lineitem")
    catalog.create_table(name, schema=source.schema(), properties={"write.parquet.compression-codec": codec})
    with flight_sql_connection(uri) as conn, conn.cursor() as cursor:
        cursor.execute(f"INSERT INTO {name} SELECT * FROM tpch.lineitem")
        cursor.fetchall()
    return name


def main() -> None:
    parser = common.tpch_arguments(repeat=3)
    parser.add_argument("--baseline-bin", help="another floe binary, drained beside this build")
    parser.add_argument("--codec", help="also drain a copy of lineitem Floe wrote in this Parquet codec (lz4_raw, snappy, …)")
    args = parser.parse_args()
    data_dir = loaded_tpch(args.sf, args.data_dir)
    work = Path(tempfile.mkdtemp())
    floe = FloeServer(data_dir, "--no-demo", "--no-scripts", run_dir=work)
    baseline = None
    if args.baseline_bin:
        (work / "baseline").mkdir()
        baseline = FloeServer(data_dir, "--no-demo", "--no-scripts", run_dir=work / "baseline", binary=args.baseline_bin)
    port = free_port()
    reference = subprocess.Popen([sys.executable, "-c", REFERENCE_SERVER, str(data_dir), str(port)],
                                 stdout=subprocess.PIPE, text=True)
    assert reference.stdout.readline().strip() == "ready"
    roapi = Roapi(iceberg_tables(data_dir, "tpch", ["lineitem"]), work / "roapi.log")
    sql = "SELECT * FROM tpch.lineitem"
    try:
        floe_idle_rss = rss_mib(floe.process.pid)
        runs = {"Floe (Flight SQL, DoGet)": (lambda: drain_flight_sql(floe.uri, sql), floe.process.pid)}
        if args.codec:
            copy = copy_in_codec(floe.uri, data_dir, args.codec)
            runs[f"Floe, lineitem in {args.codec}"] = (lambda: drain_flight_sql(floe.uri, f"SELECT * FROM {copy}"), floe.process.pid)
        if baseline:
            runs["Floe, --baseline-bin"] = (lambda: drain_flight_sql(baseline.uri, sql), baseline.process.pid)
        runs["pyarrow Flight server, in memory"] = (lambda: drain_ticket(f"grpc://127.0.0.1:{port}"), None)
        runs["ROAPI (Flight SQL, DoGet)"] = (lambda: drain_flight_sql(roapi.uri, "SELECT * FROM lineitem"), None)
        samples = {label: [] for label in runs}
        with PeakSampler(floe.process.pid) as floe_heap:
            for run, _ in runs.values():
                run()  # warm-up
            for round_ in range(args.repeat):
                for label in list(runs)[:: 1 if round_ % 2 == 0 else -1]:
                    run, pid = runs[label]
                    cpu = cpu_seconds(pid) if pid else 0.0
                    begun = time.perf_counter()
                    rows, nbytes = run()
                    elapsed = time.perf_counter() - begun
                    samples[label].append((elapsed, (cpu_seconds(pid) - cpu) if pid else None, rows, nbytes))
        floe_peak = peak_rss_mib(floe.process.pid)
    finally:
        roapi.stop()
        reference.terminate()
        floe.stop()
        if baseline:
            baseline.stop()
    median = {label: statistics.median(s[0] for s in runs_) for label, runs_ in samples.items()}
    ceiling = median["pyarrow Flight server, in memory"]
    print(f"{'server':<36} {'rows':>10} {'median s':>9} {'M rows/s':>9} {'GB/s':>6} {'vs pyarrow':>11} {'server CPU s':>13}")
    for label, runs_ in samples.items():
        seconds, (_, _, rows, nbytes) = median[label], runs_[0]
        cpu = statistics.median(s[1] for s in runs_) if runs_[0][1] is not None else None
        print(f"{label:<36} {rows:>10} {seconds:>9.2f} {rows / seconds / 1e6:>9.2f} {nbytes / seconds / 1e9:>6.2f} "
              f"{ceiling / seconds:>10.0%} {'' if cpu is None else f'{cpu:.2f}':>13}")
    print(f"Floe RSS: {floe_idle_rss:.0f} MiB idle, {floe_peak:.0f} MiB peak over the run, "
          f"of which anonymous (heap) at most {floe_heap.peak:.0f} MiB")


if __name__ == "__main__":
    main()
