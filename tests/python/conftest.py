"""pytest fixtures over harness.FloeServer: the real `floe` binary on port 0,
its address read from --addr-file (harness.py starts everything the tests
run against)."""

import pytest

from harness import FloeServer


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
