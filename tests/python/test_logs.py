"""`--log-format json`: every line the server writes is one JSON object on
stdout, and every DoGet ends with one `floe::statement` line saying who ran
what, how many rows and bytes went out, how long it took and how it ended."""

import json

import pyarrow.flight as flight
import pytest

from clients import adbc_connect
from floe_sql import run
from flight_sql_wire import statement_query
from harness import wait_for


def records(server) -> list[dict]:
    lines = [line for line in server.logs().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    return parsed


def statements(server) -> list[dict]:
    return [r for r in records(server) if r.get("target") == "floe::statement"]


def test_json_lines_and_statement_completions(start_server):
    server = start_server("--no-scripts", "--log-format", "json")
    with adbc_connect(server.uri) as conn:
        table = run(conn, "SELECT species, sepal_length FROM default.flowers")
        assert table.num_rows == 150
    assert wait_for(lambda: len(statements(server)) >= 1, 10)
    line = statements(server)[0]
    for key in ("timestamp", "level", "target", "message", "query_id", "principal", "client", "duration_ms"):
        assert key in line, line
    assert line["message"] == "statement finished" and line["level"] == "INFO"
    assert (line["kind"], line["tables"], line["rows"], line["outcome"]) == ("SELECT", "default.flowers", 150, "ok")
    assert line["bytes"] > 150 * 8 and line["client"].startswith("127.0.0.1:")
    audit = [r for r in records(server) if r.get("target") == "floe::audit"]
    assert audit and audit[-1]["statement"] == "SELECT" and audit[-1]["outcome"] == "ok"


def test_a_client_that_leaves_is_logged_as_cancelled(start_server):
    server = start_server("--no-scripts", "--log-format", "json")
    # 3.4 million rows: far more than gRPC buffers before the client leaves.
    many = "SELECT a.species, b.sepal_length, c.petal_width FROM default.flowers a, default.flowers b, default.flowers c"
    with flight.connect(server.uri) as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(many)))
        reader = client.do_get(info.endpoints[0].ticket)
        reader.read_chunk()
        reader.cancel()
    assert wait_for(lambda: any(s["outcome"] == "cancelled" for s in statements(server)), 20), statements(server)
    cancelled = next(s for s in statements(server) if s["outcome"] == "cancelled")
    assert 0 < cancelled["rows"] < 150 ** 3


def test_writes_log_their_statement_line_too(start_server):
    import pyarrow as pa

    server = start_server("--no-scripts", "--log-format", "json")
    with adbc_connect(server.uri) as conn:
        run(conn, "CREATE TABLE default.copied AS SELECT * FROM default.flowers WHERE species = 'setosa'")
        with conn.cursor() as cursor:
            cursor.adbc_ingest("loaded", pa.table({"k": [1, 2]}), mode="create", db_schema_name="default")
        with pytest.raises(Exception):
            run(conn, "INSERT INTO default.no_such_table SELECT 1")
    assert wait_for(lambda: {"CREATE", "INGEST", "INSERT"} <= {s["kind"] for s in statements(server)}, 10), statements(server)
    by_kind = {s["kind"]: s for s in statements(server)}
    assert (by_kind["CREATE"]["rows"], by_kind["CREATE"]["tables"], by_kind["CREATE"]["outcome"]) == (50, "default.copied", "ok")
    assert (by_kind["INGEST"]["rows"], by_kind["INGEST"]["tables"], by_kind["INGEST"]["outcome"]) == (2, "floe.default.loaded", "ok")
    assert by_kind["INSERT"]["outcome"] == "NotFound"
    # The client's address is in the line's span (the call it came on).
    assert by_kind["CREATE"]["span"]["client.address"].startswith("127.0.0.1:")
