"""Tables the third-party client tests (JDBC, Go, SQLAlchemy, …) read: every
Iceberg type written by pyiceberg (a writer that is not Floe), and a large
table ingested in several commits so a cluster spreads it."""

import datetime as dt
import decimal
import uuid

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType, BooleanType, DateType, DecimalType, DoubleType, FixedType, FloatType, IntegerType, ListType,
    LongType, MapType, NestedField, StringType, StructType, TimestampType, TimestamptzType, TimeType, UUIDType,
)

from readers import pyiceberg_catalog

TYPES_SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "b", BooleanType()),
    NestedField(3, "i", IntegerType()),
    NestedField(4, "l", LongType()),
    NestedField(5, "f", FloatType()),
    NestedField(6, "d", DoubleType()),
    NestedField(7, "dec", DecimalType(10, 2)),
    NestedField(8, "dt", DateType()),
    NestedField(9, "t", TimeType()),
    NestedField(10, "ts", TimestampType()),
    NestedField(11, "tstz", TimestamptzType()),
    NestedField(12, "s", StringType(), doc="free text"),
    NestedField(13, "u", UUIDType()),
    NestedField(14, "fx", FixedType(4)),
    NestedField(15, "bin", BinaryType()),
    NestedField(16, "tags", ListType(17, StringType())),
    NestedField(18, "point", StructType(NestedField(19, "x", DoubleType()), NestedField(20, "y", DoubleType()))),
    NestedField(21, "attrs", MapType(22, StringType(), 23, IntegerType())),
    identifier_field_ids=[1],
)

FIRST_ROW = {
    "id": 1, "b": True, "i": 42, "l": 9_000_000_000, "f": 1.5, "d": 2.25, "dec": decimal.Decimal("1234.56"),
    "dt": dt.date(2024, 2, 29), "t": dt.time(12, 34, 56, 789012), "ts": dt.datetime(2024, 2, 29, 12, 34, 56, 789012),
    "tstz": dt.datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=dt.timezone.utc), "s": "héllo",
    "u": uuid.UUID("12345678-1234-5678-1234-567812345678").bytes, "fx": b"\x01\x02\x03\x04", "bin": b"\x00\xff",
    "tags": ["a", "b"], "point": {"x": 1.0, "y": 2.0}, "attrs": [("k", 1)],
}


def make_types_table(server, namespace: str = "jdbc"):
    """`<namespace>.types`: row 1 holds FIRST_ROW, row 2 only its id (every other column NULL)."""
    catalog = pyiceberg_catalog(server)
    catalog.create_namespace_if_not_exists(namespace)
    name = f"{namespace}.types"
    if catalog.table_exists(name):
        catalog.drop_table(name)
    table = catalog.create_table(name, schema=TYPES_SCHEMA)
    arrow_schema = table.schema().as_arrow()
    rows = [FIRST_ROW, {"id": 2}]
    table.append(pa.Table.from_pylist(rows, schema=arrow_schema))
    return table


def make_big_table(conn, rows: int = 1_000_000, commits: int = 4):
    """`big.numbers` (n = 0..rows-1, a label), ingested over ADBC in `commits` appends."""
    step = rows // commits
    with conn.cursor() as cursor:
        cursor.execute("CREATE SCHEMA IF NOT EXISTS big")
        for piece in range(commits):
            n = pa.array(range(piece * step, (piece + 1) * step), pa.int64())
            data = pa.table({"n": n, "label": pa.array([f"row {i % 97}" for i in range(piece * step, (piece + 1) * step)])})
            cursor.adbc_ingest("numbers", data, mode="create" if piece == 0 else "append", db_schema_name="big")
