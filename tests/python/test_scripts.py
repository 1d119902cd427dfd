"""Script mode through plain pyarrow.flight: users' Polars scripts in the
sandbox, their results by DoGet, their failures as JSON with the right code,
and hostile scripts stopped while the server keeps serving."""

import base64
import json
import os
import threading
import time
import uuid

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_sql_wire import CANCEL_STATUS_CANCELLED, cancel_flight_info_request

SEED_SCRIPT = """
table = params.get("table", "default.flowers")
limit = int(params.get("limit", 50))
flowers = scan(table)
result = (flowers.group_by("species")
    .agg(pl.len().alias("count"),
         pl.col("sepal_length").mean().round(2).alias("avg_sepal_length"),
         pl.col("petal_length").mean().round(2).alias("avg_petal_length"))
    .sort("avg_sepal_length", descending=True).head(limit))
"""


@pytest.fixture
def client(server):
    with flight.FlightClient(server.uri) as c:
        yield c


def run(client, request: dict, timeout=None) -> dict:
    options = flight.FlightCallOptions(timeout=timeout)
    action = flight.Action("floe.run", json.dumps(request).encode())
    results = list(client.do_action(action, options=options))
    assert len(results) == 1
    return json.loads(results[0].body.to_pybytes())


def script(client, source: str, **fields) -> dict:
    return run(client, {"mode": "script", "script": source, **fields})


def fetch(client, response: dict) -> pa.Table:
    return client.do_get(flight.Ticket(base64.b64decode(response["ticket"]))).read_all()


def failure(client, source: str, **fields) -> dict:
    with pytest.raises(Exception) as excinfo:
        script(client, source, **fields)
    message = str(excinfo.value)
    assert "{" in message, message
    return json.loads(message[message.index("{"):message.rindex("}") + 1])


def assert_healthy(client):
    """The server still answers queries and scripts after a failure."""
    response = run(client, {"mode": "query", "query": "SELECT count(*) AS n FROM default.flowers"})
    assert fetch(client, response).column("n").to_pylist() == [150]
    response = script(client, "result = scan('default.flowers').select(pl.len())")
    assert response["row_count"] == 1


def test_seed_script_returns_the_three_species(client):
    response = script(client, SEED_SCRIPT)
    assert response["success"] is True
    assert response["row_count"] == 3
    assert response["columns"] == ["species", "count", "avg_sepal_length", "avg_petal_length"]
    assert response["compute"] == {"mode": "local", "distributed": False, "vcpus": 2, "placement": "local",
                                   "shuffles": 0, "reruns": 0, "instanceType": None, "clusterSize": None}
    table = fetch(client, response)
    assert table.column("species").to_pylist() == ["virginica", "versicolor", "setosa"]
    assert table.column("count").to_pylist() == [50, 50, 50]
    assert table.column("avg_sepal_length").to_pylist() == [6.59, 5.94, 5.01]
    assert table.column("avg_petal_length").to_pylist() == [5.55, 4.26, 1.46]
    # Strings travel as plain Utf8 for older clients, as for SQL results.
    assert table.schema.field("species").type == pa.string()


def test_params_change_the_result(client):
    response = script(client, SEED_SCRIPT, params={"limit": "1"})
    assert response["row_count"] == 1
    assert fetch(client, response).column("species").to_pylist() == ["virginica"]


def test_vcpus_set_the_thread_count_the_script_sees(client):
    source = "result = pl.DataFrame({'threads': [pl.thread_pool_size()]})"
    for vcpus in (2, 4):
        response = script(client, source, vcpus=vcpus)
        assert response["compute"]["vcpus"] == vcpus
        assert fetch(client, response).column("threads").to_pylist() == [vcpus]


def test_filters_and_projections_reach_the_scan_and_stay_correct(client):
    # The first conjunct translates to SQL for pruning; the second (a string
    # function) does not and is applied inside the sandbox: both must hold.
    source = """
result = (scan("default.flowers")
    .filter((pl.col("sepal_length") > 7.0) & pl.col("species").str.starts_with("virg"))
    .select("sepal_length", "species")
    .sort("sepal_length"))
"""
    table = fetch(client, script(client, source))
    assert table.column_names == ["sepal_length", "species"]
    assert table.num_rows == 12
    assert min(table.column("sepal_length").to_pylist()) > 7.0
    limited = fetch(client, script(client, "result = scan('default.flowers').head(7)"))
    assert limited.num_rows == 7


