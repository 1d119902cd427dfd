"""Aggregates grouped before the joins that only name their groups
(`sql/rewrite/eager_aggregates.rs`), through ADBC against the real server:
wherever the partial groups are written (EXPLAIN shows them) and wherever
they must not be, the answers are DuckDB's over the same rows — NULL keys
and values, a group whose values are all NULL, a dimension key that occurs
twice, ROLLUP's grand total, HAVING and ORDER BY over aggregates."""

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest

from floe_sql import rows as answers, run as fetch
from readers import duckdb_over, loaded, same_rows as same

SALES = 20_000


@pytest.fixture(scope="module")
def tables():
    n = range(SALES)
    # Every 101st sale has no item (joins nothing); item 7's quantities are all NULL.
    item = [None if i % 101 == 0 else i % 50 + 1 for i in n]
    qty = [None if i % 13 == 0 or (it == 7) else i % 17 - 3 for i, it in zip(n, item)]
    sales = pa.table({"item": pa.array(item, pa.int64()), "day": pa.array([i % 400 + 1 for i in n], pa.int64()),
                      "qty": pa.array(qty, pa.int32()), "price": pa.array([(i % 89) * 0.5 for i in n], pa.float64())})
    # Item 5 is listed twice (another name): each of its sales meets both rows.
    keys = list(range(1, 51)) + [5]
    items = pa.table({"i_key": pa.array(keys, pa.int64()), "i_name": [f"item {k}" if i < 50 else "item 5 again" for i, k in enumerate(keys)],
                      "i_brand": [f"b{k % 4}" for k in keys], "i_class": [f"c{k % 3}" for k in keys]})
    days = pa.table({"d_key": pa.array(range(1, 401), pa.int64()), "d_month": pa.array([(k - 1) // 30 for k in range(1, 401)], pa.int64())})
    brands = pa.table({"b_name": ["b0", "b1", "b2", "b3"], "b_owner": ["north", "south", "north", "east"]})
    # Each of 50 people reports to the one ten places on (the last ten to no one).
    staff = pa.table({"id": pa.array(range(1, 51), pa.int64()), "name": [f"p{k}" for k in range(1, 51)],
                      "manager": pa.array([k + 10 if k <= 40 else None for k in range(1, 51)], pa.int64())})
    # A promotion per day, its item in a column named as the sales' own.
    promos = pa.table({"p_key": pa.array(range(1, 401), pa.int64()), "kind": ["tv" if k % 3 else "radio" for k in range(1, 401)],
                       "item": pa.array([k % 50 + 1 for k in range(1, 401)], pa.int64())})
    return {"sales": sales, "items": items, "days": days, "brands": brands, "staff": staff, "promos": promos}


@pytest.fixture(scope="module")
def served(tmp_path_factory, tables):
    from harness import FloeServer

    server = loaded(FloeServer(tmp_path_factory.mktemp("eager"), "--no-demo", "--no-scripts"), "ea", tables)
    yield server
    server.stop()


def grouped_first(conn, sql: str) -> bool:
    return "__floe_eager" in fetch(conn, f"EXPLAIN {sql}").column("plan").to_pylist()[0]


GROUPED_FIRST = [
    # Every aggregate with partials, over a filtered relation joined on the grouped side.
    "SELECT i_brand, sum(qty) AS s, count(*) AS n, count(qty) AS c, avg(qty) AS a, min(qty) AS lo, max(price) AS hi "
    "FROM ea.sales JOIN ea.days ON day = d_key JOIN ea.items ON item = i_key WHERE d_month < 6 GROUP BY i_brand ORDER BY i_brand",
    # Item 7's group has no value: NULL sum, mean and least, a count of 0.
    "SELECT i_name, sum(qty) AS s, avg(qty) AS a, count(qty) AS c, min(qty) AS m, count(*) AS n "
    "FROM ea.sales JOIN ea.items ON item = i_key GROUP BY i_name ORDER BY i_name",
    # A comma join under ROLLUP: every set's branch, the grand total's too.
    "SELECT i_brand, i_class, avg(qty) AS a, count(*) AS n FROM ea.sales, ea.items WHERE item = i_key "
    "GROUP BY ROLLUP (i_brand, i_class) ORDER BY i_brand NULLS FIRST, i_class NULLS FIRST",
    # HAVING and ORDER BY name aggregates the SELECT does not.
    "SELECT i_name, sum(qty) AS s FROM ea.sales JOIN ea.items ON i_key = item GROUP BY i_name "
    "HAVING count(*) > 390 ORDER BY sum(price) DESC, i_name",
    # Relations joined one after another: brands meet the items, not the sales.
    "SELECT b_owner, sum(price) AS s, max(qty) AS m FROM ea.sales JOIN ea.items ON item = i_key JOIN ea.brands ON i_brand = b_name "
    "GROUP BY b_owner ORDER BY b_owner",
    # A self-join after the partial groups: `m.id = e.manager` must not be read as `e.id = m.manager`.
    "SELECT m.name AS manager, sum(qty) AS s, count(*) AS n FROM ea.staff e JOIN ea.sales ON item = e.id "
    "JOIN ea.staff m ON m.id = e.manager GROUP BY m.name ORDER BY m.name",
    # The grouped side's key is a column whose name an earlier relation of that side also has.
    "SELECT i_name, sum(qty) AS s FROM ea.sales JOIN ea.promos ON day = p_key JOIN ea.items ON promos.item = i_key "
    "WHERE kind = 'tv' GROUP BY i_name ORDER BY i_name",
    # Conditions across two relations that polars-sql cannot join on, on each side: filters of theirs.
    "SELECT i_class, sum(qty) AS s, count(*) AS n FROM ea.sales JOIN ea.days ON day = d_key JOIN ea.items ON item = i_key "
    "JOIN ea.brands ON i_brand = b_name AND (i_class <> b_owner OR i_key < 10) "
    "WHERE d_month < 8 AND (qty > d_month OR qty IS NULL) GROUP BY i_class ORDER BY i_class",
]

AS_WRITTEN = [
    # The relation naming the groups is filtered.
    "SELECT i_brand, sum(qty) AS s FROM ea.sales JOIN ea.items ON item = i_key WHERE i_class = 'c1' GROUP BY i_brand ORDER BY i_brand",
    # An aggregate reads both sides; one has no partials.
    "SELECT i_brand, sum(qty * i_key) AS s FROM ea.sales JOIN ea.items ON item = i_key GROUP BY i_brand ORDER BY i_brand",
    "SELECT i_brand, count(DISTINCT qty) AS s FROM ea.sales JOIN ea.items ON item = i_key GROUP BY i_brand ORDER BY i_brand",
    # A mean of floats (Polars' mean of a REAL is a REAL).
    "SELECT i_brand, avg(price) AS a FROM ea.sales JOIN ea.items ON item = i_key GROUP BY i_brand ORDER BY i_brand",
    # A key from the grouped side.
    "SELECT item, i_brand, sum(qty) AS s FROM ea.sales JOIN ea.items ON item = i_key GROUP BY item, i_brand ORDER BY item, i_brand",
    # Days × items: more pairs than sales, nearly a partial group per row.
    "SELECT d_month, i_brand, sum(qty) AS s FROM ea.sales JOIN ea.days ON day = d_key JOIN ea.items ON item = i_key "
    "GROUP BY d_month, i_brand ORDER BY d_month, i_brand",
]


@pytest.mark.parametrize("sql", GROUPED_FIRST)
def test_aggregates_grouped_before_the_joins_answer_as_duckdb(served, tables, sql):
    with flightsql.connect(served.uri, autocommit=True) as conn:
        assert grouped_first(conn, sql)
        same(answers(conn, sql), duckdb_over(tables, sql, "ea"))


@pytest.mark.parametrize("sql", AS_WRITTEN)
def test_aggregates_stay_after_the_joins_where_grouping_first_is_wrong_or_slow(served, tables, sql):
    with flightsql.connect(served.uri, autocommit=True) as conn:
        assert not grouped_first(conn, sql)
        same(answers(conn, sql), duckdb_over(tables, sql, "ea"))
