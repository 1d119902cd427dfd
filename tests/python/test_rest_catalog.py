"""An Iceberg REST catalog beside the embedded one: a real REST server
(rustberg, built from crates.io by .ci/run) that pyiceberg writes through and
Floe reads, under the catalog's own name."""

import json
import secrets

import pyarrow as pa
import pytest

from floe_sql import run
from harness import FloeServer, Rustberg


@pytest.fixture
def rest_catalog(tmp_path):
    warehouse = tmp_path / "rest-warehouse"
    warehouse.mkdir()
    rustberg = Rustberg(tmp_path, f"file://{warehouse}")
    yield {"uri": rustberg.uri, "warehouse": rustberg.warehouse}
    rustberg.stop()


def pyiceberg_rest(rest_catalog):
    from pyiceberg.catalog.rest import RestCatalog

    return RestCatalog("lake", uri=rest_catalog["uri"], warehouse=rest_catalog["warehouse"])


def floe_with_rest(start_server, tmp_path, rest_catalog, extra: str = ""):
    config = tmp_path / "catalogs.toml"
    config.write_text(f"""
[[catalogs]]
name = "lake"
type = "rest"
uri = "{rest_catalog['uri']}"
warehouse = "{rest_catalog['warehouse']}"
headers = {{ "X-Floe-Test" = "yes" }}
{extra}
""")
    return start_server("--config", str(config))


def test_tables_written_through_a_rest_catalog_read_back_identically(rest_catalog, start_server, tmp_path):
    import adbc_driver_flightsql.dbapi as flightsql

    catalog = pyiceberg_rest(rest_catalog)
    catalog.create_namespace("sales")
    orders = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "amount": [1.5, 2.5, None],
                       "region": ["eu", "us", "eu"]})
    table = catalog.create_table("sales.orders", schema=orders.schema)
    table.append(orders)

    floe = floe_with_rest(start_server, tmp_path, rest_catalog)
    with flightsql.connect(floe.uri, autocommit=True) as conn:
        got = run(conn, "SELECT * FROM lake.sales.orders ORDER BY id")
        assert got.to_pylist() == table.scan().to_arrow().sort_by("id").to_pylist()
        catalogs = conn.adbc_get_objects(depth="catalogs").read_all().column("catalog_name").to_pylist()
        assert sorted(catalogs) == ["floe", "lake"]
        # A commit by another engine is visible to the next query.
        table.append(pa.table({"id": pa.array([4], pa.int64()), "amount": [4.5], "region": ["us"]}))
        assert run(conn, "SELECT count(*) AS n FROM lake.sales.orders").column("n").to_pylist() == [4]
        # Metadata tables and time travel go through the REST catalog too.
        # The catalog's snapshot list need not be in commit order: take the lowest sequence number.
        first = min(table.metadata.snapshots, key=lambda snapshot: snapshot.sequence_number).snapshot_id
        assert run(conn, 'SELECT count(*) AS n FROM lake.sales."orders$snapshots"').column("n").to_pylist() == [2]
        old = run(conn, f"SELECT count(*) AS n FROM lake.sales.orders FOR VERSION AS OF {first}")
        assert old.column("n").to_pylist() == [3]
        # Floe appends through the REST catalog's commit endpoint.
        assert run(conn, "INSERT INTO lake.sales.orders VALUES (5, 5.5, 'eu')").column("rows_affected").to_pylist() == [1]
    assert sorted(catalog.load_table("sales.orders").scan().to_arrow().column("id").to_pylist()) == [1, 2, 3, 4, 5]


