"""Running SQL through an ADBC connection, as every client test does, and
comparing answers whose floats or row order may differ."""

import json

import pyarrow as pa


def run(conn, sql: str, params=None) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetch_arrow_table()


def rows(conn, sql: str) -> list[tuple]:
    """The answer's rows as tuples, in the order Floe sent them."""
    return [tuple(row.values()) for row in run(conn, sql).to_pylist()]


def explained(conn, sql: str, *prefixes: str) -> list[str]:
    """The lines of `EXPLAIN ANALYZE sql` that start with one of `prefixes`."""
    lines = run(conn, f"EXPLAIN ANALYZE {sql}").column("plan").to_pylist()
    return [line for line in lines if line.startswith(prefixes)]


def rounded(table: pa.Table) -> list:
    """Rows with floats to 9 significant digits: partial sums add in another order."""
    return [{k: float(f"{v:.9g}") if isinstance(v, float) else v for k, v in row.items()} for row in table.to_pylist()]


def canonical(table: pa.Table) -> list:
    """`rounded` rows in one fixed order, for answers without ORDER BY."""
    return sorted(rounded(table), key=lambda row: json.dumps(row, sort_keys=True, default=str))
