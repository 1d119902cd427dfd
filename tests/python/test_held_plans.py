"""Plans over columns the data cache held, through ADBC: the same ticket
runs the plan its last run made (`system.queries.plan_reused`) while the
cache has let no column go since; after the cache evicts, the query is
planned again and still answers right, and a commit (a new snapshot, so a
new ticket) is planned anew."""

import time

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from floe_sql import run as fetch

ROWS = 30_000


@pytest.fixture
def small_cache(start_server):
    # 2 MB: two int64 columns of 30,000 rows take 480 KB decoded, so four
    # more tables' columns push the first one's out.
    return start_server("--data-cache-mb", "2")


def table(server, name: str):
    catalog = SqlCatalog("floe", uri=f"sqlite:///{server.data_dir}/catalog.db",
                         warehouse=f"file://{server.data_dir}/warehouse")
    catalog.create_namespace_if_not_exists("dc")
    created = catalog.create_table(f"dc.{name}", schema=pa.schema([("k", pa.int64()), ("v", pa.int64())]))
    created.append(pa.table({"k": pa.array(range(ROWS), pa.int64()), "v": pa.array([k * 3 for k in range(ROWS)], pa.int64())}))
    return created


def held(conn, sql: str):
    """Waits until the cache holds every column `sql` reads (it fills after
    the query that missed them)."""
    deadline = time.monotonic() + 30
    while not any(line.startswith("DATA CACHE") and line.endswith("read from memory")
                  for line in fetch(conn, f"EXPLAIN {sql}").column("plan").to_pylist()):
        assert time.monotonic() < deadline, sql
        time.sleep(0.05)


def reused(conn, sql: str) -> list[bool]:
    """`plan_reused` of each finished run of `sql`, oldest first."""
    rows = fetch(conn, "SELECT sql, plan_reused, started_at, state FROM system.queries").to_pylist()
    runs = sorted((row["started_at"], row["plan_reused"]) for row in rows if row["sql"] == sql and row["state"] == "finished")
    return [plan_reused for _, plan_reused in runs]


# A self-join (too many rows as a cross product for the few-rows rule, so
# it plans over the held columns) and a subquery whose value is read ahead;
# each with its answer over t1's keys.
QUERIES = {
    "SELECT count(*) AS n, sum(a.v) AS s FROM dc.t1 a JOIN dc.t1 b ON a.k = b.k WHERE a.k % 3 = 0":
        lambda keys: [{"n": sum(1 for k in keys if k % 3 == 0), "s": sum(k * 3 for k in keys if k % 3 == 0)}],
    "SELECT count(*) AS n, min(k) AS first FROM dc.t1 WHERE v > (SELECT avg(v) FROM dc.t1)":
        lambda keys: [{"n": sum(1 for k in keys if k * 3 > 3 * sum(keys) / len(keys)),
                       "first": min(k for k in keys if k * 3 > 3 * sum(keys) / len(keys))}],
}


@pytest.mark.parametrize("sql", list(QUERIES))
def test_a_held_plan_runs_again_until_the_cache_evicts_or_a_commit_changes_the_ticket(small_cache, sql):
    t1 = table(small_cache, "t1")
    expected = QUERIES[sql](range(ROWS))
    with flightsql.connect(small_cache.uri, autocommit=True) as conn:
        assert fetch(conn, sql).to_pylist() == expected
        held(conn, sql)
        for _ in range(3):
            assert fetch(conn, sql).to_pylist() == expected
        # Missed the cache, planned over what it held, then that plan twice.
        assert reused(conn, sql) == [False, False, True, True]

        # Four more tables' columns push t1's out of a 2 MB cache.
        for name in ("t2", "t3", "t4", "t5"):
            table(small_cache, name)
            other = f"SELECT sum(k) AS k, sum(v) AS v FROM dc.{name}"
            fetch(conn, other)
            held(conn, other)
        assert fetch(conn, sql).to_pylist() == expected
        assert reused(conn, sql)[4:] == [False]

        # A commit is a new snapshot: its ticket is another, planned for itself.
        t1.append(pa.table({"k": pa.array([ROWS], pa.int64()), "v": pa.array([ROWS * 3], pa.int64())}))
        assert fetch(conn, sql).to_pylist() == QUERIES[sql](range(ROWS + 1)) != expected
        assert reused(conn, sql)[5:] == [False]