def test_dataframe_results_and_empty_results(client):
    table = fetch(client, script(client, "result = pl.DataFrame({'a': [1, 2, 3], 'b': ['x', None, 'z']})"))
    assert table.to_pydict() == {"a": [1, 2, 3], "b": ["x", None, "z"]}
    response = script(client, "result = scan('default.flowers').filter(pl.col('sepal_length') < 0)")
    assert response["row_count"] == 0
    empty = fetch(client, response)
    assert empty.num_rows == 0
    assert "species" in empty.column_names


def test_script_results_saved_to_a_destination(client):
    name = f"default.script_dest_{uuid.uuid4().hex[:8]}"
    saved = script(client, SEED_SCRIPT, destination=name, saveMode="overwrite")["saved"]
    assert saved["rows_written"] == 3 and saved["mode"] == "overwrite"
    again = script(client, SEED_SCRIPT, destination=name, saveMode="append")["saved"]
    assert again["rows_written"] == 3 and again["snapshot_id"] != saved["snapshot_id"]
    table = pyiceberg_catalog_table(client, name)
    assert sorted(table.column("species").to_pylist()) == sorted(["virginica", "versicolor", "setosa"] * 2)


def pyiceberg_catalog_table(client, name):
    response = run(client, {"mode": "query", "query": f"SELECT * FROM {name}"})
    return fetch(client, response)


def test_catalog_is_a_read_only_pyiceberg_catalog(client):
    source = """
namespaces = [".".join(ns) for ns in catalog.list_namespaces()]
flowers = catalog.load_table("default.flowers")
result = pl.DataFrame({
    "has_default": ["default" in namespaces],
    "columns": [",".join(f.name for f in flowers.schema().fields)],
    "snapshots": [len(flowers.metadata.snapshots)],
    "listed": [("default", "flowers") in catalog.list_tables("default")],
})
"""
    row = fetch(client, script(client, source)).to_pylist()[0]
    assert row["has_default"] and row["listed"]
    assert row["columns"] == "sepal_length,sepal_width,petal_length,petal_width,species"
    assert row["snapshots"] >= 1
    body = failure(client, "catalog.create_namespace('evil')\nresult = pl.DataFrame()")
    assert body["error"] == "InvalidArgument"
    assert "read-only" in body["details"]


def test_each_workload_gets_a_fresh_process_and_scratch(client):
    source = """
import os
seen = os.path.exists("/tmp/floe-mark")
open("/tmp/floe-mark", "w").write("x")
result = pl.DataFrame({"seen": [seen]})
"""
    for _ in range(3):
        assert fetch(client, script(client, source)).column("seen").to_pylist() == [False]


@pytest.mark.parametrize("source, fields, words", [
    ("result = (\n  scan('default.flowers'\n", {}, "syntax error in the script at line 2"),
    ("x = 1\ny = 0\nresult = pl.DataFrame({'v': [x / y]})", {}, "ZeroDivisionError"),
    ("x = 1", {}, "did not assign `result`"),
    ("result = [1, 2, 3]", {}, "must be a polars LazyFrame or DataFrame, not list"),
    ("result = scan('default.nope')", {}, "default.nope"),
    ("result = scan(42)", {}, "table name"),
    ("result = pl.DataFrame({'n': [int(params['limit'])]})", {"params": {"limit": "ten"}}, "invalid literal for int()"),
    ("result = pl.DataFrame({'n': [params['missing']]})", {}, "KeyError"),
])
def test_bad_scripts_are_invalid_argument_with_actionable_details(client, server, source, fields, words):
    body = failure(client, source, **fields)
    assert body["error"] == "InvalidArgument"
    assert words in body["details"]
    assert server.alive()


