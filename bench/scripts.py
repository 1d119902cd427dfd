"""Script-mode latency: the seed script end to end through `floe.run` + DoGet,
from a pre-started sandbox (vcpus 2, pooled) and from a cold one (vcpus 4 is
not pooled), against the floor a user would otherwise pay: a plain, unsandboxed
`python -c` that imports Polars and runs the same aggregation on a CSV.

Prints medians and ratios; asserts nothing about time.

    python bench/scripts.py --repeat 15
"""

import argparse
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.flight as flight

from common import ROOT
from harness import FloeServer

SEED = """
table = params.get("table", "default.flowers")
limit = int(params.get("limit", 50))
flowers = scan(table)
result = (flowers.group_by("species")
    .agg(pl.len().alias("count"),
         pl.col("sepal_length").mean().round(2).alias("avg_sepal_length"),
         pl.col("petal_length").mean().round(2).alias("avg_petal_length"))
    .sort("avg_sepal_length", descending=True).head(limit))
"""

PLAIN = """
import polars as pl
flowers = pl.scan_csv({path!r})
print(flowers.group_by("species").agg(pl.len(), pl.col("sepal_length").mean().round(2))
      .sort("sepal_length", descending=True).collect().height)
"""


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    runtime_python = Path.home() / ".cache/floe/python-runtime/bin/python"
    with tempfile.TemporaryDirectory() as work:
        floe = FloeServer(Path(work) / "floe", run_dir=Path(work))
        try:
            client = flight.FlightClient(floe.uri)

            def run(vcpus: int):
                body = json.dumps({"mode": "script", "script": SEED, "vcpus": vcpus}).encode()
                response = json.loads(list(client.do_action(flight.Action("floe.run", body)))[0].body.to_pybytes())
                rows = client.do_get(flight.Ticket(base64.b64decode(response["ticket"]))).read_all().num_rows
                assert rows == 3, rows

            run(2)  # waits for the runtime and the pool
            time.sleep(1)
            rows = {}
            for label, vcpus in [("floe.run + DoGet, pooled sandbox (vcpus 2)", 2),
                                 ("floe.run + DoGet, cold sandbox (vcpus 4)", 4)]:
                samples = []
                for _ in range(args.repeat):
                    samples.append(timed(lambda: run(vcpus)))
                    time.sleep(0.3)  # let the pool refill, as between real requests
                rows[label] = statistics.median(samples)
            plain = PLAIN.format(path=str(ROOT / "src/demo/iris.csv"))
            python = str(runtime_python) if runtime_python.exists() else sys.executable
            samples = [timed(lambda: subprocess.run([python, "-c", plain], check=True, capture_output=True))
                       for _ in range(args.repeat)]
            floor = statistics.median(samples)
        finally:
            floe.stop()
    print(f"{'workload':<46} {'median':>9} {'/ plain python':>15}")
    print(f"{'plain python -c (no sandbox, one run only)':<46} {floor * 1000:>7.0f}ms {1.0:>15.2f}")
    for label, median in rows.items():
        print(f"{label:<46} {median * 1000:>7.0f}ms {median / floor:>15.2f}")
    print("(floe.run runs the script twice: once to count rows for the answer, once for DoGet)")


if __name__ == "__main__":
    main()
