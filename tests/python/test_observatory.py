"""The observatory's data: every statement and workload this node ran or
runs, read back as `system.queries` over Flight SQL (ADBC) and as JSON over
HTTP, with progress while running, the cancel button's endpoint, visibility
by principal (admins see all), and a history that survives a restart."""

import json

import pyarrow.flight as flight
import pytest
import requests

from clients import adbc_connect
from floe_sql import run
from flight_sql_wire import statement_query
from harness import FloeServer, wait_for

SLOW = "SELECT a.species, b.sepal_length, c.petal_width FROM default.flowers a, default.flowers b, default.flowers c"


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    root = tmp_path_factory.mktemp("observed")
    server = FloeServer(root, "--no-scripts", "--token", "first-secret", "--token", "second-secret", "--admin", "token2")
    yield server
    server.stop()


def queries(server, token: str, **filters) -> list[dict]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = requests.get(f"http://{server.address}/api/v1/queries", params=filters, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["queries"]


def system_queries(server, token: str, where: str) -> list[dict]:
    with adbc_connect(server.uri, token=token) as conn:
        return run(conn, f"SELECT * FROM system.queries WHERE {where}").to_pylist()


def test_finished_and_failed_statements_are_in_system_queries(observed):
    with adbc_connect(observed.uri, token="first-secret") as conn:
        assert run(conn, "SELECT * FROM default.flowers WHERE species = 'setosa'").num_rows == 50
        with pytest.raises(Exception):
            run(conn, "SELECT CAST(species AS INT) AS broken FROM default.flowers")
    # (The statements reading system.queries mention setosa too: they read no table.)
    where = "sql LIKE '%setosa%' AND state = 'finished' AND tables = 'default.flowers'"
    assert wait_for(lambda: system_queries(observed, "first-secret", where), 10)
    (done,) = system_queries(observed, "first-secret", where)
    assert (done["kind"], done["rows"], done["principal"], done["protocol"], done["tables"]) == ("SELECT", 50, "token1", "flight", "default.flowers")
    assert done["bytes"] > 0 and done["client"].startswith("127.0.0.1:") and done["started_at"].year >= 2026
    where = "sql LIKE '%broken%' AND tables = 'default.flowers'"
    assert wait_for(lambda: system_queries(observed, "first-secret", where + " AND state = 'failed'"), 10)
    (failed,) = system_queries(observed, "first-secret", where)
    assert failed["code"] and failed["error"], failed


def test_a_running_query_shows_progress_and_is_cancelled_from_the_api(observed):
    options = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer first-secret")])
    with flight.connect(observed.uri) as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(SLOW)), options)
        reader = client.do_get(info.endpoints[0].ticket, options)
        reader.read_chunk()

        def running():
            return [q for q in queries(observed, "first-secret", state="running") if q["sql"] == SLOW]
        assert wait_for(lambda: running() and running()[0]["rows"] > 0, 10), queries(observed, "first-secret")
        query_id = running()[0]["query_id"]
        answer = requests.post(f"http://{observed.address}/api/v1/queries/{query_id}/cancel",
                               headers={"authorization": "Bearer first-secret"}, timeout=10)
        assert answer.status_code == 200 and answer.json() == {"ok": True, "cancelled": True}, answer.text
        with pytest.raises(flight.FlightCancelledError):
            while True:
                reader.read_chunk()
    assert wait_for(lambda: any(q["query_id"] == query_id and q["state"] == "cancelled"
                                for q in queries(observed, "first-secret")), 10)


def test_a_principal_sees_its_own_queries_and_an_admin_sees_all(observed):
    with adbc_connect(observed.uri, token="second-secret") as conn:
        run(conn, "SELECT count(*) AS n FROM default.flowers WHERE species = 'versicolor'")
    assert wait_for(lambda: [q for q in queries(observed, "second-secret") if "versicolor" in q["sql"]], 10)
    mine = queries(observed, "first-secret", limit="10000")
    assert mine and {q["principal"] for q in mine} == {"token1"}
    everyone = {q["principal"] for q in queries(observed, "second-secret", limit="10000")}
    assert {"token1", "token2"} <= everyone
    someone_elses = next(q for q in queries(observed, "second-secret") if q["principal"] == "token2")
    refused = requests.post(f"http://{observed.address}/api/v1/queries/{someone_elses['query_id']}/cancel",
                            headers={"authorization": "Bearer first-secret"}, timeout=10)
    assert refused.status_code == 404, refused.text
    bad = requests.get(f"http://{observed.address}/api/v1/queries", params={"state": "sleeping"},
                       headers={"authorization": "Bearer first-secret"}, timeout=10)
    assert bad.status_code == 400 and "state" in bad.json()["details"]


