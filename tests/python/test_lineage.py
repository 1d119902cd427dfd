"""OpenLineage: every workload that reads or writes tables sends START then
COMPLETE (or FAIL) run events, to an HTTP receiver started here (the
`/api/v1/lineage` endpoint Marquez and oleander accept, with the bearer
token from the environment) and to a file, one JSON object a line. Each
event is checked against the spec (openlineage_spec.py); datasets are named
by table location with the catalog name as a symlink, as Spark's Iceberg
integration names them."""

import base64
import http.server
import json
import threading
import uuid

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from clients import adbc_connect
from floe_sql import run
from harness import QUICK, Cluster, FloeServer, wait_for
from openlineage_spec import validate_event

API_KEY = "lineage-secret"


class Receiver:
    """An HTTP server keeping every event POSTed to /api/v1/lineage."""

    def __init__(self):
        self.events, self.authorizations = [], []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.path == "/api/v1/lineage":
                    receiver.events.append(json.loads(body))
                    receiver.authorizations.append(self.headers.get("authorization"))
                    self.send_response(201)
                else:
                    self.send_response(404)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def lineage_server(receiver, tmp_path_factory):
    root = tmp_path_factory.mktemp("lineage")
    server = FloeServer(root, "--openlineage-url", receiver.url, "--openlineage-file", str(root / "lineage.jsonl"),
                        "--openlineage-namespace", "analytics", env={"FLOE_OPENLINEAGE_API_KEY": API_KEY})
    server.lineage_file = root / "lineage.jsonl"
    yield server
    assert server.alive(), server.logs()
    server.stop()


def run_events(receiver, predicate, final=("COMPLETE", "FAIL", "ABORT"), besides=()) -> list[dict]:
    """The events of the one run whose START matches `predicate` (not one of the
    runs `besides`, seen already: a later run's events may not have arrived yet),
    once it has ended."""
    def events():
        starts = [e for e in receiver.events if e["eventType"] == "START" and predicate(e) and e["run"]["runId"] not in besides]
        if not starts:
            return []
        run_id = starts[-1]["run"]["runId"]
        return [e for e in receiver.events if e["run"]["runId"] == run_id]
    assert wait_for(lambda: any(e["eventType"] in final for e in events()), 15), receiver.events[-4:]
    found = events()
    for event in found:
        validate_event(event)
    return found


def by_sql(text: str):
    return lambda e: e["job"]["facets"].get("sql", {}).get("query") == text


def dataset(events: list[dict], kind: str, table: str) -> dict:
    final = events[-1]
    return next(d for d in final[kind] if d["facets"]["symlinks"]["identifiers"][0]["name"] == table)


def test_a_select_is_one_run_with_its_input(receiver, lineage_server):
    sql = "SELECT species, avg(sepal_length) AS mean FROM default.flowers GROUP BY species"
    with adbc_connect(lineage_server.uri) as conn:
        assert run(conn, sql).num_rows == 3
    events = run_events(receiver, by_sql(sql))
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    complete = events[-1]
    assert complete["job"]["namespace"] == "analytics" and complete["job"]["name"].startswith("select_")
    assert complete["job"]["facets"]["jobType"]["jobType"] == "QUERY"
    assert complete["job"]["facets"]["jobType"]["integration"] == "FLOE"
    assert complete["run"]["facets"]["processing_engine"]["name"] == "Floe"
    uuid.UUID(complete["run"]["runId"])
    flowers = dataset(events, "inputs", "default.flowers")
    assert flowers["namespace"] == "file" and flowers["name"].endswith("/warehouse/default/flowers")
    assert flowers["facets"]["symlinks"]["identifiers"][0]["type"] == "TABLE"
    assert [f["name"] for f in flowers["facets"]["schema"]["fields"]][-1] == "species"
    assert flowers["facets"]["catalog"]["framework"] == "iceberg" and flowers["facets"]["catalog"]["type"] == "sql"
    assert int(flowers["facets"]["version"]["datasetVersion"]) != 0
    assert complete["outputs"] == []
    # The same job run again is the same job; a different statement is another.
    with adbc_connect(lineage_server.uri) as conn:
        run(conn, sql)
    again = run_events(receiver, by_sql(sql), besides={complete["run"]["runId"]})
    assert again[-1]["job"]["name"] == complete["job"]["name"] and again[-1]["run"]["runId"] != complete["run"]["runId"]
    assert all(a == f"Bearer {API_KEY}" for a in receiver.authorizations)


