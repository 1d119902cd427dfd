"""Running SQL through an ADBC connection, as every client test does."""

import pyarrow as pa


def run(conn, sql: str, params=None) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetch_arrow_table()
