"""Join keys narrowed by the range a filtered small relation's keys span
(`sql/rewrite/key_ranges.rs`), through ADBC against the real server: the
answers are DuckDB's over the same rows wherever the range is added and
wherever it must not be, and EXPLAIN ANALYZE says which range was read."""

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest

from floe_sql import explained, rows as answers, run as fetch
from readers import duckdb_over, loaded, same_rows as same

SALES = 600_000


@pytest.fixture(scope="module")
def tables():
    n = pa.array(range(SALES), pa.int64()).to_numpy()
    # Every 997th sale has no day: a NULL key joins nothing.
    day = pa.array([None if i % 997 == 0 else int(i % 1000) + 1 for i in n], pa.int64())
    sales = pa.table({"day": day, "item": pa.array(n % 500 + 1, pa.int64()), "amount": pa.array((n % 89) * 0.5, pa.float64())})
    keys = list(range(1, 1001))
    days = pa.table({"d_key": pa.array(keys, pa.int64()), "d_month": pa.array([(k - 1) // 30 for k in keys], pa.int64()),
                     "d_flag": pa.array(["y" if k % 7 == 0 else "n" for k in keys])})
    items = pa.table({"i_key": pa.array(range(1, 501), pa.int64()), "i_group": pa.array([k % 5 for k in range(1, 501)], pa.int64())})
    return {"sales": sales, "days": days, "items": items}


def load(server, tables):
    return loaded(server, "kr", tables)


@pytest.fixture(scope="module")
def served(tmp_path_factory, tables):
    from harness import FloeServer

    server = load(FloeServer(tmp_path_factory.mktemp("key_ranges"), "--no-demo", "--no-scripts"), tables)
    yield server
    server.stop()


def duck(tables, sql: str):
    return duckdb_over(tables, sql, "kr")


def ranges(conn, sql: str) -> list[str]:
    return explained(conn, sql, "KEY RANGE")


NARROWED = [
    # An explicit inner join, the filter in WHERE.
    ("SELECT count(*), sum(amount) FROM kr.sales JOIN kr.days ON day = d_key WHERE d_month = 3", "day BETWEEN 91 AND 120"),
    # A comma join, two filters, grouped and ordered; the bounds themselves kept.
    ("SELECT d_key, count(*) AS n FROM kr.sales s, kr.days d WHERE s.day = d.d_key AND d.d_month = 10 AND d_flag = 'y' "
     "GROUP BY d_key ORDER BY d_key", "s.day BETWEEN 301 AND 329"),
    # The equality in WHERE narrows a relation a LEFT JOIN preserves.
    ("SELECT i_group, count(*) AS n FROM kr.sales LEFT JOIN kr.items ON item = i_key, kr.days "
     "WHERE day = d_key AND d_month = 0 GROUP BY i_group ORDER BY i_group", "day BETWEEN 1 AND 30"),
    # Through an IN subquery read ahead as its one value (`subquery_values.rs`).
    ("SELECT count(*) FROM kr.sales JOIN kr.days ON day = d_key WHERE d_month IN (SELECT i_group FROM kr.items WHERE i_key = 3)",
     "day BETWEEN 91 AND 120"),
]

UNCHANGED = [
    # On a LEFT JOIN's ON the filtered days only decide which sales have a month.
    "SELECT count(*), count(d_month) FROM kr.sales LEFT JOIN kr.days ON day = d_key AND d_month = 3",
    # Most of the keys: no range worth a filter.
    "SELECT count(*) FROM kr.sales JOIN kr.days ON day = d_key WHERE d_month < 30",
    # A filter through a subquery that is not read ahead (a NULL among its values).
    "SELECT count(*) FROM kr.sales JOIN kr.days ON day = d_key "
    "WHERE d_month IN (SELECT CASE WHEN i_key = 1 THEN NULL ELSE i_group END FROM kr.items WHERE i_key < 4)",
]


@pytest.mark.parametrize("sql,range_", NARROWED)
def test_a_filtered_small_relation_narrows_the_large_ones_key(served, tables, sql, range_):
    with flightsql.connect(served.uri, autocommit=True) as conn:
        same(answers(conn, sql), duck(tables, sql))
        [line] = ranges(conn, sql)
        assert line.startswith(f"KEY RANGE: {range_}: the keys "), line


@pytest.mark.parametrize("sql", UNCHANGED)
def test_no_range_where_it_is_not_implied_or_not_narrow(served, tables, sql):
    with flightsql.connect(served.uri, autocommit=True) as conn:
        same(answers(conn, sql), duck(tables, sql))
        assert ranges(conn, sql) == []


def test_a_filter_that_keeps_no_key_keeps_no_row(served, tables):
    sql = "SELECT count(*), sum(amount) FROM kr.sales JOIN kr.days ON day = d_key WHERE d_month = 99"
    with flightsql.connect(served.uri, autocommit=True) as conn:
        same(answers(conn, sql), duck(tables, sql))
        [line] = ranges(conn, sql)
        assert line.startswith("KEY RANGE: day BETWEEN 1 AND 0: the keys "), line


def test_a_probe_reads_columns_the_held_rows_lack(start_server, tables):
    """The data cache hands a plan only the columns it reads; a SELECT the
    plan never reads (an unused CTE) still has its range probed, over every
    column, and what that probe found serves later queries."""
    server = load(start_server("--no-demo", "--no-scripts"), tables)
    grouped = "SELECT d_key, count(*) AS n FROM kr.sales JOIN kr.days ON day = d_key GROUP BY d_key ORDER BY d_key LIMIT 3"
    unused = f"WITH unused AS (SELECT count(*) AS n FROM kr.sales JOIN kr.days ON day = d_key WHERE d_month = 3) {grouped}"
    filtered = "SELECT count(*), sum(amount) FROM kr.sales JOIN kr.days ON day = d_key WHERE d_month = 3"
    with flightsql.connect(server.uri, autocommit=True) as conn:
        for sql in (grouped, grouped, unused, unused):
            same(answers(conn, sql), duck(tables, grouped))
        # The unused CTE's range, probed over held rows without `d_month`.
        assert [line.split(":")[1] for line in ranges(conn, unused)] == [" sales.day BETWEEN 91 AND 120"]
        same(answers(conn, filtered), duck(tables, filtered))
        [line] = ranges(conn, filtered)
        assert line.startswith("KEY RANGE: day BETWEEN 91 AND 120: the keys "), line


def test_filters_below_a_join_two_selects_share(served, tables):
    """Two SELECTs joining the same relations with other filters (TPC-DS 90's
    shape): each one's filters go below its join (`filtered_scans.rs`), and
    the answers are DuckDB's."""
    branch = ("SELECT count(*) AS n FROM kr.sales, kr.days, kr.items WHERE day = d_key AND item = i_key "
              "AND d_month = {month} AND i_group = 2")
    sql = f"SELECT a.n AS early, b.n AS late FROM ({branch.format(month=1)}) a, ({branch.format(month=20)}) b"
    with flightsql.connect(served.uri, autocommit=True) as conn:
        same(answers(conn, sql), duck(tables, sql))
        rewritten = fetch(conn, f"EXPLAIN {sql}").column("plan").to_pylist()[0]
        assert "(SELECT * FROM kr.days WHERE (days.d_month = 1)) AS days" in rewritten, rewritten
        assert "(SELECT * FROM kr.days WHERE (days.d_month = 20)) AS days" in rewritten, rewritten
