"""Tables written by pyiceberg into Floe's catalog file are queryable as written."""

import datetime as dt
from decimal import Decimal

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from floe_sql import run as fetch


@pytest.fixture
def catalog(server):
    return SqlCatalog("floe", uri=f"sqlite:///{server.data_dir}/catalog.db",
                      warehouse=f"file://{server.data_dir}/warehouse")




def test_pyiceberg_table_with_many_types_reads_back_as_written(catalog, conn):
    utc = dt.timezone.utc
    data = pa.table({
        "flag": pa.array([True, False, None], pa.bool_()),
        "small": pa.array([1, -2, None], pa.int32()),
        "big": pa.array([2**40, -1, None], pa.int64()),
        "ratio": pa.array([1.5, -0.25, None], pa.float32()),
        "measure": pa.array([3.25, 1e300, None], pa.float64()),
        "price": pa.array([Decimal("12.34"), Decimal("-0.01"), None], pa.decimal128(10, 2)),
        "day": pa.array([dt.date(2024, 2, 29), dt.date(1970, 1, 1), None], pa.date32()),
        "at": pa.array([dt.datetime(2024, 1, 1, 12, 30), dt.datetime(1999, 12, 31, 23, 59, 59), None], pa.timestamp("us")),
        "at_utc": pa.array([dt.datetime(2024, 1, 1, 12, 30, tzinfo=utc), None, None], pa.timestamp("us", tz="UTC")),
        "clock": pa.array([dt.time(8, 15), dt.time(23, 59, 59, 999999), None], pa.time64("us")),
        "name": pa.array(["ünïcode", "", None], pa.string()),
        "blob": pa.array([b"\x00\x01", b"", None], pa.binary()),
        "tags": pa.array([[1, 2], [], None], pa.list_(pa.int64())),
        "point": pa.array([{"x": 1.0, "label": "a"}, None, {"x": None, "label": "c"}],
                          pa.struct([("x", pa.float64()), ("label", pa.string())])),
    })
    catalog.create_namespace_if_not_exists("interop")
    if catalog.table_exists("interop.typed"):
        catalog.drop_table("interop.typed")
    table = catalog.create_table("interop.typed", schema=data.schema)
    table.append(data)

    got = fetch(conn, "SELECT * FROM interop.typed")
    expected = table.scan().to_arrow()
    assert got.column_names == expected.column_names
    for name in expected.column_names:
        assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert got.schema.field("name").type == pa.string()
    assert got.schema.field("blob").type == pa.binary()
    assert got.schema.field("at_utc").type == pa.timestamp("us", tz="UTC")


def test_empty_pyiceberg_table_and_commit_visibility(catalog, conn):
    catalog.create_namespace_if_not_exists("interop")
    if catalog.table_exists("interop.growing"):
        catalog.drop_table("interop.growing")
    table = catalog.create_table("interop.growing", schema=pa.schema([("v", pa.int64())]))
    assert fetch(conn, "SELECT count(*) AS n FROM interop.growing").column("n").to_pylist() == [0]
    table.append(pa.table({"v": pa.array([5, 6], pa.int64())}))
    # A commit by another engine is visible to the next query, one run again over
    # the same snapshot (which reuses its plan) included.
    for _ in range(2):
        assert fetch(conn, "SELECT sum(v) AS s FROM interop.growing").column("s").to_pylist() == [11]
    table.append(pa.table({"v": pa.array([7], pa.int64())}))
    assert fetch(conn, "SELECT sum(v) AS s FROM interop.growing").column("s").to_pylist() == [18]


def test_join_across_namespaces(catalog, conn):
    catalog.create_namespace_if_not_exists("lookup")
    if catalog.table_exists("lookup.species_names"):
        catalog.drop_table("lookup.species_names")
    names = pa.table({"species": ["setosa", "virginica"], "common": ["bristle-pointed iris", "Virginia iris"]})
    catalog.create_table("lookup.species_names", schema=names.schema).append(names)
    got = fetch(conn, "SELECT n.common, count(*) AS c FROM default.flowers f JOIN lookup.species_names n "
                      "ON f.species = n.species GROUP BY n.common ORDER BY n.common")
    assert got.to_pydict() == {"common": ["Virginia iris", "bristle-pointed iris"], "c": [50, 50]}


def test_uuid_fixed_and_map_columns(catalog, conn):
    """Types Polars' Parquet reader lacks go through iceberg-rust's reader."""
    import uuid

    from pyiceberg.schema import Schema
    from pyiceberg.types import FixedType, IntegerType, ListType, LongType, MapType, NestedField, StringType, \
        StructType, UUIDType

    catalog.create_namespace_if_not_exists("interop")
    if catalog.table_exists("interop.odd"):
        catalog.drop_table("interop.odd")
    table = catalog.create_table("interop.odd", schema=Schema(
        NestedField(1, "u", UUIDType(), required=False),
        NestedField(2, "f", FixedType(4), required=False),
        NestedField(3, "m", MapType(4, StringType(), 5, LongType(), value_required=False), required=False),
        NestedField(6, "ls", ListType(7, StructType(NestedField(8, "a", IntegerType(), required=False)),
                                      element_required=False), required=False),
        NestedField(9, "id", LongType(), required=True),
    ))
    arrow_schema = table.schema().as_arrow()
    some_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    table.append(pa.table({
        "u": pa.array([some_uuid.bytes, None], arrow_schema.field("u").type),
        "f": pa.array([b"abcd", None], pa.binary(4)),
        "m": pa.array([[("k", 1)], None], arrow_schema.field("m").type),
        "ls": pa.array([[{"a": 1}], []], arrow_schema.field("ls").type),
        "id": pa.array([1, 2], pa.int64()),
    }, schema=arrow_schema))

    got = fetch(conn, "SELECT * FROM interop.odd ORDER BY id").to_pydict()
    assert got["u"] == [some_uuid.bytes, None]
    assert got["f"] == [b"abcd", None]
    assert got["m"] == [[{"key": "k", "value": 1}], None]
    assert got["ls"] == [[{"a": 1}], []]
    assert fetch(conn, "SELECT id FROM interop.odd WHERE u IS NULL").column("id").to_pylist() == [2]
