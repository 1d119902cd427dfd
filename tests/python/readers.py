"""Independent readers of what Floe writes: pyiceberg and DuckDB."""

import glob
import os

import duckdb
import duckdb_extension_avro
import duckdb_extension_iceberg
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog


def pyiceberg_catalog(server) -> SqlCatalog:
    return SqlCatalog("floe", uri=f"sqlite:///{server.data_dir}/catalog.db",
                      warehouse=f"file://{server.data_dir}/warehouse")


def loaded(server, namespace: str, tables: dict):
    """`server` with each Arrow table of `tables` appended to a new Iceberg
    table of its name in `namespace`, through pyiceberg."""
    catalog = pyiceberg_catalog(server)
    catalog.create_namespace_if_not_exists(namespace)
    for name, rows in tables.items():
        catalog.create_table(f"{namespace}.{name}", schema=rows.schema).append(rows)
    return server


def duckdb_with_extensions(*more: str) -> duckdb.DuckDBPyConnection:
    """DuckDB with its avro and iceberg extensions (and `more`, e.g. httpfs)
    loaded from their PyPI wheels (no network)."""
    import importlib

    con = duckdb.connect()
    modules = [importlib.import_module(f"duckdb_extension_{name}") for name in more]
    for module in (*modules, duckdb_extension_avro, duckdb_extension_iceberg):
        path = glob.glob(os.path.join(os.path.dirname(module.__file__), "extensions", "*", "*.duckdb_extension"))[0]
        con.execute(f"LOAD '{path}'")
    return con


def duckdb_scan(metadata_location: str, sql_tail: str = "") -> pa.Table:
    """Reads an Iceberg table's metadata file with DuckDB's iceberg extension."""
    con = duckdb_with_extensions()
    location = metadata_location.removeprefix("file://")
    return con.execute(f"SELECT * FROM iceberg_scan('{location}') {sql_tail}").to_arrow_table()


def duckdb_over(tables: dict, sql: str, namespace: str) -> list[tuple]:
    """DuckDB's answer to `sql` over the same Arrow `tables`, with the
    namespace Floe reads them under (`ns.`) left out."""
    con = duckdb.connect()
    for name, rows in tables.items():
        con.register(name, rows)
    return con.execute(sql.replace(f"{namespace}.", "")).fetchall()


def same_rows(got: list[tuple], expected: list[tuple]) -> None:
    """Row by row, floats within 1e-6."""
    assert len(got) == len(expected), (got, expected)
    for a, b in zip(got, expected):
        assert all(x == y or (isinstance(x, float) and abs(x - y) < 1e-6) for x, y in zip(a, b)), (a, b)
