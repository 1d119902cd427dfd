"""Tables in the shapes other engines leave them (evolved schemas, format v1,
partition-spec evolution) read back through Floe exactly as pyiceberg reads them."""

import datetime as dt
import re

import pyarrow as pa
import pytest
from pyiceberg.types import LongType

from readers import pyiceberg_catalog
from floe_sql import run




def assert_same_rows(conn, table, name, order_by):
    got = run(conn, f"SELECT * FROM {name}").sort_by(order_by)
    expected = table.scan().to_arrow().sort_by(order_by)
    assert got.column_names == expected.column_names
    for column in expected.column_names:
        assert got.column(column).to_pylist() == expected.column(column).to_pylist(), column


@pytest.fixture
def catalog(server):
    catalog = pyiceberg_catalog(server)
    catalog.create_namespace_if_not_exists("shapes")
    return catalog


def fresh(catalog, name, schema, **kwargs):
    if catalog.table_exists(name):
        catalog.drop_table(name)
    return catalog.create_table(name, schema=schema, **kwargs)


def test_schema_evolution_rename_drop_add_reorder_promote(catalog, conn):
    table = fresh(catalog, "shapes.evolved", pa.schema([("id", pa.int32()), ("name", pa.string()), ("gone", pa.string())]))
    table.append(pa.table({"id": pa.array([1, 2], pa.int32()), "name": ["a", "b"], "gone": ["x", "y"]}))
    with table.update_schema() as update:
        update.rename_column("name", "label")
        update.delete_column("gone")
        update.update_column("id", field_type=LongType())
    table = catalog.load_table("shapes.evolved")
    with table.update_schema() as update:
        update.add_column("gone", LongType())  # same name, new field id: old values must not reappear
        update.move_first("label")
    table = catalog.load_table("shapes.evolved")
    table.append(pa.table({"label": ["c"], "id": pa.array([3], pa.int64()), "gone": pa.array([30], pa.int64())}))
    table = catalog.load_table("shapes.evolved")
    assert_same_rows(conn, table, "shapes.evolved", "id")
    got = run(conn, "SELECT label, id, gone FROM shapes.evolved ORDER BY id").to_pydict()
    assert got == {"label": ["a", "b", "c"], "id": [1, 2, 3], "gone": [None, None, 30]}
    plan = "\n".join(run(conn, "EXPLAIN SELECT * FROM shapes.evolved").column("plan").to_pylist())
    assert "read by Polars' Parquet reader (columns by field id)" in plan


def test_format_v1_table(catalog, conn):
    table = fresh(catalog, "shapes.v1", pa.schema([("k", pa.int64()), ("v", pa.string())]),
                  properties={"format-version": "1"})
    table.append(pa.table({"k": pa.array([1, 2], pa.int64()), "v": ["one", "two"]}))
    table = catalog.load_table("shapes.v1")
    assert table.format_version == 1
    assert_same_rows(conn, table, "shapes.v1", "k")


def test_partition_spec_evolution(catalog, conn):
    from pyiceberg.transforms import IdentityTransform

    table = fresh(catalog, "shapes.respec", pa.schema([("k", pa.int64()), ("g", pa.string())]))
    table.append(pa.table({"k": pa.array([1, 2], pa.int64()), "g": ["x", "y"]}))
    with table.update_spec() as spec:
        spec.add_field("g", IdentityTransform(), "g")
    table = catalog.load_table("shapes.respec")
    table.append(pa.table({"k": pa.array([3, 4], pa.int64()), "g": ["x", "z"]}))
    table = catalog.load_table("shapes.respec")
    assert_same_rows(conn, table, "shapes.respec", "k")
    assert run(conn, "SELECT count(*) AS n FROM shapes.respec WHERE g = 'x'").column("n").to_pylist() == [2]


def files_selected(conn, sql) -> tuple[int, int]:
    plan = "\n".join(run(conn, f"EXPLAIN {sql}").column("plan").to_pylist())
    found = re.search(r"(\d+) of (\d+) data files selected", plan)
    return int(found[1]), int(found[2])


