"""A query's page in the observatory, as JSON and as `system` tables: the
snapshots it read (pinned, so a later commit does not change its plan or
profile), the time it waited for a slot, planned and streamed, Polars'
per-operator profile (also `EXPLAIN ANALYZE`), the snapshot a write
committed, and `system.sessions` / `system.workers`; on a coordinator, the
partitions and shuffle map tasks each worker ran, and their totals."""

import threading

import pyarrow.flight as flight
import pytest
import requests

from clients import adbc_connect
from floe_sql import run
from flight_sql_wire import statement_query
from harness import QUICK, Cluster, FloeServer, wait_for

SLOW = "SELECT a.species, b.sepal_length, c.petal_width FROM default.flowers a, default.flowers b, default.flowers c"
AUTH = {"authorization": "Bearer first-secret"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # One query slot: a second query waits in the queue while the first runs.
    server = FloeServer(tmp_path_factory.mktemp("details"), "--no-scripts", "--token", "first-secret", "--max-concurrent-queries", "1")
    yield server
    server.stop()


def api(server, path: str, method: str = "get") -> dict:
    response = getattr(requests, method)(f"http://{server.address}{path}", headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def recorded(server, predicate) -> dict:
    found = []
    assert wait_for(lambda: found.extend(q for q in api(server, "/api/v1/queries?limit=10000")["queries"] if predicate(q)) or found, 10)
    return found[0]


def snapshot_ids(conn, table: str) -> list[int]:
    return run(conn, f'SELECT snapshot_id FROM {table.split(".")[0]}."{table.split(".")[1]}$snapshots" ORDER BY committed_at').column(0).to_pylist()


def test_a_query_records_its_snapshots_and_phases_and_is_profiled_at_them(server):
    with adbc_connect(server.uri, token="first-secret") as conn:
        run(conn, "CREATE TABLE default.pinned AS SELECT * FROM default.flowers WHERE species = 'setosa'")
        (created_at,) = snapshot_ids(conn, "default.pinned")
        assert run(conn, "SELECT species, sepal_length FROM default.pinned WHERE sepal_length > 0").num_rows == 50
        run(conn, "INSERT INTO default.pinned SELECT * FROM default.flowers WHERE species = 'virginica'")
        inserted_at = snapshot_ids(conn, "default.pinned")[-1]
    create = recorded(server, lambda q: q["kind"] == "CREATE" and "default.pinned" in q["sql"])
    assert create["committed_snapshot"] == created_at, create
    insert = recorded(server, lambda q: q["kind"] == "INSERT" and "default.pinned" in q["sql"])
    assert insert["committed_snapshot"] == inserted_at and inserted_at != created_at
    query = recorded(server, lambda q: "sepal_length > 0" in q["sql"] and q["state"] == "finished")
    (scan,) = query["scans"]
    assert (scan["table"], scan["snapshot_id"], scan["files_selected"], scan["files_total"]) == ("default.pinned", created_at, 1, 1), scan
    assert scan["bytes_planned"] > 0 and scan["reader"]
    assert query["queued_ms"] is not None and query["planned_ms"] is not None and query["first_rows_ms"] is not None
    assert query["queued_ms"] <= query["planned_ms"] <= query["first_rows_ms"] <= query["elapsed_ms"], query
    detail = api(server, f"/api/v1/queries/{query['query_id']}")
    # The plan and profile are at the snapshot it read: 50 rows, not the 100 the table has now.
    assert f"ICEBERG SCAN default.pinned: snapshot {created_at}" in detail["plan"], detail["plan"]
    profile = api(server, f"/api/v1/queries/{query['query_id']}/profile", "post")
    assert any(line.startswith("RESULT: 50 rows, 2 columns") for line in profile["plan"]), profile["plan"]
    assert profile["operators"] and all(0 <= o["start_us"] <= o["end_us"] for o in profile["operators"])
    # The filter is timed as an operator of its own, or (pushed into the
    # Parquet reader, which Polars' profiler does not time) shows in the scan.
    timed = any("filter" in o["operator"].lower() or "scan" in o["operator"].lower() for o in profile["operators"])
    in_scan = any("SELECTION:" in line and "sepal_length" in line for line in profile["plan"])
    assert timed or in_scan, (profile["operators"], profile["plan"])
    refused = requests.post(f"http://{server.address}/api/v1/queries/{insert['query_id']}/profile", headers=AUTH, timeout=10)
    assert refused.status_code == 400 and "INSERT" in refused.json()["details"], refused.text


def test_explain_analyze_answers_each_operators_time(server):
    with adbc_connect(server.uri, token="first-secret") as conn:
        table = run(conn, "EXPLAIN ANALYZE SELECT a.species, count(*) AS n FROM default.flowers a JOIN default.flowers b "
                          "ON a.species = b.species WHERE a.sepal_length > 5 GROUP BY a.species ORDER BY n")
    assert table.column_names == ["plan", "operator", "start_us", "end_us"]
    rows = table.to_pylist()
    assert rows[0]["plan"].startswith("FLOE SQL: SELECT a.species, count(*) AS n FROM default.flowers a JOIN default.flowers b")
    assert rows[1]["plan"].startswith("ICEBERG SCAN default.flowers: snapshot ")
    operators = [row for row in rows if row["operator"] is not None]
    assert operators and all(row["end_us"] >= row["start_us"] >= 0 for row in operators)
    names = [row["operator"] for row in operators]
    assert any(name.startswith("join(") for name in names) and any(name.startswith("sort(") for name in names), names
    assert rows[-1]["plan"].startswith("RESULT: 3 rows, 2 columns")


def test_explain_shows_the_query_after_floes_rewrites(server):
    with adbc_connect(server.uri, token="first-secret") as conn:
        plan = run(conn, "EXPLAIN SELECT species FROM default.flowers WHERE sepal_length > "
                         "(SELECT avg(sepal_length) FROM default.flowers)").column("plan").to_pylist()
    # The scalar subquery, which Polars cannot plan, became a one-row relation joined in
    # (DISTINCT: Polars keeps an ungrouped aggregate's row only when its columns are read).
    assert plan[0].startswith("FLOE SQL: WITH __floe_sq1 AS (SELECT DISTINCT avg(") and "> (SELECT" not in plan[0], plan[0]


def test_a_query_waiting_for_a_slot_is_queued_then_runs(server):
    with flight.connect(server.uri) as client:
        options = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer first-secret")])
        reader = client.do_get(client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(SLOW)), options).endpoints[0].ticket, options)
        reader.read_chunk()  # the slow query holds the only slot while this client reads nothing
        waiting = "SELECT count(*) AS waiting FROM default.flowers"
        answers = []
        second = threading.Thread(target=lambda: answers.append(run_flight(server, waiting)), daemon=True)
        second.start()
        queued = recorded(server, lambda q: q["sql"] == waiting and q["state"] == "queued")
        slow = recorded(server, lambda q: q["sql"] == SLOW and q["state"] == "running")
        assert api(server, f"/api/v1/queries/{slow['query_id']}/cancel", "post")["cancelled"]
        with pytest.raises(flight.FlightCancelledError):
            while True:
                reader.read_chunk()
    second.join(30)
    assert answers == [150]
    done = recorded(server, lambda q: q["query_id"] == queued["query_id"] and q["state"] == "finished")
    assert done["queued_ms"] > 0, done


