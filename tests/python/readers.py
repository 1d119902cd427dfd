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


def duckdb_scan(metadata_location: str, sql_tail: str = "") -> pa.Table:
    """Reads an Iceberg table's metadata file with DuckDB's iceberg extension,
    loaded from its PyPI wheel (no network)."""
    con = duckdb.connect()
    for module in (duckdb_extension_avro, duckdb_extension_iceberg):
        path = glob.glob(os.path.join(os.path.dirname(module.__file__), "extensions", "*", "*.duckdb_extension"))[0]
        con.execute(f"LOAD '{path}'")
    location = metadata_location.removeprefix("file://")
    return con.execute(f"SELECT * FROM iceberg_scan('{location}') {sql_tail}").to_arrow_table()
