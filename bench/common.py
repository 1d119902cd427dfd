"""Shared by the benchmarks: tests/python on sys.path, so they start Floe
(and its clusters) through the tests' harness (`from harness import
FloeServer`); DuckDB extensions loaded from their PyPI wheels (no network)."""

import argparse
import glob
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))


def load_duckdb_extension(con, module) -> None:
    path = glob.glob(os.path.join(os.path.dirname(module.__file__), "extensions", "*", "*.duckdb_extension"))[0]
    con.execute(f"LOAD '{path}'")


def tpch_arguments(repeat: int | None = None) -> argparse.ArgumentParser:
    """`--sf` and `--data-dir` of the TPC-H tables `bench/tpch.py --timed` loads, and `--repeat`
    when the benchmark repeats; callers add their own before parsing."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sf", type=float, default=1)
    if repeat is not None:
        parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--data-dir")
    return parser