def test_exceptions_carry_the_script_traceback(client):
    body = failure(client, "def f(x):\n    return x['nope']\n\nresult = f({})")
    assert "Traceback" in body["details"]
    assert "line 2" in body["details"] and "line 4" in body["details"]
    # The runner's own frames are noise to the script's author.
    assert "runner" not in body["details"]


@pytest.mark.parametrize("fields, words", [
    ({"params": {"limit": 5}}, "invalid floe.run request"),
    ({"timeoutSeconds": 0}, "timeoutSeconds"),
    ({"timeoutSeconds": 999999}, "timeoutSeconds"),
    ({"query": "SELECT 1"}, "scan("),
    ({"script": "   "}, "`script` is required"),
])
def test_bad_requests_are_refused_before_running(client, fields, words):
    body = failure(client, "result = pl.DataFrame()", **fields)
    assert body["error"] == "InvalidArgument"
    assert words in body["details"]


def test_hostile_reads_see_nothing_of_the_host(client, server):
    for path in ["/etc/shadow", str(server.data_dir / "catalog.db"), "/root/.bash_history"]:
        source = f"result = pl.DataFrame({{'x': [open({path!r}, 'rb').read()[:10]]}})"
        body = failure(client, source)
        assert body["error"] == "InvalidArgument", path
        assert "FileNotFoundError" in body["details"] or "PermissionError" in body["details"], body
    env = fetch(client, script(client, "import os\nresult = pl.DataFrame({'k': sorted(os.environ)})"))
    assert not [k for k in env.column("k").to_pylist() if k.startswith(("FLOE", "AWS"))]
    assert_healthy(client)


def test_hostile_writes_outside_scratch_fail(client):
    for path in ["/usr/evil", "/evil", "/root/.cache/evil"]:
        body = failure(client, f"open({path!r}, 'w').write('x')\nresult = pl.DataFrame()")
        assert body["error"] == "InvalidArgument"
        assert "Read-only file system" in body["details"] or "Permission" in body["details"], body
    # The scratch /tmp has a size limit.
    body = failure(client, "open('/tmp/big', 'wb').write(b'x' * (1 << 30))\nresult = pl.DataFrame()")
    assert "No space left on device" in body["details"]


def test_hostile_network_access_fails(client):
    body = failure(client, "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)\nresult = pl.DataFrame()")
    assert body["error"] == "InvalidArgument"
    assert "Network is unreachable" in body["details"]


def test_fork_bomb_hits_the_process_limit(client):
    body = failure(client, "import os\nwhile True:\n    os.fork()\nresult = pl.DataFrame()")
    assert body["error"] == "ResourceExhausted"
    # Every child is a whole Python with Polars loaded, so the memory limit
    # may stop the bomb before the process cap does; either is the sandbox's doing.
    assert "process limit" in body["details"] or "memory limit" in body["details"]
    assert_healthy(client)


def test_huge_allocation_hits_the_memory_limit(client):
    for source in ["x = bytearray(50 * 1024 ** 3)", "x = [bytearray(1 << 20) for _ in range(20_000)]"]:
        body = failure(client, source + "\nresult = pl.DataFrame()")
        assert body["error"] == "ResourceExhausted", body
        assert "memory limit" in body["details"]
    assert_healthy(client)


def test_endless_loop_hits_the_time_limit(client):
    started = time.monotonic()
    body = failure(client, "while True:\n    pass", timeoutSeconds=2)
    assert body["error"] == "DeadlineExceeded"
    assert "2-second time limit" in body["details"]
    assert time.monotonic() - started < 30
    assert_healthy(client)


def test_printing_gigabytes_hits_the_output_limit(client):
    body = failure(client, "while True:\n    print('x' * 1_000_000)")
    assert body["error"] == "ResourceExhausted"
    assert "output limit" in body["details"]
    assert_healthy(client)


def processes_named(marker: str) -> int:
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as comm:
                count += comm.read().strip() == marker
        except OSError:
            pass
    return count


def naming_script(marker: str, body: str) -> str:
    # The script renames its own process so the test can see it from the host.
    return f"import ctypes\nctypes.CDLL(None).prctl(15, {marker.encode()!r}, 0, 0, 0)\n{body}"


