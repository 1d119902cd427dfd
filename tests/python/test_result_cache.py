"""The result cache (`--result-cache-mb`), through ADBC: a repeated query is
answered from it, a commit by another engine (pyiceberg) is seen at once,
and answers that depend on the clock or on system views are never kept.
Also the clock functions it must never keep."""

import datetime as dt

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from floe_sql import run as fetch


@pytest.fixture
def cached(start_server):
    return start_server("--result-cache-mb", "16")


def connect(floe):
    return flightsql.connect(floe.uri, autocommit=True)


def cache_line(conn, sql: str) -> str | None:
    lines = fetch(conn, f"EXPLAIN {sql}").column("plan").to_pylist()
    return next((line for line in lines if line.startswith("RESULT CACHE:")), None)


def test_a_repeated_query_is_answered_from_the_cache_until_a_commit(cached):
    catalog = SqlCatalog("floe", uri=f"sqlite:///{cached.data_dir}/catalog.db",
                         warehouse=f"file://{cached.data_dir}/warehouse")
    catalog.create_namespace_if_not_exists("rc")
    table = catalog.create_table("rc.events", schema=pa.schema([("v", pa.int64())]))
    table.append(pa.table({"v": pa.array([1, 2, 3], pa.int64())}))
    sql = "SELECT count(*) AS n, sum(v) AS total FROM rc.events"
    with connect(cached) as conn:
        assert cache_line(conn, sql).startswith("RESULT CACHE: miss")
        assert fetch(conn, sql).to_pylist() == [{"n": 3, "total": 6}]
        # Spacing, keyword case and EXPLAIN do not change what is asked.
        assert cache_line(conn, "select count(*) as n,  sum(v) as total\n from rc.events").startswith(
            "RESULT CACHE: hit: 1 rows")
        assert fetch(conn, sql).to_pylist() == [{"n": 3, "total": 6}]

        table.append(pa.table({"v": pa.array([10], pa.int64())}))
        assert cache_line(conn, sql).startswith("RESULT CACHE: miss")
        assert fetch(conn, sql).to_pylist() == [{"n": 4, "total": 16}]
        assert cache_line(conn, sql).startswith("RESULT CACHE: hit")

        # Parameters are part of what is asked.
        bound = "SELECT count(*) AS n FROM rc.events WHERE v > ?"
        assert [fetch(conn, bound, (limit,)).to_pylist() for limit in (1, 2, 1)] == [[{"n": 3}], [{"n": 2}], [{"n": 3}]]

        # Time travel pins the old snapshot: its answer is still the old one.
        first = table.history()[0].snapshot_id
        assert fetch(conn, f"SELECT count(*) AS n FROM rc.events FOR VERSION AS OF {first}").to_pylist() == [{"n": 3}]


def test_answers_that_change_without_a_commit_are_never_kept(cached):
    with connect(cached) as conn:
        assert "clock" in cache_line(conn, "SELECT now() AS t, count(*) AS n FROM default.flowers")
        assert "views" in cache_line(conn, "SELECT count(*) AS n FROM information_schema.tables")
        assert "views" in cache_line(conn, "SELECT count(*) AS n FROM system.queries")


def test_the_cache_is_off_unless_sized(conn):
    assert cache_line(conn, "SELECT count(*) AS n FROM default.flowers") is None


def test_clock_functions_read_the_statements_start_in_utc(conn):
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    row = fetch(conn, "SELECT now() AS t, CURRENT_TIMESTAMP AS c, current_date AS d, "
                      "now() - INTERVAL '1' DAY < now() AS earlier").to_pylist()[0]
    after = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert before - dt.timedelta(seconds=1) <= row["t"] <= after + dt.timedelta(seconds=1)
    assert row["c"] == row["t"]
    assert row["d"] in (before.date(), after.date())
    assert row["earlier"] is True