def test_overwrites_commit_through_the_rest_api_and_concurrent_ones_all_land(rest_catalog, start_server, tmp_path):
    import adbc_driver_flightsql.dbapi as flightsql
    from concurrent.futures import ThreadPoolExecutor

    catalog = pyiceberg_rest(rest_catalog)
    catalog.create_namespace("sales")
    catalog.create_table("sales.t", schema=pa.schema([("x", pa.int64())])).append(pa.table({"x": pa.array([1], pa.int64())}))
    floe = floe_with_rest(start_server, tmp_path, rest_catalog)
    with flightsql.connect(floe.uri, autocommit=True) as conn:
        run(conn, "INSERT OVERWRITE lake.sales.t SELECT 2 AS x UNION ALL SELECT 3 AS x")
        assert sorted(run(conn, "SELECT x FROM lake.sales.t").column("x").to_pylist()) == [2, 3]
    table = catalog.load_table("sales.t")
    assert sorted(table.scan().to_arrow().column("x").to_pylist()) == [2, 3]
    assert table.current_snapshot().summary.operation.value == "overwrite"

    def overwrite(value):
        with flightsql.connect(floe.uri, autocommit=True) as conn:
            run(conn, f"INSERT OVERWRITE lake.sales.t SELECT {value} AS x")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(overwrite, [10, 20, 30, 40]))
    table = catalog.load_table("sales.t")
    # Every overwrite committed on top of the one before (none lost to a race):
    # the main branch's history is one chain through all six snapshots.
    chain, snapshot = [], table.current_snapshot()
    while snapshot is not None:
        chain.append(snapshot)
        snapshot = table.snapshot_by_id(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
    assert len(chain) == 6 and [s.summary.operation.value for s in chain[:5]] == ["overwrite"] * 5
    assert table.scan().to_arrow().column("x").to_pylist() in ([10], [20], [30], [40])


def test_a_missing_secret_or_unreachable_catalog_stops_start_up(rest_catalog, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(f'[[catalogs]]\nname = "lake"\ntype = "rest"\nuri = "{rest_catalog["uri"]}"\n'
                      f'token_env = "FLOE_TEST_UNSET_TOKEN"\n')
    data = tmp_path / "d1"
    data.mkdir()
    with pytest.raises(RuntimeError, match="FLOE_TEST_UNSET_TOKEN is not set"):
        FloeServer(data, "--config", str(config))
    config.write_text('[[catalogs]]\nname = "lake"\ntype = "rest"\nuri = "http://127.0.0.1:9"\n')
    data = tmp_path / "d2"
    data.mkdir()
    with pytest.raises(RuntimeError, match="cannot open catalog `lake`"):
        FloeServer(data, "--config", str(config))


class IdentityProvider:
    """A stand-in OAuth2 token endpoint (client-credentials grant) for the
    catalog's identity provider: it hands out the key the real catalog
    (rustberg) accepts, to the one client it knows."""

    def __init__(self, client_id: str, secret: str, access_token: str):
        import threading
        import urllib.parse
        from http.server import BaseHTTPRequestHandler, HTTPServer

        outer = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                outer.requests += 1
                good = (form.get("grant_type") == ["client_credentials"] and form.get("client_id") == [client_id]
                        and form.get("client_secret") == [secret])
                body = json.dumps({"access_token": access_token, "token_type": "bearer", "expires_in": 3600}
                                  if good else {"error": "invalid_client"}).encode()
                self.send_response(200 if good else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def test_bearer_token_and_oauth2_client_credentials_against_a_catalog_that_requires_them(tmp_path):
    import adbc_driver_flightsql.dbapi as flightsql
    from pyiceberg.catalog.rest import RestCatalog

    key = "rb_" + secrets.token_hex(16)
    (tmp_path / "wh").mkdir()
    rustberg = Rustberg(tmp_path, f"file://{tmp_path / 'wh'}", api_key=key)
    idp = IdentityProvider("floe-client", "s3cret", key)
    try:
        catalog = RestCatalog("lake", uri=rustberg.uri, warehouse=rustberg.warehouse, token=key)
        catalog.create_namespace("sales")
        catalog.create_table("sales.t", schema=pa.schema([("x", pa.int64())])).append(
            pa.table({"x": pa.array([1, 2], pa.int64())}))
        settings = {
            "bearer": ('token_env = "LAKE_TOKEN"', {"LAKE_TOKEN": key}),
            "oauth2": (f'credential_env = "LAKE_CREDENTIAL"\noauth2_server_uri = "{idp.uri}"',
                       {"LAKE_CREDENTIAL": "floe-client:s3cret"}),
        }
        for name, (auth, env) in settings.items():
            config = tmp_path / f"{name}.toml"
            config.write_text(f'[[catalogs]]\nname = "lake"\ntype = "rest"\nuri = "{rustberg.uri}"\n'
                              f'warehouse = "{rustberg.warehouse}"\n{auth}\n')
            (tmp_path / name).mkdir()
            floe = FloeServer(tmp_path / name, "--config", str(config), env=env)
            try:
                with flightsql.connect(floe.uri, autocommit=True) as conn:
                    assert sorted(run(conn, "SELECT x FROM lake.sales.t").column("x").to_pylist())[:2] == [1, 2]
                    run(conn, f"INSERT INTO lake.sales.t SELECT CAST(10 AS BIGINT) AS x")
                    run(conn, "INSERT OVERWRITE lake.sales.t SELECT x FROM lake.sales.t WHERE x < 10")
                    assert sorted(run(conn, "SELECT x FROM lake.sales.t").column("x").to_pylist()) == [1, 2]
            finally:
                floe.stop()
        assert idp.requests >= 2  # the REST client's token and the overwrite commit's
        assert catalog.load_table("sales.t").current_snapshot().summary.operation.value == "overwrite"
        # Wrong credentials stop start-up with the catalog named.
        for name, auth, env in [("bad-token", 'token_env = "LAKE_TOKEN"', {"LAKE_TOKEN": "rb_wrong"}),
                                ("bad-secret", f'credential_env = "LAKE_CREDENTIAL"\noauth2_server_uri = "{idp.uri}"',
                                 {"LAKE_CREDENTIAL": "floe-client:wrong"})]:
            config = tmp_path / f"{name}.toml"
            config.write_text(f'[[catalogs]]\nname = "lake"\ntype = "rest"\nuri = "{rustberg.uri}"\n{auth}\n')
            (tmp_path / name).mkdir()
            with pytest.raises(RuntimeError, match="cannot open catalog `lake`"):
                FloeServer(tmp_path / name, "--config", str(config), env=env)
    finally:
        idp.stop()
        rustberg.stop()