def test_workloads_and_writes_are_recorded_with_their_protocol(observed):
    body = json.dumps({"mode": "query", "query": "SELECT species FROM f WHERE sepal_width > 4", "tables": ["f=default.flowers"]})
    with flight.connect(observed.uri) as client:
        options = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer first-secret")])
        list(client.do_action(flight.Action("floe.run", body.encode()), options))
    response = requests.post(f"http://{observed.address}/api/v1/warehouse/polars", headers={"authorization": "Bearer first-secret"},
                             json={"mode": "query", "query": "SELECT count(*) AS n FROM f", "tables": ["f=default.flowers"]}, timeout=30)
    assert response.status_code == 200, response.text
    with adbc_connect(observed.uri, token="first-secret") as conn:
        run(conn, "CREATE TABLE default.recorded AS SELECT * FROM default.flowers WHERE petal_width > 2")
    def recorded():
        return {q["protocol"] + ":" + q["kind"] for q in queries(observed, "first-secret", limit="10000")}
    assert wait_for(lambda: {"floe.run:SELECT", "http:SELECT", "flight:CREATE"} <= recorded(), 10), recorded()
    (created,) = [q for q in queries(observed, "first-secret") if q["kind"] == "CREATE"]
    assert created["rows"] == 23 and created["tables"] == ["default.recorded"] and created["state"] == "finished"


def test_the_history_survives_a_restart(tmp_path):
    server = FloeServer(tmp_path, "--no-scripts")
    with adbc_connect(server.uri) as conn:
        run(conn, "SELECT 'remember me' AS note")
    assert wait_for(lambda: [q for q in queries(server, "") if "remember me" in q["sql"] and q["state"] == "finished"], 10)
    server.stop()
    again = FloeServer(tmp_path, "--no-scripts")
    try:
        rows = system_queries(again, None, "sql = 'SELECT ''remember me'' AS note' AND state = 'finished'")
        assert len(rows) == 1 and rows[0]["rows"] == 1
    finally:
        again.stop()


def test_the_observatory_asks_for_flights_credentials_and_keeps_a_session(tmp_path):
    from harness import free_port

    port = free_port()
    server = FloeServer(tmp_path, "--no-scripts", "--token", "first-secret", "--user", "ana:pw", "--http-listen", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    try:
        page = requests.get(f"{base}/queries", allow_redirects=False, timeout=10)
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert requests.get(f"{base}/api/v1/queries", timeout=10).status_code == 401
        refused = requests.post(f"{base}/login", data={"user": "ana", "password": "wrong"}, allow_redirects=False, timeout=10)
        assert refused.status_code == 401 and "invalid user name or password" in refused.text
        for form in ({"user": "ana", "password": "pw"}, {"token": "first-secret"}):
            session = requests.Session()
            login = session.post(f"{base}/login", data=form, allow_redirects=False, timeout=10)
            assert login.status_code == 303 and "HttpOnly" in login.headers["set-cookie"], login.text
            assert session.get(f"{base}/queries", timeout=10).status_code == 200
            assert session.get(f"{base}/api/v1/queries", timeout=10).json()["ok"]
        # A bearer token works without logging in, as on the Flight port.
        assert requests.get(f"{base}/api/v1/cluster", headers={"authorization": "Bearer first-secret"}, timeout=10).json()["role"] == "single"
    finally:
        server.stop()


def test_the_history_file_keeps_at_most_the_newest_queries_asked_for(tmp_path):
    import sqlite3

    server = FloeServer(tmp_path, "--no-scripts", "--history-max-queries", "10")
    try:
        with flight.connect(server.uri) as client:
            descriptor = flight.FlightDescriptor.for_command(statement_query("SELECT 1"))
            for _ in range(150):
                client.do_get(client.get_flight_info(descriptor).endpoints[0].ticket).read_all()

        def kept() -> tuple[int, int]:
            with sqlite3.connect(tmp_path / "history.db") as db:
                return db.execute("SELECT count(*), coalesce(max(rowid), 0) FROM queries").fetchone()
        assert wait_for(lambda: kept()[1] >= 150, 10), kept()
        # Trimmed when the 100th record was written: the newest 10 then, and what came after.
        count, written = kept()
        assert 10 <= count <= written - 90, (count, written)
    finally:
        server.stop()


def test_a_history_bound_that_is_not_a_count_is_refused_at_start_up(tmp_path):
    import subprocess

    from harness import floe_binary

    done = subprocess.run([floe_binary(), "serve", "--history-max-queries", "lots", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "--history-max-queries" in done.stderr and "lots" in done.stderr, done.stderr
