"""pytest fixtures over harness.FloeServer: the real `floe` binary on port 0,
its address read from --addr-file (harness.py starts everything the tests
run against)."""

import secrets

import pytest

from clients import adbc_connect
from harness import Cluster, FloeServer
from lake_fixtures import make_big_table, make_types_table
from tls_certs import make_certificates


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    floe = FloeServer(tmp_path_factory.mktemp("floe"))
    yield floe
    assert floe.alive(), f"server died during the tests:\n{floe.logs()}"
    floe.stop()


@pytest.fixture
def start_server(tmp_path):
    """Starts extra servers (e.g. with credentials) for one test."""
    started = []

    def start(*args: str) -> FloeServer:
        floe = FloeServer(tmp_path / f"floe{len(started)}", *args)
        started.append(floe)
        return floe

    yield start
    for floe in started:
        floe.stop()


@pytest.fixture
def conn(server):
    import adbc_driver_flightsql.dbapi as flightsql

    with flightsql.connect(server.uri, db_kwargs={
        "adbc.flight.sql.rpc.with_cookie_middleware": "true",
    }, autocommit=True) as connection:
        yield connection


GRANTS = """
[[tokens]]
principal = "writer"
token_env = "WRITER_TOKEN"

[[tokens]]
principal = "reader"
token_env = "READER_TOKEN"

[[grants]]
principal = "writer"
catalog = "*"
namespace = "*"
access = ["read", "write"]

[[grants]]
principal = "dbeaver"
catalog = "*"
namespace = "*"
access = ["read", "write"]

[[grants]]
principal = "reader"
catalog = "*"
namespace = "*"
access = ["read"]
"""


@pytest.fixture(scope="session")
def client_servers(tmp_path_factory):
    """For the third-party client tests: a plain server with `jdbc.types` and
    `big.numbers`, a TLS server with a user, tokens and grants, and a cluster
    of two workers holding `big.numbers`; `env` names them as FLOE_* variables."""
    root = tmp_path_factory.mktemp("jdbc")
    certs = make_certificates(root / "certs")
    tokens = {"WRITER_TOKEN": secrets.token_hex(12), "READER_TOKEN": secrets.token_hex(12)}
    (root / "floe.toml").write_text(GRANTS)
    plain = FloeServer(root / "plain", "--no-scripts")
    tls = cluster = None
    try:
        make_types_table(plain)
        with adbc_connect(plain.uri) as conn:
            make_big_table(conn)
        tls = FloeServer(root / "tls", "--no-scripts", "--tls-cert", str(certs.server.cert), "--tls-key",
                         str(certs.server.key), "--user", "dbeaver:secret", "--config", str(root / "floe.toml"), env=tokens)
        cluster = Cluster(root / "cluster", workers=2)
        with adbc_connect(cluster.coordinator.uri) as conn:
            make_big_table(conn)
        yield {
            "plain": plain, "tls": tls, "cluster": cluster, "ca": str(certs.ca.cert),
            "env": {
                "FLOE_ADDR": plain.address, "FLOE_TLS_ADDR": tls.address, "FLOE_TLS_CA": str(certs.ca.cert),
                "FLOE_CLUSTER_ADDR": cluster.coordinator.address, "FLOE_TOKEN": tokens["WRITER_TOKEN"],
                "FLOE_READER_TOKEN": tokens["READER_TOKEN"], "FLOE_USER": "dbeaver", "FLOE_PASSWORD": "secret",
            },
        }
    finally:
        for server in (plain, tls, cluster):
            if server:
                server.stop()
