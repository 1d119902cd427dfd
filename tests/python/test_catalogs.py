"""Several catalogs at once (`--config`): each under its own name, listed by
GetCatalogs, picked by a three-part name or the session's catalog."""

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from adbc_driver_manager import Error as AdbcError
from pyiceberg.catalog.sql import SqlCatalog
from floe_sql import run




def test_second_catalog_from_a_config_file(tmp_path, start_server, monkeypatch):
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    archive_uri = f"sqlite:///{archive_dir}/catalog.db"
    archive = SqlCatalog("archive", uri=archive_uri, warehouse=f"file://{archive_dir}/warehouse")
    archive.create_namespace("sales")
    orders = pa.table({"species": ["setosa", "virginica"], "ordered": pa.array([3, 4], pa.int64())})
    archive.create_table("sales.orders", schema=orders.schema).append(orders)

    monkeypatch.setenv("FLOE_TEST_ARCHIVE_URI", archive_uri)
    config = tmp_path / "floe.toml"
    config.write_text(f'[[catalogs]]\nname = "archive"\nuri_env = "FLOE_TEST_ARCHIVE_URI"\n'
                      f'warehouse = "{archive_dir}/warehouse"\n')
    server = start_server("--config", str(config))
    with flightsql.connect(server.uri, autocommit=True,
                           db_kwargs={"adbc.flight.sql.rpc.with_cookie_middleware": "true"}) as conn:
        objects = conn.adbc_get_objects(depth="catalogs").read_all().to_pylist()
        assert sorted(c["catalog_name"] for c in objects) == ["archive", "floe"]
        assert run(conn, "SELECT sum(ordered) AS n FROM archive.sales.orders").column("n").to_pylist() == [7]
        joined = run(conn, "SELECT o.species, o.ordered, count(*) AS flowers FROM archive.sales.orders o "
                           "JOIN floe.default.flowers f ON o.species = f.species GROUP BY o.species, o.ordered "
                           "ORDER BY o.species")
        assert joined.to_pydict() == {"species": ["setosa", "virginica"], "ordered": [3, 4], "flowers": [50, 50]}
        run(conn, "CREATE TABLE archive.sales.big AS SELECT * FROM floe.default.flowers WHERE sepal_length > 7")
        assert archive.load_table("sales.big").scan().to_arrow().num_rows == 12
        conn.adbc_current_catalog = "archive"
        assert run(conn, "SELECT count(*) AS n FROM sales.orders").column("n").to_pylist() == [2]
        with pytest.raises(AdbcError):
            run(conn, "SELECT * FROM nowhere.sales.orders")


def test_bad_config_stops_the_server_with_a_clear_message(tmp_path):
    import subprocess

    from harness import floe_binary

    config = tmp_path / "floe.toml"
    config.write_text('[[catalogs]]\nname = "x"\nuri = "postgres://u:pw@db/x"\nwarehouse = "/w"\n')
    done = subprocess.run([floe_binary(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                           "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "uri_env" in done.stderr and "pw" not in done.stderr.replace("uri_env", "")
