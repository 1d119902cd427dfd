"""Limits that keep one client from taking the server down: hostile
metadata filter patterns are answered at once, a query over its time limit
is stopped, and a server at its concurrency limit refuses more queries until
a slot frees (when a query ends, or its client leaves)."""

import subprocess
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from adbc_driver_manager import AdbcStatusCode, Error as AdbcError

from clients import COUNT, CROSS_JOIN, adbc_connect, drain, flight_info, flowers_count
from flight_sql_wire import get_tables
from floe_sql import run
from harness import FloeServer, wait_for

LONG_NAME = "a" * 200


@pytest.fixture
def client(server):
    with flight.connect(server.uri) as c:
        yield c


def table_names(client, pattern: str) -> list[str]:
    """CommandGetTables with a table name filter pattern."""
    info = client.get_flight_info(flight.FlightDescriptor.for_command(get_tables(pattern)))
    return client.do_get(info.endpoints[0].ticket).read_all().column("table_name").to_pylist()


@pytest.fixture(scope="module")
def long_named_table(server):
    """A table whose name is 200 `a`s: the worst case for a backtracking matcher."""
    with adbc_connect(server.uri) as conn:
        run(conn, "CREATE SCHEMA IF NOT EXISTS security_patterns")
        run(conn, f"CREATE TABLE IF NOT EXISTS security_patterns.{LONG_NAME} (x INT)")
    return LONG_NAME


def test_a_huge_filter_pattern_is_answered_at_once(client, server):
    started = time.monotonic()
    try:
        names = table_names(client, "%" * 200_000)
    except pa.ArrowInvalid as refused:
        assert "limit is 1024" in str(refused)
    else:
        assert "flowers" in names
    assert time.monotonic() - started < 1.0
    assert server.alive()
    assert flowers_count(client) == 150


def test_a_backtracking_pattern_is_answered_at_once(client, long_named_table):
    assert long_named_table in table_names(client, "a%")
    started = time.monotonic()
    names = table_names(client, "%a" * 25 + "%b")
    assert time.monotonic() - started < 1.0
    assert names == []


def test_a_query_over_its_time_limit_is_stopped(start_server):
    floe = start_server("--no-scripts", "--query-timeout-seconds", "1")
    with flight.connect(floe.uri) as client:
        reader = client.do_get(flight_info(client, CROSS_JOIN).endpoints[0].ticket)
        rows = reader.read_chunk().data.num_rows
        # The client stops reading: the query waits (back-pressure) past its
        # limit, which starts before its first batch arrives.
        time.sleep(1.2)
        with pytest.raises(flight.FlightTimedOutError, match="query-timeout-seconds"):
            rows += drain(reader)
        assert rows < 150 ** 3
        assert flowers_count(client) == 150


def test_a_recursion_over_its_time_limit_is_stopped_between_rounds(start_server):
    floe = start_server("--no-scripts", "--query-timeout-seconds", "1")
    # A recursion without an end, each round reading a table, computes (while
    # DoGet plans it) until its limit, not for the 100,000 rounds it may take.
    endless = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r "
               "WHERE (SELECT count(*) FROM default.flowers) > n % 7) SELECT count(*) AS c FROM r")
    with flight.connect(floe.uri) as client:
        started = time.monotonic()
        with pytest.raises(flight.FlightTimedOutError, match="query-timeout-seconds"):
            drain(client.do_get(flight_info(client, endless).endpoints[0].ticket))
        assert time.monotonic() - started < 5
        assert flowers_count(client) == 150


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory):
    """A server that runs one query at a time and queues none."""
    floe = FloeServer(tmp_path_factory.mktemp("one-slot"), "--no-scripts",
                      "--max-concurrent-queries", "1", "--query-queue", "0")
    yield floe
    assert floe.alive(), floe.logs()
    floe.stop()


def open_stream(client):
    """A DoGet of the big cross join, read one batch in: it holds its slot."""
    reader = client.do_get(flight_info(client, CROSS_JOIN).endpoints[0].ticket)
    return reader, reader.read_chunk().data.num_rows


def assert_busy(uri: str):
    with adbc_connect(uri) as conn:
        with pytest.raises(AdbcError) as excinfo:
            run(conn, COUNT)
    assert excinfo.value.status_code == AdbcStatusCode.INTERNAL  # ADBC's code for RESOURCE_EXHAUSTED
    assert "ResourceExhausted" in str(excinfo.value) and "busy" in str(excinfo.value)


def test_a_full_server_refuses_more_queries_and_finishes_the_one_it_runs(one_slot):
    with flight.connect(one_slot.uri) as client:
        reader, rows = open_stream(client)
        assert_busy(one_slot.uri)
        assert rows + drain(reader) == 150 ** 3
        assert flowers_count(client) == 150


def test_a_client_that_leaves_mid_stream_frees_its_slot(one_slot):
    with flight.connect(one_slot.uri) as leaving:
        reader, _ = open_stream(leaving)
        assert_busy(one_slot.uri)
        reader.cancel()

    def admitted() -> bool:
        with flight.connect(one_slot.uri) as client:
            try:
                return flowers_count(client) == 150
            except flight.FlightUnavailableError:  # pyarrow's class for RESOURCE_EXHAUSTED
                return False

    assert wait_for(admitted, 10, interval=0.1)


# Four-way cross join sorted: ~506 M rows to hold, far over a 300 MiB budget.
MEMORY_HOG = ("SELECT a.sepal_length * b.sepal_width * c.petal_length * d.petal_width AS v FROM default.flowers a, "
              "default.flowers b, default.flowers c, default.flowers d ORDER BY v")


def test_a_query_over_its_memory_budget_fails_alone(start_server):
    """With --query-memory-mb each query runs in an executor process capped
    at the budget: the hog fails with RESOURCE_EXHAUSTED while a query
    streaming beside it finishes, and the server keeps answering."""
    floe = start_server("--no-scripts", "--query-memory-mb", "300")
    with flight.connect(floe.uri) as client:
        assert flowers_count(client) == 150
        beside = client.do_get(flight_info(client, CROSS_JOIN).endpoints[0].ticket)
        rows = beside.read_chunk().data.num_rows
        # pyarrow reports a status that ends a stream as ArrowInvalid, naming the code.
        with pytest.raises(pa.ArrowException, match="resource exhausted.*memory budget of 300 MiB"):
            client.do_get(flight_info(client, MEMORY_HOG).endpoints[0].ticket).read_all()
        assert rows + drain(beside) == 150 ** 3
        assert flowers_count(client) == 150
    assert floe.alive()
    assert "took its executor down" in floe.logs()
    # Executors never outlive their server, even one killed outright.
    assert executors_of(floe), "the queries ran in executor processes"
    floe.kill()
    assert wait_for(lambda: not executors_of(floe), 10), executors_of(floe)


def executors_of(floe) -> list[str]:
    """Executors serving the server's data directory (their command line starts
    `serve --data-dir`; the server's own starts `serve --listen`)."""
    found = subprocess.run(["pgrep", "-f", "--", f"serve --data-dir {floe.data_dir}"], capture_output=True, text=True)
    assert found.returncode in (0, 1), found.stderr  # 1: none found
    return found.stdout.split()
