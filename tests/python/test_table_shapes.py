"""Tables in the shapes other engines leave them (evolved schemas, format v1,
partition-spec evolution) read back through Floe exactly as pyiceberg reads them."""

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