def test_the_file_transport_has_the_same_events(receiver, lineage_server):
    with adbc_connect(lineage_server.uri) as conn:
        run(conn, "SELECT count(*) FROM default.flowers")

    def keys(events):
        return {(e["run"]["runId"], e["eventType"]) for e in events}

    def written():
        return [json.loads(line) for line in lineage_server.lineage_file.read_text().splitlines()]
    assert wait_for(lambda: lineage_server.lineage_file.exists() and len(written()) >= 2 and keys(written()) == keys(receiver.events), 10)
    for event in written():
        validate_event(event)


def test_ctas_and_insert_have_outputs_statistics_and_column_lineage(receiver, lineage_server):
    ctas = "CREATE TABLE default.sized AS SELECT species, sepal_length * 2 AS twice FROM default.flowers"
    insert = "INSERT INTO default.sized (species, twice) SELECT f.species, f.petal_length + f.petal_width FROM default.flowers f WHERE f.species = 'setosa'"
    with adbc_connect(lineage_server.uri) as conn:
        run(conn, ctas)
        run(conn, insert)
    created = run_events(receiver, by_sql(ctas))
    assert [e["eventType"] for e in created] == ["START", "COMPLETE"]
    output = dataset(created, "outputs", "default.sized")
    statistics = output["outputFacets"]["outputStatistics"]
    assert statistics["rowCount"] == 150 and statistics["fileCount"] >= 1 and statistics["size"] > 0
    flowers = dataset(created, "inputs", "default.flowers")
    lineage = output["facets"]["columnLineage"]["fields"]
    assert lineage["twice"]["inputFields"] == [{"namespace": flowers["namespace"], "name": flowers["name"], "field": "sepal_length"}]
    assert lineage["species"]["inputFields"][0]["field"] == "species"
    inserted = run_events(receiver, by_sql(insert))
    output = dataset(inserted, "outputs", "default.sized")
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 50
    assert int(output["facets"]["version"]["datasetVersion"]) != int(dataset(created, "outputs", "default.sized")["facets"]["version"]["datasetVersion"])
    fields = output["facets"]["columnLineage"]["fields"]
    assert sorted(f["field"] for f in fields["twice"]["inputFields"]) == ["petal_length", "petal_width"]


