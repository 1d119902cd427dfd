"""The `floe.run` action (oleander's workload API) through plain pyarrow.flight."""

import base64
import json
import uuid

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from readers import pyiceberg_catalog


@pytest.fixture
def client(server):
    with flight.FlightClient(server.uri) as c:
        yield c


def run(client, request: dict) -> dict:
    results = list(client.do_action(flight.Action("floe.run", json.dumps(request).encode())))
    assert len(results) == 1
    return json.loads(results[0].body.to_pybytes())


def fetch(client, response: dict) -> pa.Table:
    return client.do_get(flight.Ticket(base64.b64decode(response["ticket"]))).read_all()


def failure(excinfo) -> dict:
    message = str(excinfo.value)
    return json.loads(message[message.index("{"):message.rindex("}") + 1])


def test_query_returns_count_columns_and_a_ticket(client):
    response = run(client, {
        "mode": "query",
        "query": "SELECT species, avg(sepal_length) AS avg_sepal_length FROM f GROUP BY species ORDER BY avg_sepal_length DESC",
        "tables": ["f=default.flowers"],
        "vcpus": 4,
    })
    assert response["success"] is True
    assert response["row_count"] == 3
    assert response["columns"] == ["species", "avg_sepal_length"]
    assert response["column_types"] == ["Utf8", "Float64"]
    assert response["execution_time"].endswith("ms")
    assert response["compute"] == {"mode": "local", "distributed": False, "vcpus": 4, "placement": "local",
                                   "shuffles": 0, "reruns": 0, "instanceType": None, "clusterSize": None}
    assert "saved" not in response
    table = fetch(client, response)
    assert table.column("species").to_pylist() == ["virginica", "versicolor", "setosa"]


def test_object_aliases_and_distributed_request_explains_itself(client):
    response = run(client, {
        "mode": "query",
        "query": "SELECT count(*) AS n FROM iris",
        "tables": [{"alias": "iris", "table": "default.flowers"}],
        "distributed": True,
        "clusterSize": 4,
    })
    assert fetch(client, response).column("n").to_pylist() == [150]
    assert response["compute"]["distributed"] is False and response["compute"]["placement"] == "local"
    assert "has no workers" in response["compute"]["reason"]


def test_destination_append_then_overwrite_keeps_history(client, server):
    table_name = f"runs.saved_{uuid.uuid4().hex[:8]}"  # the namespace does not exist yet
    request = {"mode": "query", "query": "SELECT * FROM default.flowers WHERE species = 'setosa'", "destination": table_name}
    first = run(client, {**request, "saveMode": "append"})
    assert first["saved"] == {"table": table_name, "rows_written": 50, "mode": "append",
                              "snapshot_id": first["saved"]["snapshot_id"]}
    assert "ticket" not in first
    second = run(client, {**request, "saveMode": "append"})
    catalog = pyiceberg_catalog(server)
    assert catalog.load_table(table_name).scan().to_arrow().num_rows == 100

    replaced = run(client, {"mode": "query", "query": "SELECT * FROM default.flowers LIMIT 7", "destination": table_name,
                            "saveMode": "overwrite"})
    table = catalog.load_table(table_name)
    assert replaced["saved"]["rows_written"] == 7
    assert table.current_snapshot().snapshot_id == replaced["saved"]["snapshot_id"]
    assert table.current_snapshot().summary.operation.value == "overwrite"
    assert table.scan().to_arrow().num_rows == 7
    assert table.scan(snapshot_id=second["saved"]["snapshot_id"]).to_arrow().num_rows == 100


def test_idempotency_key_makes_a_retry_a_no_op(client, server):
    table_name = f"runs.once_{uuid.uuid4().hex[:8]}"
    request = {"mode": "query", "query": "SELECT * FROM default.flowers", "destination": table_name, "saveMode": "append",
               "idempotencyKey": "load-2026-11-21"}
    first = run(client, request)
    retried = run(client, request)
    assert retried["saved"]["snapshot_id"] == first["saved"]["snapshot_id"]
    assert retried["saved"]["rows_written"] == 150
    assert pyiceberg_catalog(server).load_table(table_name).scan().to_arrow().num_rows == 150


@pytest.mark.parametrize("request_body, error_type, code, words", [
    ({"mode": "query", "query": "SELECT 1", "colour": "blue"}, pa.ArrowInvalid, "InvalidArgument", "unknown field `colour`"),
    ({"mode": "query", "query": "SELECT * FROM default.flowers", "vcpus": 3}, pa.ArrowInvalid, "InvalidArgument", "vcpus"),
    ({"mode": "query"}, pa.ArrowInvalid, "InvalidArgument", "`query` is required"),
    ({"mode": "query", "query": "SELECT * FROM f", "tables": ["no-equals-sign"]}, pa.ArrowInvalid, "InvalidArgument", "alias"),
    ({"mode": "query", "query": "SELECT * FROM default.nope"}, pa.ArrowKeyError, "NotFound", "default.nope"),
    ({"mode": "query", "query": "SELEC oops"}, pa.ArrowInvalid, "InvalidArgument", "syntax"),
    ({"mode": "script"}, pa.ArrowInvalid, "InvalidArgument", "`script` is required"),
])
def test_failures_are_json_with_the_right_code(client, server, request_body, error_type, code, words):
    with pytest.raises(error_type) as excinfo:
        run(client, request_body)
    body = failure(excinfo)
    assert body["error"] == code
    assert words in body["details"]
    assert server.alive()


def test_list_actions_describes_floe_run(client):
    descriptions = {a.type: a.description for a in client.list_actions()}
    assert "saveMode" in descriptions["floe.run"]


def test_a_result_past_the_inline_cap_is_stored_and_fetched_not_rerun(start_server):
    """Past `--inline-rows`, floe.run stores the rows as the workload runs
    and its ticket reads the stored result until it expires (a script with
    side effects runs once)."""
    import time

    floe = start_server("--inline-rows", "20", "--results-retention", "3s")
    with flight.FlightClient(floe.uri) as client:
        response = run(client, {"mode": "query", "query": "SELECT * FROM default.flowers"})
        assert response["row_count"] == 150
        assert fetch(client, response).num_rows == 150
        small = run(client, {"mode": "query", "query": "SELECT * FROM default.flowers LIMIT 5"})
        time.sleep(4)
        with pytest.raises(pa.ArrowException) as expired:
            fetch(client, response)
        assert "expired" in str(expired.value)
        assert fetch(client, small).num_rows == 5  # small results replay: their ticket lives on


def test_dml_through_floe_run_answers_its_count(client):
    table = f"runs.dml_{uuid.uuid4().hex[:8]}"
    run(client, {"mode": "query", "query": "SELECT * FROM default.flowers", "destination": table})
    response = run(client, {"mode": "query", "query": f"DELETE FROM {table} WHERE species = 'setosa'"})
    assert response["columns"] == ["rows_affected"] and fetch(client, response).column(0).to_pylist() == [50]
    counted = run(client, {"mode": "query", "query": f"SELECT count(*) AS n FROM {table}"})
    assert fetch(client, counted).column("n").to_pylist() == [100]
