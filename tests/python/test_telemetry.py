"""OpenTelemetry: a real OTLP/gRPC receiver (otlp_receiver.py) gets Floe's
traces and metrics. A client's W3C `traceparent` continues its trace through
planning, scans, execution, IPC encoding and commits; a distributed query's
workers join the coordinator's trace under its partition spans; JSON log
lines carry the trace and span ids; the metrics arrive."""

import json
import os
import secrets

import pyarrow.flight as flight
import pytest

from clients import adbc_connect
from floe_sql import run
from flight_sql_wire import statement_query
from harness import QUICK, Cluster, FloeServer, wait_for
from otlp_receiver import OtlpReceiver

# Export quickly: spans every 200 ms, metrics every 500 ms.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "500"}


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


@pytest.fixture(scope="module")
def receiver():
    receiver = OtlpReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def traced(receiver, tmp_path_factory):
    server = FloeServer(tmp_path_factory.mktemp("traced"), "--no-scripts", "--log-format", "json",
                        "--otlp-endpoint", receiver.endpoint, env={**FAST_EXPORT, "OTEL_SERVICE_NAME": "floe-under-test"})
    yield server
    assert server.alive(), server.logs()
    server.stop()


def trace(receiver, trace_id: str, wanted: set[str]) -> list:
    """The spans of one trace, once every wanted name has arrived."""
    def spans():
        return [s for s in receiver.spans() if s.trace_id == trace_id]
    assert wait_for(lambda: wanted <= {s.name for s in spans()}, 15), sorted({s.name for s in spans()})
    return spans()


def children(spans, parent) -> dict:
    return {s.name: s for s in spans if s.parent_id == parent.span_id}


def rpc_with(spans, method: str, child: str):
    """The call of `method` that did `child` (ADBC also makes metadata calls)."""
    return next(s for s in spans if s.name == method and child in children(spans, s))


def test_a_query_is_one_trace_continuing_the_clients(receiver, traced):
    header, trace_id, client_span = traceparent()
    with adbc_connect(traced.uri, **{"adbc.flight.sql.rpc.call_header.traceparent": header}) as conn:
        assert run(conn, "SELECT species, count(*) AS n FROM default.flowers WHERE sepal_length > 5 GROUP BY species").num_rows == 3
    spans = trace(receiver, trace_id, {"GetFlightInfo", "DoGet", "scan", "execute", "ipc.encode"})
    assert {s.service for s in spans} == {"floe-under-test"}  # OTEL_SERVICE_NAME is honoured
    # ADBC prepares first: the statement is parsed, rewritten and planned under that DoAction.
    prepared = rpc_with(spans, "DoAction", "polars.plan")
    planning = children(spans, prepared)
    assert {"sql.parse", "sql.rewrite", "resolve", "polars.plan"} <= set(planning), sorted(planning)
    # GetFlightInfo of the prepared ticket pins the tables again but reuses the analysis and the planned schema.
    rpcs = {"GetFlightInfo": rpc_with(spans, "GetFlightInfo", "resolve"), "DoGet": rpc_with(spans, "DoGet", "scan")}
    assert {s.parent_id for s in [*rpcs.values(), prepared]} == {client_span}
    for rpc in ("GetFlightInfo", "DoGet"):
        assert rpcs[rpc].attributes["rpc.grpc.status_code"] == 0 and rpcs[rpc].attributes["rpc.system"] == "grpc"
    assert not {"sql.parse", "polars.plan"} & set(children(spans, rpcs["GetFlightInfo"]))
    running = children(spans, rpcs["DoGet"])
    assert {"admission", "resolve", "scan", "polars.plan", "execute", "ipc.encode"} <= set(running), sorted(running)
    scan = running["scan"].attributes
    assert (scan["table"], scan["files_selected"], scan["files_total"]) == ("default.flowers", 1, 1)
    assert scan["bytes_planned"] > 0 and "Polars" in scan["reader"]
    encode = running["ipc.encode"].attributes
    assert encode["messages"] >= 2 and encode["encode_ms"] >= 0
    # The DoGet span lasts until the last byte: it encloses execution.
    assert rpcs["DoGet"].start <= running["execute"].start and running["execute"].end <= rpcs["DoGet"].end


def test_a_write_traces_its_commit(receiver, traced):
    header, trace_id, client_span = traceparent()
    with adbc_connect(traced.uri, **{"adbc.flight.sql.rpc.call_header.traceparent": header}) as conn:
        run(conn, "CREATE TABLE default.traced_copy AS SELECT * FROM default.flowers")
    spans = trace(receiver, trace_id, {"commit"})
    commit = next(s for s in spans if s.name == "commit")
    assert commit.attributes["retries"] == 0 and commit.attributes["snapshot_id"] != 0
    parent = next(s for s in spans if s.span_id == commit.parent_id)
    assert parent.name == "GetFlightInfo"  # a statement that writes runs when planned


def test_a_failed_call_is_an_error_span_and_a_failure_metric(receiver, traced):
    header, trace_id, _ = traceparent()
    with adbc_connect(traced.uri, **{"adbc.flight.sql.rpc.call_header.traceparent": header}) as conn:
        with pytest.raises(Exception, match="no_such_table"):
            run(conn, "SELECT * FROM default.no_such_table")
    spans = trace(receiver, trace_id, {"DoAction"})
    failed = [s for s in spans if s.attributes.get("rpc.grpc.status_code") == 5]  # NOT_FOUND
    assert failed and all(s.status_code == 2 for s in failed)  # ERROR
    assert wait_for(lambda: any(p.name == "floe.rpc.failures" and p.attributes.get("rpc.grpc.status_code") == 5
                                for p in receiver.points()), 10)


