"""Shared by the benchmarks: start the real Floe binary, load DuckDB extensions
from their PyPI wheels (no network)."""

import glob
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def floe_binary() -> str:
    return os.environ.get("FLOE_BIN") or str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release/floe")


def start_floe(work: Path, *extra: str, data_dir: Path | None = None) -> tuple[subprocess.Popen, str]:
    addr = work / "addr"
    process = subprocess.Popen([floe_binary(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir or work / "floe"),
                                "--addr-file", str(addr), *extra], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not addr.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit("floe did not start")
        time.sleep(0.02)
    return process, f"grpc://{addr.read_text().strip()}"


def load_duckdb_extension(con, module) -> None:
    path = glob.glob(os.path.join(os.path.dirname(module.__file__), "extensions", "*", "*.duckdb_extension"))[0]
    con.execute(f"LOAD '{path}'")
