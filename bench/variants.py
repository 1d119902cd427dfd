"""Spellings of one question timed side by side on one Floe server, interleaved: is a
rewrite worth building? Write the form a pass would produce by hand, check that it answers
the same, and time it beside the query as written before writing the pass. Needs the tables
`bench/tpch.py --timed` loads. `tpch:N` is standard query N as DuckDB's tpch extension ships it.

    python bench/variants.py tpch:2 bench/variants/tpch2_window.sql --repeat 15
"""

import argparse
import statistics
import time
from pathlib import Path

import common  # puts tests/python, the harness, on sys.path
import duckdb
import duckdb_extension_tpch
from common import load_duckdb_extension
from engines import FlightSqlEngine, loaded_tpch
from harness import FloeServer


def read(spelling: str, duck) -> str:
    if spelling.startswith("tpch:"):
        number = int(spelling.split(":", 1)[1])
        return duck.execute("SELECT query FROM tpch_queries() WHERE query_nr = ?", [number]).fetchone()[0]
    return Path(spelling).read_text()


def rows(table) -> list:
    """The answer in a fixed order, floats to 9 significant digits (a sum in another order differs in the last bits)."""
    ordered = table.sort_by([(c, "ascending") for c in table.column_names]).to_pylist()
    return [{k: float(f"{v:.9g}") if isinstance(v, float) else v for k, v in row.items()} for row in ordered]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("spellings", nargs="+", help="SQL files, or tpch:N")
    parser.add_argument("--sf", type=float, default=1)
    parser.add_argument("--repeat", type=int, default=9, help="timed rounds after one checked warm-up")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    duck = duckdb.connect()
    load_duckdb_extension(duck, duckdb_extension_tpch)
    sqls = {s: read(s, duck) for s in args.spellings}
    data_dir = loaded_tpch(args.sf, args.data_dir)
    floe = FloeServer(data_dir, "--no-demo", "--no-scripts", run_dir=data_dir / "run")
    try:
        engine = FlightSqlEngine("floe", floe.uri, "tpch", 300)
        first, differ = None, []
        for spelling, sql in sqls.items():
            table = engine.run(sql)
            answer = rows(table)
            first = answer if first is None else first
            print(f"{spelling}: {table.num_rows} rows, {'the same answer' if answer == first else 'A DIFFERENT ANSWER'}")
            if answer != first:
                differ.append(spelling)
        samples = {s: [] for s in sqls}
        for _ in range(args.repeat):
            for spelling, sql in sqls.items():
                begun = time.perf_counter()
                engine.run(sql)
                samples[spelling].append(time.perf_counter() - begun)
        for spelling, times in samples.items():
            print(f"{spelling}: median {statistics.median(times) * 1000:.1f} ms over {len(times)} rounds")
        engine.close()
    finally:
        floe.stop()
    if differ:
        raise SystemExit(f"answers differ from {args.spellings[0]}'s: {', '.join(differ)}")


if __name__ == "__main__":
    main()