def wait_until_gone(marker: str, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if processes_named(marker) == 0:
            return True
        time.sleep(0.05)
    return False


def test_a_client_that_leaves_stops_its_workload(client):
    marker = f"gone{uuid.uuid4().hex[:8]}"
    # gRPC reports the client's own deadline as DEADLINE_EXCEEDED or, racing it, CANCELLED.
    with pytest.raises((flight.FlightTimedOutError, flight.FlightCancelledError)):
        run(client, {"mode": "script", "script": naming_script(marker, "import time\ntime.sleep(120)")}, timeout=2)
    assert wait_until_gone(marker), "the sandbox outlived its client"
    assert_healthy(client)


def test_cancel_flight_info_stops_a_script_doget(client):
    # The script sleeps only once the flag table has a snapshot, so the first
    # run (which returns the ticket) is quick and the DoGet replay is slow.
    flag = f"default.flag_{uuid.uuid4().hex[:8]}"
    run(client, {"mode": "query", "query": f"SELECT 1 AS x", "destination": flag})
    marker = f"cncl{uuid.uuid4().hex[:8]}"
    body = f"""
import time
if len(catalog.load_table({flag!r}).metadata.snapshots) > 1:
    time.sleep(120)
result = pl.DataFrame({{"ok": [True]}})
"""
    response = script(client, naming_script(marker, body))
    run(client, {"mode": "query", "query": "SELECT 2 AS x", "destination": flag})
    ticket = flight.Ticket(base64.b64decode(response["ticket"]))
    outcome = {}

    def fetch_in_background():
        try:
            client.do_get(ticket).read_all()
            outcome["error"] = None
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    reader = threading.Thread(target=fetch_in_background)
    reader.start()
    deadline = time.monotonic() + 30
    while processes_named(marker) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_named(marker) > 0, "the replay never started"
    endpoint = flight.FlightEndpoint(ticket, [])
    info = flight.FlightInfo(pa.schema([("ok", pa.bool_())]), flight.FlightDescriptor.for_command(b""), [endpoint], -1, -1)
    action = flight.Action("CancelFlightInfo", cancel_flight_info_request(info.serialize()))
    assert [r.body.to_pybytes() for r in client.do_action(action)] == [CANCEL_STATUS_CANCELLED]
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert outcome["error"] is not None and "cancel" in str(outcome["error"]).lower()
    assert wait_until_gone(marker)


def test_results_larger_than_the_cap_are_refused(start_server):
    floe = start_server("--script-max-result-mb", "1")
    with flight.FlightClient(floe.uri) as other:
        small = script(other, "result = pl.DataFrame({'x': range(1000)})")
        assert small["row_count"] == 1000
        body = failure(other, "result = pl.select(x=pl.int_range(0, 5_000_000))")
    assert body["error"] == "ResourceExhausted"
    assert "result size limit (1 MiB)" in body["details"]


def test_pushed_down_filters_and_columns_reach_the_server(start_server, monkeypatch):
    monkeypatch.setenv("FLOE_LOG", "info,floe::script=debug")
    floe = start_server()
    with flight.FlightClient(floe.uri) as other:
        source = "result = scan('default.flowers').filter(pl.col('petal_width') >= 2.0).select('species')"
        assert script(other, source)["row_count"] == 29
    scans = [line for line in floe.logs().splitlines() if "script scan" in line]
    assert scans, floe.logs()
    # Polars projects the filter column too; the server reads only those two.
    assert any('"petal_width" >= 2.0' in line and "sepal_length" not in line for line in scans), scans


def test_script_mode_off_is_a_clear_precondition_failure(start_server):
    floe = start_server("--no-scripts")
    with flight.FlightClient(floe.uri) as other:
        body = failure(other, "result = pl.DataFrame()")
    assert body["error"] == "FailedPrecondition"
    assert "script mode is unavailable" in body["details"] and "--no-scripts" in body["details"]


def test_a_python_without_polars_is_refused_clearly(start_server, tmp_path):
    floe = start_server("--python", "/usr/bin/true")
    with flight.FlightClient(floe.uri) as other:
        body = failure(other, "result = pl.DataFrame()")
    assert body["error"] == "FailedPrecondition"
    assert "/usr/bin/true" in body["details"]
