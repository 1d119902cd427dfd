"""Computes the expected answers of golden `.slt` files with DuckDB, so no answer is typed by hand.

    python tests/sql/answers.py tests/sql/bi.slt --write          # DuckDB's rows into the file
    python tests/sql/answers.py tests/sql/bi.slt --floe grpc://127.0.0.1:31337   # Floe's diffs

DuckDB gets the demo table `flowers` from `src/demo/iris.csv` and runs each `statement ok`
block too; a `# duckdb: <sql>` comment right above a block is DuckDB's spelling of it
(for functions DuckDB names differently, such as `date_bin`). Rows are printed as arrow-rs displays them (what `tests/golden.rs` compares);
`error <Code>` blocks are left alone. `--floe` runs every block against a running server
over ADBC and prints each answer that differs, for work on the rewrites between builds.
"""

import argparse
import datetime
import decimal
import pathlib
import re
import sys

import duckdb

ROOT = pathlib.Path(__file__).resolve().parents[2]


def parse(text: str) -> list[dict]:
    """Blocks as {kind, header, sql, rows, start, end} with line spans, so a rewrite keeps the rest."""
    lines = text.split("\n")
    blocks, i, duckdb_sql = [], 0, None
    while i < len(lines):
        line = lines[i].rstrip()
        if not line or line.startswith("#"):
            # `# duckdb: <sql>` above a block: DuckDB's spelling of the same question.
            duckdb_sql = line[len("# duckdb: ") :] if line.startswith("# duckdb: ") else duckdb_sql if line else None
            i += 1
            continue
        start, sql, rows, in_rows = i, [], [], False
        i += 1
        while i < len(lines) and lines[i].strip():
            if lines[i].rstrip() == "----":
                in_rows = True
            elif in_rows:
                rows.append(lines[i].rstrip())
            else:
                sql.append(lines[i].rstrip())
            i += 1
        kind = "query" if line == "query" else "statement" if line.startswith("statement") else "error"
        block = {"kind": kind, "header": line, "sql": "\n".join(sql), "rows": rows, "start": start, "end": i}
        block["duckdb_sql"], duckdb_sql = duckdb_sql or block["sql"], None
        blocks.append(block)
    return blocks


def display(value) -> str:
    """One value as arrow-rs' ArrayFormatter prints it (floats through ryu)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        if text in ("inf", "-inf", "nan"):
            return {"inf": "inf", "-inf": "-inf", "nan": "NaN"}[text]
        return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), text)
    if isinstance(value, datetime.datetime):
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond:06d}".rstrip("0")
        if value.tzinfo is not None:
            text += "Z" if value.utcoffset() == datetime.timedelta(0) else value.strftime("%z")
        return text
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")  # as Arrow prints it: 0.0000000, not 0E-7
    return str(value)


def rows_of(columns: list[str], values: list[tuple]) -> list[str]:
    return ["|".join(display(v) for v in row) for row in values]


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE flowers AS SELECT * FROM read_csv(?, header = true, columns = {"
        "'sepal_length': 'DOUBLE', 'sepal_width': 'DOUBLE', 'petal_length': 'DOUBLE', "
        "'petal_width': 'DOUBLE', 'species': 'VARCHAR'})",
        [str(ROOT / "src/demo/iris.csv")],
    )
    return con


def duckdb_rows(con, sql: str) -> list[str]:
    cursor = con.execute(sql)
    return rows_of([d[0] for d in cursor.description], cursor.fetchall())


def floe_rows(conn, sql: str) -> list[str]:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        table = cursor.fetch_arrow_table()
    return rows_of(table.column_names, [tuple(r.values()) for r in table.to_pylist()])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=pathlib.Path)
    parser.add_argument("--write", action="store_true", help="write DuckDB's rows into the files")
    parser.add_argument("--floe", help="a running Floe's grpc:// URI: print where its answers differ")
    args = parser.parse_args()
    floe = None
    if args.floe:
        import adbc_driver_flightsql.dbapi as flight_sql

        floe = flight_sql.connect(args.floe, autocommit=True)
    con = duckdb_connection()
    differ = 0
    for path in args.files:
        text = path.read_text()
        lines = text.split("\n")
        out, last = [], 0
        for block in parse(text):
            location = f"{path}:{block['start'] + 1}"
            if block["kind"] == "statement":
                con.execute(block["duckdb_sql"])
                if floe is not None:
                    try:
                        floe_rows(floe, block["sql"])
                    except Exception as err:  # noqa: BLE001 - reported, the next blocks still run
                        print(f"{location}: Floe refused the statement: {err}\n")
                continue
            if block["kind"] != "query":
                continue
            expected = duckdb_rows(con, block["duckdb_sql"])
            if args.write:
                out += lines[last : block["start"]]
                out += [block["header"], *block["sql"].split("\n"), "----", *expected]
                last = block["end"]
            if floe is not None:
                try:
                    got = floe_rows(floe, block["sql"])
                except Exception as err:  # noqa: BLE001
                    got = [f"error: {str(err).splitlines()[0][:300]}"]
                if got != expected:
                    differ += 1
                    print(f"{location}:\n{block['sql']}\n  duckdb: {expected[:8]}\n  floe:   {got[:8]}\n")
        if args.write:
            out += lines[last:]
            path.write_text("\n".join(out))
    if floe is not None:
        print(f"{differ} answers differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
