"""DoGet throughput: all of `tpch.lineitem` streamed to a pyarrow Flight client.

Against (1) a minimal pyarrow Flight server holding the same table in memory —
the protocol's practical ceiling on this machine — and (2) ROAPI over the same
Parquet files. Prints rows/s and GB/s of Arrow data (medians) and Floe's peak
RSS while streaming. Needs the tables `bench/tpch.py --timed` loads.

    python bench/stream.py --sf 1 --repeat 3
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
from engines import PeakSampler, Roapi, iceberg_tables, loaded_tpch, peak_rss_mib, rss_mib
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


def main() -> None:
    args = common.tpch_arguments(repeat=3).parse_args()
    data_dir = loaded_tpch(args.sf, args.data_dir)
    work = Path(tempfile.mkdtemp())
    floe = FloeServer(data_dir, "--no-demo", "--no-scripts", run_dir=work)
    port = free_port()
    reference = subprocess.Popen([sys.executable, "-c", REFERENCE_SERVER, str(data_dir), str(port)],
                                 stdout=subprocess.PIPE, text=True)
    assert reference.stdout.readline().strip() == "ready"
    roapi = Roapi(iceberg_tables(data_dir, "tpch", ["lineitem"]), work / "roapi.log")
    results = {}
    try:
        floe_idle_rss = rss_mib(floe.process.pid)
        runs = {
            "Floe (Flight SQL, DoGet)": lambda: drain_flight_sql(floe.uri, "SELECT * FROM tpch.lineitem"),
            "pyarrow Flight server, in memory": lambda: drain_ticket(f"grpc://127.0.0.1:{port}"),
            "ROAPI (Flight SQL, DoGet)": lambda: drain_flight_sql(roapi.uri, "SELECT * FROM lineitem"),
        }
        floe_heap = PeakSampler(floe.process.pid)
        for label, run in runs.items():
            with floe_heap if label.startswith("Floe") else contextlib.nullcontext():
                run()  # warm-up
                samples = []
                for _ in range(args.repeat):
                    begun = time.perf_counter()
                    rows, nbytes = run()
                    samples.append((time.perf_counter() - begun, rows, nbytes))
            seconds = statistics.median(s[0] for s in samples)
            results[label] = (seconds, samples[0][1], samples[0][2])
        floe_peak = peak_rss_mib(floe.process.pid)
    finally:
        roapi.stop()
        reference.terminate()
        floe.stop()
    ceiling = results["pyarrow Flight server, in memory"][0]
    print(f"{'server':<36} {'rows':>10} {'median s':>9} {'M rows/s':>9} {'GB/s':>6} {'vs pyarrow':>11}")
    for label, (seconds, rows, nbytes) in results.items():
        print(f"{label:<36} {rows:>10} {seconds:>9.2f} {rows / seconds / 1e6:>9.2f} {nbytes / seconds / 1e9:>6.2f} "
              f"{ceiling / seconds:>10.0%}")
    print(f"Floe RSS: {floe_idle_rss:.0f} MiB idle, {floe_peak:.0f} MiB peak over the run, "
          f"of which anonymous (heap) at most {floe_heap.peak:.0f} MiB")


if __name__ == "__main__":
    main()