def test_an_ingest_is_a_run_writing_its_table(receiver, lineage_server):
    with adbc_connect(lineage_server.uri) as conn:
        with conn.cursor() as cursor:
            cursor.adbc_ingest("ingested", pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"]}), mode="create", db_schema_name="default")
    events = run_events(receiver, lambda e: e["job"]["name"] == "ingest_floe.default.ingested")
    output = dataset(events, "outputs", "default.ingested")
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3 and events[-1]["inputs"] == []


def floe_run(server, request: dict, headers=()) -> dict:
    options = flight.FlightCallOptions(headers=list(headers))
    with flight.connect(server.uri) as client:
        return json.loads(list(client.do_action(flight.Action("floe.run", json.dumps(request).encode()), options))[0].body.to_pybytes())


def test_a_floe_run_with_a_destination_links_to_its_parent(receiver, lineage_server):
    parent_run = str(uuid.uuid4())
    headers = [(b"x-openlineage-parent-run-id", parent_run.encode()), (b"x-openlineage-parent-job-namespace", b"dagster"),
               (b"x-openlineage-parent-job-name", b"daily_flowers"), (b"x-openlineage-job-name", b"flowers_by_species")]
    answer = floe_run(lineage_server, {"mode": "query", "query": "SELECT species, count(*) AS n FROM f GROUP BY species",
                                       "tables": ["f=default.flowers"], "destination": "default.species_counts"}, headers)
    assert answer["saved"]["rowsWritten" if "rowsWritten" in answer["saved"] else "rows_written"] == 3
    events = run_events(receiver, lambda e: e["job"]["name"] == "flowers_by_species")
    parent = events[-1]["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == parent_run and parent["job"] == {"namespace": "dagster", "name": "daily_flowers"}
    output = dataset(events, "outputs", "default.species_counts")
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert dataset(events, "inputs", "default.flowers")
    assert output["facets"]["columnLineage"]["fields"]["species"]["inputFields"][0]["field"] == "species"


def test_a_script_is_a_script_job_with_what_it_scanned(receiver, lineage_server):
    script = "result = scan('default.flowers').filter(pl.col('species') == 'virginica').select('petal_width')"
    answer = floe_run(lineage_server, {"mode": "script", "script": script, "destination": "default.virginica"})
    assert answer["success"], answer
    events = run_events(receiver, lambda e: e["job"]["facets"]["jobType"]["jobType"] == "SCRIPT")
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert dataset(events, "inputs", "default.flowers") and dataset(events, "outputs", "default.virginica")
    assert "sql" not in events[-1]["job"]["facets"]


def test_a_failed_query_is_a_fail_event_with_the_error(receiver, lineage_server):
    sql = "SELECT CAST(species AS INT) AS broken FROM default.flowers"
    with adbc_connect(lineage_server.uri) as conn:
        with pytest.raises(Exception):
            run(conn, sql)
    events = run_events(receiver, by_sql(sql))
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    error = events[-1]["run"]["facets"]["errorMessage"]
    assert error["programmingLanguage"] == "SQL" and "conversion" in error["message"].lower(), error


def test_a_distributed_query_is_reported_once_by_its_coordinator(tmp_path):
    files = {name: tmp_path / f"{name}.jsonl" for name in ("coordinator", "workers")}
    cluster = Cluster(tmp_path / "cluster", workers=2, coordinator=(*QUICK, "--openlineage-file", str(files["coordinator"])),
                      env={"FLOE_OPENLINEAGE_FILE": str(files["workers"])})
    try:
        with cluster.connect(False) as conn:
            run(conn, "CREATE TABLE default.spread (species VARCHAR, x DOUBLE) PARTITIONED BY (species)")
            run(conn, "INSERT INTO default.spread SELECT species, sepal_length FROM default.flowers")
        sql = "SELECT species, count(*) AS n FROM default.spread GROUP BY species"
        info = cluster.flight_info(sql)
        assert cluster.fetch(info).num_rows == 3

        def events():
            if not files["coordinator"].exists():
                return []
            return [json.loads(line) for line in files["coordinator"].read_text().splitlines()]
        assert wait_for(lambda: any(e["eventType"] == "COMPLETE" and by_sql(sql)(e) for e in events()), 15)
        runs = [e for e in events() if by_sql(sql)(e)]
        assert [e["eventType"] for e in runs] == ["START", "COMPLETE"]
        for event in runs:
            validate_event(event)
        assert runs[-1]["inputs"][0]["facets"]["symlinks"]["identifiers"][0]["name"] == "default.spread"
        # Workers ran partitions for the coordinator: not runs of their own.
        worker_events = files["workers"].read_text().splitlines() if files["workers"].exists() else []
        assert not [e for e in map(json.loads, worker_events) if by_sql(sql)(e)]
    finally:
        cluster.stop()


def test_a_receiver_that_is_down_never_fails_the_work(tmp_path):
    server = FloeServer(tmp_path, "--no-scripts", "--openlineage-url", "http://127.0.0.1:9")
    try:
        with adbc_connect(server.uri) as conn:
            for _ in range(3):
                assert run(conn, "SELECT count(*) AS n FROM default.flowers").column("n").to_pylist() == [150]
    finally:
        server.stop()
