"""`information_schema.schemata`, `.tables` and `.columns` over the real
catalogs, as the SQL Grafana's query editor, Metabase and Superset send,
filtered by grants like the Flight SQL metadata calls."""

import secrets

import pytest
from adbc_driver_manager import Error as AdbcError

from clients import adbc_connect
from floe_sql import run
from harness import FloeServer

GRANTS = """
[[tokens]]
principal = "sales"
token_env = "SALES_TOKEN"

[[grants]]
principal = "sales"
catalog = "*"
namespace = "sales*"
access = ["read", "write"]
"""


def test_tables_columns_and_schemata(conn):
    tables = run(conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'default' ORDER BY table_name")
    assert "flowers" in tables.column("table_name").to_pylist()
    columns = run(conn, "SELECT column_name, ordinal_position, data_type, is_nullable FROM information_schema.columns "
                        "WHERE table_schema = 'default' AND table_name = 'flowers' ORDER BY ordinal_position").to_pylist()
    assert [c["column_name"] for c in columns] == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    assert [c["ordinal_position"] for c in columns] == [1, 2, 3, 4, 5]
    assert (columns[0]["data_type"], columns[4]["data_type"]) == ("DOUBLE", "VARCHAR")
    schemata = run(conn, "SELECT catalog_name, schema_name FROM floe.information_schema.schemata").to_pylist()
    assert {"catalog_name": "floe", "schema_name": "default"} in schemata
    types = run(conn, "SELECT DISTINCT table_type FROM information_schema.tables").column("table_type").to_pylist()
    assert types == ["BASE TABLE"]


def test_console_commands(conn):
    """SHOW TABLES / SHOW SCHEMAS / DESCRIBE / SHOW COLUMNS, as a SQL console
    types them, through ADBC: listings by catalog and schema, a table's columns
    and types, a query's columns; each refusal names what to do instead."""
    with conn.cursor() as cursor:
        cursor.execute("CREATE SCHEMA IF NOT EXISTS console")
        cursor.execute("CREATE TABLE IF NOT EXISTS console.readings (sensor VARCHAR, at TIMESTAMP, value DECIMAL(8,3))")
    assert run(conn, "SHOW TABLES FROM console").to_pylist() == [{"catalog": "floe", "schema": "console", "name": "readings"}]
    assert run(conn, "SHOW TABLES IN floe.console LIKE 'read%'").column("name").to_pylist() == ["readings"]
    assert run(conn, "SHOW TABLES LIKE 'nothing_like_this%'").num_rows == 0
    assert {"catalog": "floe", "schema": "console"} in run(conn, "SHOW SCHEMAS").to_pylist()
    columns = run(conn, "DESCRIBE console.readings").to_pylist()
    assert [(c["column_name"], c["column_type"]) for c in columns] == [
        ("sensor", "VARCHAR"), ("at", "TIMESTAMP"), ("value", "DECIMAL(8,3)")]
    assert run(conn, "SHOW COLUMNS FROM console.readings").to_pylist() == columns
    described = run(conn, "DESCRIBE SELECT sensor, length(sensor) AS n, string_to_array(sensor, '-') AS parts FROM console.readings")
    assert described.column("column_name").to_pylist() == ["sensor", "n", "parts"]
    assert described.column("column_type").to_pylist()[2] == "VARCHAR[]"
    # The table is read as a query reads it: unknown names are NotFound.
    with pytest.raises(AdbcError, match="no_such_table"):
        run(conn, "DESCRIBE console.no_such_table")
    with pytest.raises(AdbcError, match="use LIKE"):
        run(conn, "SHOW TABLES WHERE name = 'x'")


def test_unknown_views_are_named(conn):
    with pytest.raises(AdbcError, match="schemata`, `tables` and `columns"):
        run(conn, "SELECT * FROM information_schema.views")


def test_a_principal_sees_only_what_it_may_read(tmp_path):
    config = tmp_path / "floe.toml"
    config.write_text(GRANTS)
    token = secrets.token_hex(8)
    server = FloeServer(tmp_path / "data", "--no-scripts", "--config", str(config), env={"SALES_TOKEN": token})
    try:
        with adbc_connect(server.uri, token=token) as conn:
            with conn.cursor() as cursor:
                cursor.execute("CREATE SCHEMA sales_eu")
                cursor.execute("CREATE TABLE sales_eu.orders (k BIGINT)")
            tables = run(conn, "SELECT table_schema, table_name FROM information_schema.tables").to_pylist()
            assert tables == [{"table_schema": "sales_eu", "table_name": "orders"}]
            schemata = run(conn, "SELECT schema_name FROM information_schema.schemata").column("schema_name").to_pylist()
            assert schemata == ["sales_eu"]
            assert run(conn, "SELECT * FROM information_schema.columns WHERE table_schema = 'default'").num_rows == 0
            # A SQL console's commands list and describe the same: only what may be read.
            assert run(conn, "SHOW TABLES").to_pylist() == [{"catalog": "floe", "schema": "sales_eu", "name": "orders"}]
            assert run(conn, "SHOW SCHEMAS").column("schema").to_pylist() == ["sales_eu"]
            assert run(conn, "DESCRIBE sales_eu.orders").to_pylist() == [{"column_name": "k", "column_type": "BIGINT"}]
            with pytest.raises(AdbcError, match="lacks `read`"):
                run(conn, "DESCRIBE default.flowers")
    finally:
        server.stop()


def test_an_unreadable_table_leaves_the_others_listed(server, conn):
    """A table whose metadata file is gone (test_broken_tables makes such
    tables on the shared server) is left out of `columns`, not fatal."""
    from readers import pyiceberg_catalog
    import pyarrow as pa
    from pathlib import Path

    catalog = pyiceberg_catalog(server)
    catalog.create_namespace_if_not_exists("lost")
    if catalog.table_exists("lost.gone"):
        catalog.drop_table("lost.gone")
    table = catalog.create_table("lost.gone", schema=pa.schema([("k", pa.int64())]))
    Path(table.metadata_location.removeprefix("file://")).unlink()
    columns = run(conn, "SELECT table_schema, table_name FROM information_schema.columns").to_pylist()
    assert {"table_schema": "default", "table_name": "flowers"} in columns
    assert {"table_schema": "lost", "table_name": "gone"} not in columns
    tables = run(conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'lost'").column(0).to_pylist()
    assert tables == ["gone"]
    catalog.drop_table("lost.gone")