def test_every_partition_transform_reads_back_and_prunes(catalog, conn):
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import (BucketTransform, DayTransform, HourTransform, MonthTransform,
                                      TruncateTransform, YearTransform)
    from pyiceberg.types import DateType, NestedField, StringType, TimestampType

    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "name", StringType(), required=False),
        NestedField(3, "born", TimestampType(), required=False),
        NestedField(4, "seen", TimestampType(), required=False),
        NestedField(5, "day", DateType(), required=False),
        NestedField(6, "ping", TimestampType(), required=False),
    )
    spec = PartitionSpec(
        PartitionField(1, 1000, BucketTransform(4), "id_bucket"),
        PartitionField(2, 1001, TruncateTransform(2), "name_trunc"),
        PartitionField(3, 1002, YearTransform(), "born_year"),
        PartitionField(4, 1003, MonthTransform(), "seen_month"),
        PartitionField(5, 1004, DayTransform(), "day_day"),
        PartitionField(6, 1005, HourTransform(), "ping_hour"),
    )
    if catalog.table_exists("shapes.transforms"):
        catalog.drop_table("shapes.transforms")
    table = catalog.create_table("shapes.transforms", schema=schema, partition_spec=spec)
    base = dt.datetime(2020, 1, 1)
    rows = 24
    table.append(pa.table({
        "id": pa.array(range(rows), pa.int64()),
        "name": [["alpha", "beta", "gamma"][i % 3] + str(i) for i in range(rows)],
        "born": pa.array([base.replace(year=2020 + i % 3) for i in range(rows)], pa.timestamp("us")),
        "seen": pa.array([base.replace(month=1 + i % 4) for i in range(rows)], pa.timestamp("us")),
        "day": pa.array([dt.date(2024, 5, 1 + i % 2) for i in range(rows)], pa.date32()),
        "ping": pa.array([base + dt.timedelta(hours=i % 2) for i in range(rows)], pa.timestamp("us")),
    }))
    table = catalog.load_table("shapes.transforms")
    assert_same_rows(conn, table, "shapes.transforms", "id")
    for where in ["id = 5", "name LIKE 'be%'", "born >= TIMESTAMP '2022-01-01 00:00:00'",
                  "seen < TIMESTAMP '2020-02-01 00:00:00'", "day = DATE '2024-05-02'",
                  "ping >= TIMESTAMP '2020-01-01 01:00:00'"]:
        selected, total = files_selected(conn, f"SELECT * FROM shapes.transforms WHERE {where}")
        assert 0 < selected < total, where
        ours = run(conn, f"SELECT id FROM shapes.transforms WHERE {where}").column("id").to_pylist()
        truth = duckdb_count_ids(table, where)
        assert sorted(ours) == truth, where


def duckdb_count_ids(table, where) -> list[int]:
    """The same filter evaluated by DuckDB over pyiceberg's rows."""
    import duckdb

    rows = table.scan().to_arrow()  # noqa: F841 (read by DuckDB by name)
    return sorted(r[0] for r in duckdb.sql(f"SELECT id FROM rows WHERE {where}").fetchall())


def test_nested_struct_list_and_map_fields_evolve(catalog, conn):
    from pyiceberg.schema import Schema
    from pyiceberg.types import (DoubleType, IntegerType, ListType, MapType, NestedField, StringType,
                                 StructType)

    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "info", StructType(NestedField(3, "a", IntegerType(), required=False),
                                          NestedField(4, "b", StringType(), required=False)), required=False),
        NestedField(5, "tags", ListType(6, StringType(), element_required=False), required=False),
        NestedField(7, "scores", MapType(8, StringType(), 9, LongType(), value_required=False), required=False),
    )
    if catalog.table_exists("shapes.nested"):
        catalog.drop_table("shapes.nested")
    table = catalog.create_table("shapes.nested", schema=schema)
    arrow_schema = table.schema().as_arrow()
    table.append(pa.Table.from_pylist([
        {"id": 1, "info": {"a": 10, "b": "x"}, "tags": ["p", "q"], "scores": [("m", 1)]},
        {"id": 2, "info": None, "tags": None, "scores": [("n", 2), ("o", None)]},
    ], schema=arrow_schema))
    with table.update_schema() as update:
        update.add_column(("info", "c"), DoubleType())
        update.update_column(("info", "a"), LongType())
    with table.update_schema() as update:
        update.rename_column("info.a", "alpha")
        update.rename_column("tags", "labels")
    table = catalog.load_table("shapes.nested")
    table.append(pa.Table.from_pylist([
        {"id": 3, "info": {"alpha": 30, "b": "z", "c": 0.5}, "labels": [], "scores": []},
    ], schema=table.schema().as_arrow()))
    table = catalog.load_table("shapes.nested")
    got = run(conn, "SELECT id, info, labels FROM shapes.nested ORDER BY id").to_pylist()
    expected = table.scan(selected_fields=("id", "info", "labels")).to_arrow().sort_by("id").to_pylist()
    assert got == expected
    assert got[0]["info"] == {"alpha": 10, "b": "x", "c": None}
    scores = run(conn, "SELECT id, scores FROM shapes.nested ORDER BY id").column("scores").to_pylist()
    # Polars has no map type: a map arrives as its entries, a list of key/value structs.
    entries = [{e["key"]: e["value"] for e in s} for s in scores]
    assert entries == [{"m": 1}, {"n": 2, "o": None}, {}]