def test_metrics_arrive(receiver, traced):
    with adbc_connect(traced.uri) as conn:
        assert run(conn, "SELECT * FROM default.flowers").num_rows == 150

    def latest(name: str, **attributes):
        points = [p for p in receiver.points() if p.name == name and p.service == "floe-under-test"
                  and all(p.attributes.get(k) == v for k, v in attributes.items())]
        return points[-1].value if points else None

    assert wait_for(lambda: (latest("floe.statement.rows", kind="SELECT") or 0) >= 150, 10)
    assert latest("floe.rpc.requests", **{"rpc.method": "DoGet", "rpc.grpc.status_code": 0}) >= 1
    assert latest("floe.statement.duration", kind="SELECT", outcome="ok") >= 1  # a histogram: its count
    assert latest("floe.statement.bytes", kind="SELECT") > 150 * 8
    assert latest("floe.storage.duration", operation="load_table") >= 1
    assert latest("floe.queries.active") is not None
    # The data cache (on by default): the first read misses and fills it, a later one hits.
    assert latest("floe.data_cache.reads", outcome="miss") >= 1
    assert wait_for(lambda: (latest("floe.data_cache.bytes") or 0) > 0, 10)

    def read_again_and_hit() -> bool:
        with adbc_connect(traced.uri) as conn:
            assert run(conn, "SELECT * FROM default.flowers").num_rows == 150
        return (latest("floe.data_cache.reads", outcome="hit") or 0) >= 1

    assert wait_for(read_again_and_hit, 15, interval=0.25)


def test_json_log_lines_carry_the_trace(receiver, traced):
    header, trace_id, _ = traceparent()
    with adbc_connect(traced.uri, **{"adbc.flight.sql.rpc.call_header.traceparent": header}) as conn:
        run(conn, "SELECT count(*) FROM default.flowers WHERE species = 'setosa'")

    def statement_lines():
        lines = [json.loads(line) for line in traced.logs().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("target") == "floe::statement" and line.get("trace_id") == trace_id]
    assert wait_for(lambda: statement_lines(), 10), traced.logs()[-2000:]
    line = statement_lines()[0]
    spans = trace(receiver, trace_id, {"DoGet", "execute"})
    assert line["span_id"] == rpc_with(spans, "DoGet", "execute").span_id and line["outcome"] == "ok"


def test_a_distributed_query_is_one_trace_across_nodes(receiver, tmp_path):
    cluster = Cluster(tmp_path, "--otlp-endpoint", receiver.endpoint, workers=2, coordinator=QUICK, env=FAST_EXPORT)
    try:
        with cluster.connect(False) as conn:
            run(conn, "CREATE TABLE default.spread (species VARCHAR, sepal_length DOUBLE) PARTITIONED BY (species)")
            run(conn, "INSERT INTO default.spread SELECT species, sepal_length FROM default.flowers")
        header, trace_id, client_span = traceparent()
        body = json.dumps({"mode": "query", "query": "SELECT species, count(*) AS n FROM default.spread GROUP BY species",
                           "distributed": True}).encode()
        options = flight.FlightCallOptions(headers=[(b"traceparent", header.encode())])
        with flight.connect(cluster.coordinator.uri) as client:
            answer = json.loads(list(client.do_action(flight.Action("floe.run", body), options))[0].body.to_pybytes())
        assert answer["compute"]["distributed"], answer
        spans = trace(receiver, trace_id, {"partition", "scan"})
        partitions = [s for s in spans if s.name == "partition" and s.service == "floe"]
        assert len(partitions) == answer["compute"]["clusterSize"] and len(partitions) >= 2
        def on_workers():
            return [s for s in receiver.spans() if s.trace_id == trace_id and s.service == "floe-worker" and s.name == "DoGet"]
        assert wait_for(lambda: len(on_workers()) >= len(partitions), 10), on_workers()
        on_workers = on_workers()
        assert {s.parent_id for s in on_workers} == {p.span_id for p in partitions}
        workers = {p.attributes["worker"] for p in partitions}
        assert len(workers) == 2, workers
        # Each worker's DoGet has its own scan of the partition's files. A
        # scan span ends with the stream, which may be after DoGet's span
        # (ended when the handler returned) went out in an earlier export.
        def worker_scans():
            return [s for s in receiver.spans() if s.trace_id == trace_id and s.service == "floe-worker" and s.name == "scan"]
        assert wait_for(lambda: len(worker_scans()) >= len(on_workers), 10), worker_scans()
        assert len(worker_scans()) == len(on_workers)
        assert wait_for(lambda: any(p.name == "floe.cluster.workers" and p.value == 2 for p in receiver.points()), 10)
    finally:
        cluster.stop()


def test_an_http_workload_continues_the_callers_trace(receiver, traced):
    import requests

    header, trace_id, client_span = traceparent()
    response = requests.post(f"http://{traced.address}/api/v1/warehouse/query", headers={"traceparent": header},
                             json={"query": "SELECT count(*) AS n FROM default.flowers"}, timeout=30)
    assert response.status_code == 200, response.text
    route = "POST /api/v1/warehouse/query"
    spans = trace(receiver, trace_id, {route, "scan", "execute"})
    request = next(s for s in spans if s.name == route)
    assert request.parent_id == client_span and request.attributes["http.route"] == route
    assert {s.trace_id for s in spans} == {trace_id} and any(s.parent_id == request.span_id for s in spans)
