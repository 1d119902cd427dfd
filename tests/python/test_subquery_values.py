"""Uncorrelated scalar subqueries compared with a value, and IN subqueries of
a few values, read ahead where the query runs and handed to the plan as
literals (`sql/rewrite/subquery_values.rs`),
through ADBC against the real server: the answers are DuckDB's over the same
rows for every type a value can have, for subqueries that must keep their
plan, and EXPLAIN ANALYZE says which value was read."""

import datetime
import decimal

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from floe_sql import explained, rows as answers, run as fetch
from readers import duckdb_over, same_rows as same

SALES = 600_000


@pytest.fixture(scope="module")
def tables():
    n = pa.array(range(SALES), pa.int64()).to_numpy()
    sales = pa.table({"day": pa.array(n % 1000 + 1, pa.int64()), "amount": pa.array((n % 89) * 0.5, pa.float64())})
    keys = list(range(1, 1001))
    start = datetime.date(2001, 1, 1)
    days = pa.table({
        "d_key": pa.array(keys, pa.int64()),
        "d_month": pa.array([(k - 1) // 30 for k in keys], pa.int64()),
        "d_flag": pa.array(["y" if k % 7 == 0 else "n" for k in keys]),
        "d_date": pa.array([start + datetime.timedelta(days=k) for k in keys], pa.date32()),
        "d_price": pa.array([decimal.Decimal(k % 97) / 4 for k in keys], pa.decimal128(7, 2)),
        "d_score": pa.array([(k % 13) / 3 for k in keys], pa.float64()),
    })
    parts = pa.table({"part": pa.array([1] * 100 + [2] * 100, pa.int64()), "v": pa.array(range(200), pa.int64())})
    return {"sales": sales, "days": days, "parts": parts}


@pytest.fixture(scope="module")
def served(tmp_path_factory, tables):
    from harness import FloeServer

    server = FloeServer(tmp_path_factory.mktemp("subquery_values"), "--no-demo", "--no-scripts")
    catalog = SqlCatalog("floe", uri=f"sqlite:///{server.data_dir}/catalog.db", warehouse=f"file://{server.data_dir}/warehouse")
    catalog.create_namespace_if_not_exists("sv")
    for name, rows in tables.items():
        table = catalog.create_table(f"sv.{name}", schema=rows.schema)
        # Two data files of unlike statistics where they can be told apart.
        for part in ([rows.slice(0, 100), rows.slice(100)] if name == "parts" else [rows]):
            table.append(part)
    yield server
    server.stop()


def duck(tables, sql: str):
    return duckdb_over(tables, sql, "sv")


def told(conn, sql: str) -> list[str]:
    return explained(conn, sql, "SUBQUERY VALUE", "KEY RANGE")


JOINED = "SELECT count(*), sum(amount) FROM sv.sales JOIN sv.days ON day = d_key WHERE "

READ_AHEAD = [
    # An integer, then carried to the sales as a key range.
    (JOINED + "d_month = (SELECT max(d_month) FROM sv.days WHERE d_flag = 'y' AND d_key < 100)", "SUBQUERY VALUE: CAST(3 AS BIGINT) for "),
    # Bounds of a BETWEEN, one inside arithmetic.
    (JOINED + "d_month BETWEEN (SELECT min(d_month) FROM sv.days WHERE d_key > 500) "
     "AND (SELECT min(d_month) FROM sv.days WHERE d_key > 500) + 2", "SUBQUERY VALUE: CAST(16 AS BIGINT) for "),
    # Text, with a quote to escape.
    (JOINED + "d_flag <> (SELECT max(d_flag) || '''' FROM sv.days) AND d_flag = (SELECT max(d_flag) FROM sv.days)",
     "SUBQUERY VALUE: 'y''' for "),
    (JOINED + "d_date = (SELECT max(d_date) FROM sv.days WHERE d_month = 4)", "SUBQUERY VALUE: DATE '2001-05-31' for "),
    # Through a CTE of the statement, taken along.
    ("WITH shifted AS (SELECT d_key, d_month + 100 AS d_month FROM sv.days) "
     "SELECT count(*) FROM shifted WHERE d_month = (SELECT max(d_month) FROM shifted)", "SUBQUERY VALUE: CAST(133 AS BIGINT) for "),
    # The clock is read once per query, before: the value is that run's.
    (JOINED + "d_date = (SELECT max(d_date) FROM sv.days WHERE d_date < current_date)", "SUBQUERY VALUE: DATE '2003-09-28' for "),
    (JOINED + "d_price > (SELECT max(d_price) FROM sv.days WHERE d_key < 50) - 0.5",
     "SUBQUERY VALUE: CAST('12.25' AS DECIMAL(38, 2)) for "),
    (JOINED + "d_score >= (SELECT max(d_score) FROM sv.days WHERE d_key < 10)", "SUBQUERY VALUE: CAST('3.0' AS DOUBLE) for "),
]

KEPT = [
    # Correlated: a value per row.
    "SELECT count(*) FROM sv.days o WHERE d_score > (SELECT avg(d_score) FROM sv.days i WHERE i.d_month = o.d_month)",
    # No row: NULL, which compares unknown.
    JOINED + "d_month = (SELECT max(d_month) FROM sv.days WHERE d_key > 5000)",
    # Not compared: the item's type is the subquery's.
    "SELECT (SELECT max(d_month) FROM sv.days) AS top, count(*) FROM sv.sales",
]


LISTED = [
    (JOINED + "d_key IN (SELECT d_key FROM sv.days WHERE d_month = 5)", "SUBQUERY VALUES: 30 for "),
    (JOINED + "d_key NOT IN (SELECT d_key FROM sv.days WHERE d_month > 2) AND d_flag IN (SELECT d_flag FROM sv.days WHERE d_key = 7)",
     "SUBQUERY VALUES: 1 for "),
    # A subquery inside the subquery is read ahead with it.
    (JOINED + "d_date IN (SELECT d_date FROM sv.days WHERE d_month = (SELECT max(d_month) FROM sv.days WHERE d_key < 40))",
     "SUBQUERY VALUES: 30 for "),
]

LIST_KEPT = [
    # A NULL among the values: NOT IN is unknown for every other row.
    JOINED + "d_key NOT IN (SELECT CASE WHEN d_key = 1 THEN NULL ELSE d_key END FROM sv.days WHERE d_month = 0)",
    JOINED + "d_key IN (SELECT CASE WHEN d_key = 1 THEN NULL ELSE d_key END FROM sv.days WHERE d_month = 0)",
    # Too many values for a list.
    JOINED + "day IN (SELECT a.d_key * 1000 + b.d_key FROM sv.days a, sv.days b WHERE b.d_key < 3)",
    # None.
    JOINED + "d_key IN (SELECT d_key FROM sv.days WHERE d_month > 500)",
    # A derived table's DECIMAL column named like a catalog integer column:
    # its kind is the derived table's, and integers are no list for it.
    "SELECT count(*) FROM (SELECT CAST(d_month AS DECIMAL(10, 2)) AS d_month FROM sv.days) p "
    "WHERE d_month IN (SELECT d_month FROM sv.days WHERE d_key = 40)",
]


@pytest.mark.parametrize("sql", LIST_KEPT)
def test_in_subqueries_with_a_null_or_many_values_keep_their_plan(served, tables, sql):
    with flightsql.connect(served.uri, autocommit=True) as conn:
        same(answers(conn, sql), duck(tables, sql))
        assert not [line for line in told(conn, sql) if line.startswith("SUBQUERY VALUES")]


@pytest.mark.parametrize("sql,value", READ_AHEAD + LISTED)
def test_a_compared_subquery_or_a_few_values_of_one_are_read_ahead(served, tables, sql, value):
    with flightsql.connect(served.uri, autocommit=True) as conn:
        same(answers(conn, sql), duck(tables, sql))
        lines = told(conn, sql)
        assert any(line.startswith(value) for line in lines), lines


def test_the_value_narrows_the_join_it_filters(served, tables):
    sql = READ_AHEAD[0][0]
    with flightsql.connect(served.uri, autocommit=True) as conn:
        assert any(line.startswith("KEY RANGE: day BETWEEN 91 AND 120") for line in told(conn, sql)), told(conn, sql)


@pytest.mark.parametrize("sql", KEPT)
def test_subqueries_without_one_value_keep_their_plan(served, tables, sql):
    with flightsql.connect(served.uri, autocommit=True) as conn:
        same(answers(conn, sql), duck(tables, sql))
        assert not [line for line in told(conn, sql) if line.startswith("SUBQUERY VALUE")]


def test_more_than_one_row_is_still_an_error(served):
    sql = JOINED + "d_month = (SELECT d_month FROM sv.days WHERE d_key < 40)"
    with flightsql.connect(served.uri, autocommit=True) as conn:
        with pytest.raises(Exception, match="more than one row"):
            fetch(conn, sql)


def test_a_subquery_over_the_filtered_relation_reads_all_its_files(served, tables):
    """The outer WHERE prunes data files by their statistics; the subquery
    reading the same table again must still see every file."""
    sql = "SELECT count(*) FROM sv.parts WHERE part = 2 AND v < (SELECT avg(v) FROM sv.parts) + 10"
    with flightsql.connect(served.uri, autocommit=True) as conn:
        same(answers(conn, sql), duck(tables, sql))
        assert answers(conn, sql) == [(10,)]


def test_a_typed_null_in_a_list_keeps_not_in_unknown(served, tables):
    sql = JOINED + "d_key NOT IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, CAST(NULL AS BIGINT))"
    with flightsql.connect(served.uri, autocommit=True) as conn:
        same(answers(conn, sql), duck(tables, sql))
