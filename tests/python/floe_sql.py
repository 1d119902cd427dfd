"""Running SQL through an ADBC connection, as every client test does, and
comparing answers whose floats or row order may differ."""

import json

import pyarrow as pa


def run(conn, sql: str, params=None) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetch_arrow_table()


def rounded(table: pa.Table) -> list:
    """Rows with floats to 9 significant digits: partial sums add in another order."""
    return [{k: float(f"{v:.9g}") if isinstance(v, float) else v for k, v in row.items()} for row in table.to_pylist()]


def canonical(table: pa.Table) -> list:
    """`rounded` rows in one fixed order, for answers without ORDER BY."""
    return sorted(rounded(table), key=lambda row: json.dumps(row, sort_keys=True, default=str))
