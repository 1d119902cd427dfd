"""Shared by the benchmarks: tests/python on sys.path, so they start Floe
(and its clusters) through the tests' harness (`from harness import
FloeServer`); DuckDB extensions loaded from their PyPI wheels (no network)."""

import glob
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))


def load_duckdb_extension(con, module) -> None:
    path = glob.glob(os.path.join(os.path.dirname(module.__file__), "extensions", "*", "*.duckdb_extension"))[0]
    con.execute(f"LOAD '{path}'")