def run_flight(server, sql: str) -> int:
    with adbc_connect(server.uri, token="first-secret") as conn:
        return run(conn, sql).column(0)[0].as_py()


def test_system_sessions_and_workers_on_a_single_node(server):
    with adbc_connect(server.uri, token="first-secret") as conn:
        run(conn, "SELECT 1 AS one")
        sessions = run(conn, "SELECT * FROM system.sessions WHERE principal = 'token1' AND protocol = 'flight'").to_pylist()
        (node,) = run(conn, "SELECT * FROM system.workers").to_pylist()
    assert sessions and sum(s["statements"] for s in sessions) >= 2
    assert all(s["client"].startswith("127.0.0.1:") and s["first_seen"] <= s["last_seen"] for s in sessions if s["client"])
    assert node["role"] == "single" and node["address"] == server.address and node["last_heartbeat_ms"] is None
    assert wait_for(lambda: api(server, "/api/v1/cluster")["host"], 10)
    with adbc_connect(server.uri, token="first-secret") as conn:
        (node,) = run(conn, "SELECT cpu_percent, memory_total_bytes, process_rss_bytes FROM system.workers").to_pylist()
    assert 0 <= node["cpu_percent"] <= 100 and node["memory_total_bytes"] > 0 and node["process_rss_bytes"] > 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("details-cluster"), workers=2, coordinator=QUICK)
    with cluster.connect(False) as conn:
        run(conn, "CREATE SCHEMA dist")
        run(conn, "CREATE TABLE dist.big (id BIGINT, species VARCHAR, x DOUBLE) PARTITIONED BY (species)")
        run(conn, "INSERT INTO dist.big SELECT CAST(sepal_length * 10 AS BIGINT) AS id, species, petal_length AS x FROM default.flowers")
    yield cluster
    cluster.stop()


def test_a_distributed_query_shows_each_workers_partitions(cluster):
    sql = "SELECT species, count(*) AS n, sum(x) AS sx FROM dist.big GROUP BY species"
    with cluster.connect(True) as conn:
        assert run(conn, sql).num_rows == 3
    server = cluster.coordinator
    query = recorded(server, lambda q: q["sql"] == sql and q["state"] == "finished")
    tasks = requests.get(f"http://{server.address}/api/v1/queries/{query['query_id']}", timeout=10).json()["tasks"]
    assert len(tasks) >= 2 and {t["what"] for t in tasks} == {"partition"}, tasks
    assert {t["worker"] for t in tasks} == {w.address for w in cluster.workers}
    assert all(t["outcome"] == "ok" and t["elapsed_ms"] is not None for t in tasks)
    assert sum(t["rows"] for t in tasks) >= 3
    with cluster.connect(False) as conn:
        nodes = run(conn, "SELECT * FROM system.workers ORDER BY role, address").to_pylist()
    assert [n["role"] for n in nodes] == ["coordinator", "worker", "worker"]
    workers = nodes[1:]
    assert all(n["last_heartbeat_ms"] is not None and n["tasks_running"] == 0 for n in workers)
    assert sum(n["tasks_done"] for n in workers) >= len(tasks)
    views = requests.get(f"http://{server.address}/api/v1/cluster", timeout=10).json()["workers"]
    assert sum(w["tasks"]["tasks_done"] for w in views) == sum(n["tasks_done"] for n in workers)
