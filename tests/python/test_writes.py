"""Writing to the lake through real clients; pyiceberg and DuckDB read it back."""

import threading

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from adbc_driver_manager import AdbcStatusCode, Error as AdbcError

from readers import duckdb_scan, pyiceberg_catalog
from floe_sql import run




def rows_affected(conn, sql, params=None) -> int:
    return run(conn, sql, params).column("rows_affected").to_pylist()[0]


def sort_table(table: pa.Table, by: str) -> pa.Table:
    return table.sort_by(by)


@pytest.fixture(scope="module")
def ns(server):
    with flightsql.connect(server.uri, autocommit=True) as conn:
        run(conn, "CREATE SCHEMA IF NOT EXISTS writes")
    return "writes"


def test_bulk_ingest_in_every_mode(server, conn, ns):
    million = pa.table({
        "id": pa.array(range(1_000_000), pa.int64()),
        "x": pc.multiply(pa.array(range(1_000_000), pa.float64()), 0.5),
        "s": pa.array([f"s{i % 100}" for i in range(1_000_000)]),
    })
    # ADBC sends each batch as one gRPC message (16 MiB by default): chunk it.
    million = pa.Table.from_batches(million.to_batches(max_chunksize=100_000))
    total = sum(range(1_000_000))
    with conn.cursor() as cursor:
        assert cursor.adbc_ingest("ingested", million, mode="create", db_schema_name=ns) == 1_000_000
        with pytest.raises(AdbcError) as excinfo:
            cursor.adbc_ingest("ingested", million.slice(0, 10), mode="create", db_schema_name=ns)
        assert excinfo.value.status_code == AdbcStatusCode.ALREADY_EXISTS
        assert cursor.adbc_ingest("ingested", million, mode="append", db_schema_name=ns) == 1_000_000
    counts = run(conn, f"SELECT count(*) AS n, sum(id) AS total FROM {ns}.ingested").to_pydict()
    assert counts == {"n": [2_000_000], "total": [2 * total]}

    with conn.cursor() as cursor:
        assert cursor.adbc_ingest("ingested", million, mode="replace", db_schema_name=ns) == 1_000_000
        assert cursor.adbc_ingest("both_ways", million, mode="create_append", db_schema_name=ns) == 1_000_000
        assert cursor.adbc_ingest("both_ways", million, mode="create_append", db_schema_name=ns) == 1_000_000
        with pytest.raises(AdbcError) as excinfo:
            cursor.adbc_ingest("never_created", million.slice(0, 5), mode="append", db_schema_name=ns)
        assert excinfo.value.status_code == AdbcStatusCode.NOT_FOUND
    assert run(conn, f"SELECT count(*) AS n FROM {ns}.ingested").column("n").to_pylist() == [1_000_000]
    assert run(conn, f"SELECT sum(id) AS t FROM {ns}.both_ways").column("t").to_pylist() == [2 * total]

    table = pyiceberg_catalog(server).load_table(f"{ns}.ingested")
    assert table.current_snapshot().summary.operation.value == "overwrite"
    assert sort_table(table.scan().to_arrow(), "id").equals(million.combine_chunks())
    duck = duckdb_scan(table.metadata_location, "WHERE id < 10 ORDER BY id")
    assert duck.column("s").to_pylist() == million.slice(0, 10).column("s").to_pylist()
    # Replacing with a different schema recreates the table with the new columns.
    with conn.cursor() as cursor:
        narrow = pa.table({"other": pa.array([1, 2, 3])})
        assert cursor.adbc_ingest("ingested", narrow, mode="replace", db_schema_name=ns) == 3
    assert run(conn, f"SELECT * FROM {ns}.ingested ORDER BY other").to_pydict() == {"other": [1, 2, 3]}


def test_ctas_insert_and_values_read_back_identically(server, conn, ns):
    run(conn, f"DROP TABLE IF EXISTS {ns}.big_flowers")
    assert rows_affected(conn, f"CREATE TABLE {ns}.big_flowers AS SELECT * FROM default.flowers WHERE sepal_length > 7") == 12
    assert rows_affected(conn, f"INSERT INTO {ns}.big_flowers SELECT * FROM default.flowers WHERE sepal_length < 4.5") == 4
    assert rows_affected(conn, f"INSERT INTO {ns}.big_flowers VALUES (1.0, 2.0, 3.0, 4.0, 'invented'), (5, 6, 7, 8, NULL)") == 2
    assert rows_affected(conn, f"INSERT INTO {ns}.big_flowers (species, sepal_length) VALUES (?, ?)", ("bound", 9.5)) == 1

    floe = sort_table(run(conn, f"SELECT * FROM {ns}.big_flowers"), "sepal_length")
    assert floe.num_rows == 19
    table = pyiceberg_catalog(server).load_table(f"{ns}.big_flowers")
    assert sort_table(table.scan().to_arrow(), "sepal_length").to_pydict() == floe.to_pydict()
    duck = duckdb_scan(table.metadata_location, "ORDER BY sepal_length")
    assert duck.to_pydict() == floe.to_pydict()
    assert [f.name for f in table.schema().fields] == floe.column_names


def test_insert_overwrite_is_one_overwrite_snapshot_and_keeps_history(server, conn, ns):
    run(conn, f"DROP TABLE IF EXISTS {ns}.history")
    run(conn, f"CREATE TABLE {ns}.history AS SELECT species FROM default.flowers")
    catalog = pyiceberg_catalog(server)
    before = catalog.load_table(f"{ns}.history").current_snapshot()
    assert rows_affected(conn, f"INSERT OVERWRITE {ns}.history SELECT 'replaced' AS species") == 1
    table = catalog.load_table(f"{ns}.history")
    current = table.current_snapshot()
    assert current.summary.operation.value == "overwrite"
    assert current.parent_snapshot_id == before.snapshot_id
    assert table.scan().to_arrow().column("species").to_pylist() == ["replaced"]
    assert table.scan(snapshot_id=before.snapshot_id).to_arrow().num_rows == 150
    assert duckdb_scan(table.metadata_location).column("species").to_pylist() == ["replaced"]
    assert run(conn, f"SELECT count(*) AS n FROM {ns}.history").column("n").to_pylist() == [1]
    assert rows_affected(conn, f"TRUNCATE TABLE {ns}.history") == 0
    assert run(conn, f"SELECT count(*) AS n FROM {ns}.history").column("n").to_pylist() == [0]


def test_schema_rules_name_the_column(conn, ns):
    run(conn, f"DROP TABLE IF EXISTS {ns}.strict")
    run(conn, f"CREATE TABLE {ns}.strict (id BIGINT NOT NULL, score DOUBLE, label VARCHAR)")
    with conn.cursor() as cursor:
        # int32 → int64 and float32 → double widen; columns match by name, in any order.
        widened = pa.table({"score": pa.array([0.5], pa.float32()), "id": pa.array([1], pa.int32())})
        assert cursor.adbc_ingest("strict", widened, mode="append", db_schema_name=ns) == 1
        for bad, words in [
            (pa.table({"id": pa.array([1.5])}), "`id`"),
            (pa.table({"score": pa.array([1.0])}), "`id` is missing"),
            (pa.table({"id": pa.array([2]), "colour": pa.array(["red"])}), "`colour`"),
        ]:
            with pytest.raises(AdbcError) as excinfo:
                cursor.adbc_ingest("strict", bad, mode="append", db_schema_name=ns)
            assert excinfo.value.status_code == AdbcStatusCode.INVALID_ARGUMENT
            assert words in str(excinfo.value)
    with pytest.raises(AdbcError) as excinfo:
        run(conn, f"INSERT INTO {ns}.strict VALUES (1, 2.0)")
    assert "2 value(s) per row for 3 column(s)" in str(excinfo.value)
    assert run(conn, f"SELECT id, score, label FROM {ns}.strict").to_pydict() == {"id": [1], "score": [0.5], "label": [None]}


def test_integers_narrow_into_a_column_where_every_value_fits(conn, ns):
    run(conn, f"DROP TABLE IF EXISTS {ns}.counts")
    run(conn, f"CREATE TABLE {ns}.counts (n INTEGER)")
    with conn.cursor() as cursor:
        assert cursor.adbc_ingest("counts", pa.table({"n": pa.array([7], pa.int64())}), mode="append", db_schema_name=ns) == 1
        with pytest.raises(AdbcError) as excinfo:
            cursor.adbc_ingest("counts", pa.table({"n": pa.array([8, 1 << 40], pa.int64())}), mode="append", db_schema_name=ns)
        assert excinfo.value.status_code == AdbcStatusCode.INVALID_ARGUMENT and "does not fit" in str(excinfo.value)
    # SQL's assignment cast: `n * 10` is a BIGINT.
    run(conn, f"INSERT INTO {ns}.counts SELECT n * 10 FROM {ns}.counts")
    with pytest.raises(AdbcError):
        run(conn, f"INSERT INTO {ns}.counts SELECT n * 1000000000 FROM {ns}.counts")
    assert sorted(run(conn, f"SELECT n FROM {ns}.counts").column("n").to_pylist()) == [7, 70]
    # A replace whose values could not all fit recreates the table with the wider column.
    with conn.cursor() as cursor:
        wide = pa.table({"n": pa.array([1 << 40], pa.int64())})
        assert cursor.adbc_ingest("counts", wide, mode="replace", db_schema_name=ns) == 1
    assert run(conn, f"SELECT n FROM {ns}.counts").column("n").to_pylist() == [1 << 40]


def test_ddl_errors(conn, ns):
    run(conn, f"CREATE TABLE IF NOT EXISTS {ns}.ddl (a INT)")
    with pytest.raises(AdbcError) as excinfo:
        run(conn, f"CREATE TABLE {ns}.ddl (a INT)")
    assert excinfo.value.status_code == AdbcStatusCode.ALREADY_EXISTS
    run(conn, f"CREATE TABLE IF NOT EXISTS {ns}.ddl (a INT)")
    run(conn, f"DROP TABLE {ns}.ddl")
    with pytest.raises(AdbcError) as excinfo:
        run(conn, f"DROP TABLE {ns}.ddl")
    assert excinfo.value.status_code == AdbcStatusCode.NOT_FOUND
    run(conn, "CREATE SCHEMA scratch_ns")
    run(conn, "CREATE TABLE scratch_ns.t (a INT)")
    with pytest.raises(AdbcError) as excinfo:
        run(conn, "DROP SCHEMA scratch_ns")
    assert "still has tables" in str(excinfo.value)
    run(conn, "DROP TABLE scratch_ns.t")
    run(conn, "DROP SCHEMA scratch_ns")
    with pytest.raises(AdbcError) as excinfo:
        run(conn, "CREATE TABLE nowhere_ns.t (a INT)")
    assert excinfo.value.status_code == AdbcStatusCode.NOT_FOUND


def test_concurrent_appends_lose_nothing(server, conn, ns):
    run(conn, f"DROP TABLE IF EXISTS {ns}.contended")
    run(conn, f"CREATE TABLE {ns}.contended (writer INT, n INT)")
    errors = []

    def writer(index: int):
        try:
            with flightsql.connect(server.uri, autocommit=True) as own:
                for n in range(25):
                    assert rows_affected(own, f"INSERT INTO {ns}.contended VALUES ({index}, {n})") == 1
        except Exception as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    got = run(conn, f"SELECT writer, count(DISTINCT n) AS k FROM {ns}.contended GROUP BY writer ORDER BY writer")
    assert got.to_pydict() == {"writer": list(range(8)), "k": [25] * 8}
    assert run(conn, f"SELECT count(*) AS n FROM {ns}.contended").column("n").to_pylist() == [200]


def test_partitioned_table_is_written_per_its_spec(server, conn, ns):
    run(conn, f"DROP TABLE IF EXISTS {ns}.parted")
    run(conn, f"CREATE TABLE {ns}.parted (id BIGINT, species VARCHAR, at TIMESTAMP, width DOUBLE) "
              "PARTITIONED BY (species, bucket(4, id), days(at))")
    with conn.cursor() as cursor:
        rows = pa.table({
            "id": pa.array(range(150), pa.int64()),
            "species": pa.array(["setosa", "versicolor", "virginica"] * 50),
            "at": pa.array([1_700_000_000_000_000 + i * 86_400_000_000 // 10 for i in range(150)], pa.timestamp("us")),
            "width": pa.array([i / 10 for i in range(150)]),
        })
        assert cursor.adbc_ingest("parted", rows, mode="append", db_schema_name=ns) == 150
    table = pyiceberg_catalog(server).load_table(f"{ns}.parted")
    assert [f.name for f in table.spec().fields] == ["species", "id_bucket", "at_day"]
    files = table.inspect.files().to_pydict()
    assert len(files["file_path"]) > 3, "one file per partition"
    for partition in files["partition"]:
        assert partition["species"] in {"setosa", "versicolor", "virginica"}
        assert 0 <= partition["id_bucket"] < 4
    assert sort_table(table.scan().to_arrow(), "id").equals(rows)
    # Partition pruning works for other engines: one species is a third of the files.
    setosa_files = table.scan(row_filter="species == 'setosa'").plan_files()
    assert 0 < len(list(setosa_files)) < len(files["file_path"])
    assert duckdb_scan(table.metadata_location, "WHERE species = 'virginica'").num_rows == 50
    got = run(conn, f"SELECT species, count(*) AS n FROM {ns}.parted GROUP BY species ORDER BY species")
    assert got.column("n").to_pylist() == [50, 50, 50]


def test_every_type_written_by_floe_reads_back_identically(server, conn, ns):
    import datetime as dt
    from decimal import Decimal

    utc = dt.timezone.utc
    data = pa.table({
        "flag": pa.array([True, None], pa.bool_()),
        "small": pa.array([1, None], pa.int32()),
        "big": pa.array([2**40, None], pa.int64()),
        "ratio": pa.array([1.5, None], pa.float32()),
        "measure": pa.array([3.25, None], pa.float64()),
        "price": pa.array([Decimal("12.34"), None], pa.decimal128(10, 2)),
        "day": pa.array([dt.date(2024, 2, 29), None], pa.date32()),
        "at": pa.array([dt.datetime(2024, 1, 1, 12, 30), None], pa.timestamp("us")),
        "at_utc": pa.array([dt.datetime(2024, 1, 1, 12, 30, tzinfo=utc), None], pa.timestamp("us", tz="UTC")),
        "clock": pa.array([dt.time(8, 15), None], pa.time64("us")),
        "name": pa.array(["ünïcode", None], pa.string()),
        "blob": pa.array([b"\x00\x01", None], pa.binary()),
        "tags": pa.array([[1, 2], None], pa.list_(pa.int64())),
        "point": pa.array([{"x": 1.0, "label": "a"}, None], pa.struct([("x", pa.float64()), ("label", pa.string())])),
    })
    run(conn, f"DROP TABLE IF EXISTS {ns}.all_types")
    with conn.cursor() as cursor:
        assert cursor.adbc_ingest("all_types", data, mode="create", db_schema_name=ns) == 2
    table = pyiceberg_catalog(server).load_table(f"{ns}.all_types")
    from_pyiceberg = table.scan().to_arrow()
    from_duckdb = duckdb_scan(table.metadata_location)
    from_floe = run(conn, f"SELECT * FROM {ns}.all_types")
    for name in data.column_names:
        expected = data.column(name).to_pylist()
        assert from_pyiceberg.column(name).to_pylist() == expected, name
        assert from_floe.column(name).to_pylist() == expected, name
        assert from_duckdb.column(name).to_pylist() == expected, name
    # Data files carry column statistics, so engines can prune on them.
    stats = table.inspect.files().to_pydict()
    assert stats["lower_bounds"][0] and stats["null_value_counts"][0]


def test_executemany_inserts_each_parameter_row(conn, ns):
    run(conn, f"DROP TABLE IF EXISTS {ns}.many")
    run(conn, f"CREATE TABLE {ns}.many (k BIGINT, label VARCHAR)")
    with conn.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {ns}.many VALUES (?, ?)", [(1, "a"), (2, "b"), (3, None)])
    got = run(conn, f"SELECT k, label FROM {ns}.many ORDER BY k")
    assert got.to_pydict() == {"k": [1, 2, 3], "label": ["a", "b", None]}


def test_large_writes_are_bounded_row_groups_in_one_file_per_core(server, conn, ns):
    """Row groups of 128Ki rows (a table's `write.parquet.row-group-limit`
    overrides it), encoded by one writer per core taking turns; nothing is
    lost or duplicated across the files."""
    import os

    import pyarrow.parquet as pq
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField

    rows = 600_000
    data = pa.table({"id": pa.array(range(rows), pa.int64())})
    data = pa.Table.from_batches(data.to_batches(max_chunksize=50_000))
    catalog = pyiceberg_catalog(server)
    schema = Schema(NestedField(1, "id", LongType(), required=False))
    for name in ("row_groups", "row_groups_limited"):
        if catalog.table_exists(f"{ns}.{name}"):
            catalog.drop_table(f"{ns}.{name}")
    catalog.create_table(f"{ns}.row_groups", schema=schema)
    catalog.create_table(f"{ns}.row_groups_limited", schema=schema, properties={"write.parquet.row-group-limit": "10000"})
    with conn.cursor() as cursor:
        for name in ("row_groups", "row_groups_limited"):
            assert cursor.adbc_ingest(name, data, mode="append", db_schema_name=ns) == rows

    for name, limit in (("row_groups", 128 * 1024), ("row_groups_limited", 10_000)):
        table = catalog.load_table(f"{ns}.{name}")
        files = [task.file.file_path.removeprefix("file://") for task in table.scan().plan_files()]
        assert len(files) == min(len(os.sched_getaffinity(0)), 4), (name, files)
        groups = [pq.ParquetFile(path).metadata.row_group(i).num_rows
                  for path in files for i in range(pq.ParquetFile(path).metadata.num_row_groups)]
        assert max(groups) <= limit and sum(groups) == rows, (name, groups)
        assert sort_table(table.scan().to_arrow(), "id").column("id").to_pylist() == list(range(rows))


def test_writes_use_the_tables_parquet_codec(server, conn, ns):
    """`write.parquet.compression-codec` and `-level`, set by another engine
    (pyiceberg here), choose the codec of the files Floe writes; every reader
    gets the rows back. A codec Floe cannot write refuses the write, naming
    the property, and commits nothing."""
    import pyarrow.parquet as pq
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField, StringType

    rows = 50_000
    data = pa.table({"id": pa.array(range(rows), pa.int64()), "s": pa.array([f"row {i % 977}" for i in range(rows)])})
    catalog = pyiceberg_catalog(server)
    schema = Schema(NestedField(1, "id", LongType(), required=False), NestedField(2, "s", StringType(), required=False))
    codecs = {
        "codec_default": ({}, "ZSTD"),
        "codec_lz4_raw": ({"write.parquet.compression-codec": "lz4_raw"}, "LZ4"),  # Arrow names block LZ4 so
        "codec_snappy": ({"write.parquet.compression-codec": "SNAPPY"}, "SNAPPY"),
        "codec_gzip": ({"write.parquet.compression-codec": "gzip", "write.parquet.compression-level": "9"}, "GZIP"),
        "codec_none": ({"write.parquet.compression-codec": "uncompressed"}, "UNCOMPRESSED"),
    }
    for name, (properties, _) in codecs.items():
        if catalog.table_exists(f"{ns}.{name}"):
            catalog.drop_table(f"{ns}.{name}")
        catalog.create_table(f"{ns}.{name}", schema=schema, properties=properties)
    with conn.cursor() as cursor:
        for name in codecs:
            assert cursor.adbc_ingest(name, data, mode="append", db_schema_name=ns) == rows
    for name, (_, expected) in codecs.items():
        run(conn, f"INSERT INTO {ns}.{name} VALUES (-1, 'inserted')")
        table = catalog.load_table(f"{ns}.{name}")
        files = [task.file.file_path.removeprefix("file://") for task in table.scan().plan_files()]
        assert len(files) >= 2, (name, files)
        for path in files:
            metadata = pq.ParquetFile(path).metadata
            assert {metadata.row_group(0).column(c).compression for c in range(2)} == {expected}, (name, path)
        assert table.scan().to_arrow().num_rows == rows + 1
        assert duckdb_scan(table.metadata_location, "WHERE id < 0").column("s").to_pylist() == ["inserted"]
        got = run(conn, f"SELECT count(*) AS n, sum(id) AS total, count(DISTINCT s) AS kinds FROM {ns}.{name}").to_pydict()
        assert got == {"n": [rows + 1], "total": [sum(range(rows)) - 1], "kinds": [978]}, name

    if catalog.table_exists(f"{ns}.codec_bad"):
        catalog.drop_table(f"{ns}.codec_bad")
    catalog.create_table(f"{ns}.codec_bad", schema=schema, properties={"write.parquet.compression-codec": "lzma"})
    with conn.cursor() as cursor:
        with pytest.raises(AdbcError) as excinfo:
            cursor.adbc_ingest("codec_bad", data, mode="append", db_schema_name=ns)
    # ADBC's bulk ingest reports every failure as UNKNOWN, naming the gRPC code.
    assert "FailedPrecondition" in str(excinfo.value), excinfo.value
    assert "write.parquet.compression-codec = `lzma`" in str(excinfo.value)
    assert catalog.load_table(f"{ns}.codec_bad").current_snapshot() is None


def test_sql_declares_and_changes_table_properties(server, conn, ns):
    """CREATE TABLE … TBLPROPERTIES (Spark) or WITH (Trino), CTAS with
    properties, and ALTER TABLE … SET TBLPROPERTIES store Iceberg properties
    pyiceberg reads back; the next write obeys the codec. What a write could
    not obey is refused when it is declared, and nothing changes."""
    import pyarrow.parquet as pq

    catalog = pyiceberg_catalog(server)

    def codecs(name):
        table = catalog.load_table(f"{ns}.{name}")
        return {pq.ParquetFile(task.file.file_path.removeprefix("file://")).metadata.row_group(0).column(0).compression
                for task in table.scan().plan_files()}

    for name in ("props_spark", "props_trino", "props_ctas"):
        run(conn, f"DROP TABLE IF EXISTS {ns}.{name}")
    run(conn, f"CREATE TABLE {ns}.props_spark (a BIGINT) TBLPROPERTIES ('write.parquet.compression-codec' = 'snappy', 'owner' = 'analytics')")
    run(conn, f"CREATE TABLE {ns}.props_trino (a BIGINT) WITH (\"write.parquet.compression-codec\" = 'gzip', \"write.parquet.compression-level\" = 9)")
    run(conn, f"CREATE TABLE {ns}.props_ctas TBLPROPERTIES ('write.parquet.compression-codec' = 'lz4_raw') AS SELECT 7 AS a")
    properties = catalog.load_table(f"{ns}.props_spark").properties
    assert properties["write.parquet.compression-codec"] == "snappy" and properties["owner"] == "analytics"
    assert catalog.load_table(f"{ns}.props_trino").properties["write.parquet.compression-level"] == "9"
    run(conn, f"INSERT INTO {ns}.props_spark VALUES (1), (2)")
    run(conn, f"INSERT INTO {ns}.props_trino VALUES (1)")
    assert codecs("props_spark") == {"SNAPPY"} and codecs("props_trino") == {"GZIP"} and codecs("props_ctas") == {"LZ4"}

    # Changed afterwards: old files keep their codec, new ones take the new one; other properties stay.
    run(conn, f"ALTER TABLE {ns}.props_spark SET TBLPROPERTIES ('write.parquet.compression-codec' = 'uncompressed')")
    run(conn, f"INSERT INTO {ns}.props_spark VALUES (3)")
    assert codecs("props_spark") == {"SNAPPY", "UNCOMPRESSED"}
    properties = catalog.load_table(f"{ns}.props_spark").properties
    assert properties["write.parquet.compression-codec"] == "uncompressed" and properties["owner"] == "analytics"
    assert run(conn, f"SELECT sum(a) AS total FROM {ns}.props_spark").to_pydict() == {"total": [6]}
    listed = run(conn, f"SELECT key, value FROM {ns}.\"props_spark$properties\" ORDER BY key").to_pydict()
    assert dict(zip(listed["key"], listed["value"])) == properties
    run(conn, f"ALTER TABLE IF EXISTS {ns}.props_missing SET TBLPROPERTIES ('owner' = 'x')")

    refused = [
        (f"CREATE TABLE {ns}.props_bad (a BIGINT) TBLPROPERTIES ('write.parquet.compression-codec' = 'lzma')", "`lzma`"),
        (f"CREATE TABLE {ns}.props_bad TBLPROPERTIES ('format-version' = '1') AS SELECT 1 AS a", "`format-version`"),
        (f"ALTER TABLE {ns}.props_spark SET TBLPROPERTIES ('write.parquet.row-group-limit' = 'many')", "positive number of rows"),
        # A level snappy does not take, against the codec already set.
        (f"ALTER TABLE {ns}.props_spark SET TBLPROPERTIES ('write.parquet.compression-codec' = 'snappy', 'write.parquet.compression-level' = '3')", "takes no level"),
    ]
    for sql, words in refused:
        with pytest.raises(AdbcError) as excinfo:
            run(conn, sql)
        assert excinfo.value.status_code == AdbcStatusCode.INVALID_ARGUMENT, (sql, excinfo.value)
        assert words in str(excinfo.value), (sql, excinfo.value)
    assert not catalog.table_exists(f"{ns}.props_bad")
    assert catalog.load_table(f"{ns}.props_spark").properties["write.parquet.compression-codec"] == "uncompressed"
    with pytest.raises(AdbcError) as excinfo:
        run(conn, f"ALTER TABLE {ns}.props_spark ADD COLUMN b INT")
    assert excinfo.value.status_code == AdbcStatusCode.NOT_IMPLEMENTED, excinfo.value


def test_dictionaries_only_where_they_make_the_column_smaller(server, conn, ns):
    """A column of distinct values is written plain (a dictionary would hold
    the column again, parquet-mr's rule), a column of few values keeps its
    dictionary; both read back whole, from Floe and from pyiceberg."""
    import pyarrow.parquet as pq

    rows = 200_000
    data = pa.table({
        "id": pa.array(range(rows), pa.int64()),
        "comment": pa.array([f"comment number {i}" for i in range(rows)], pa.string()),
        "flag": pa.array([["A", "N", "R"][i % 3] for i in range(rows)], pa.string()),
        "bucket": pa.array([i % 100 for i in range(rows)], pa.int64()),
    })
    run(conn, f"DROP TABLE IF EXISTS {ns}.encodings")
    with conn.cursor() as cursor:
        assert cursor.adbc_ingest("encodings", data, mode="create", db_schema_name=ns) == rows
    table = pyiceberg_catalog(server).load_table(f"{ns}.encodings")
    files = [task.file.file_path.removeprefix("file://") for task in table.scan().plan_files()]
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            columns = {metadata.row_group(group).column(i).path_in_schema: metadata.row_group(group).column(i)
                       for i in range(metadata.num_columns)}
            assert not columns["id"].has_dictionary_page and not columns["comment"].has_dictionary_page, path
            assert columns["flag"].has_dictionary_page and columns["bucket"].has_dictionary_page, path
    assert sort_table(table.scan().to_arrow(), "id").equals(sort_table(data, "id").cast(table.scan().to_arrow().schema))
    got = run(conn, f"SELECT count(DISTINCT comment) AS comments, sum(bucket) AS buckets, min(flag) AS flag FROM {ns}.encodings")
    assert got.to_pylist() == [{"comments": rows, "buckets": sum(i % 100 for i in range(rows)), "flag": "A"}]


def test_names_in_another_case_reach_the_stored_table(server, conn, ns):
    """Unquoted names match whatever their case: an ingest, DML and queries written in another
    case than the catalog's reach the one table, and no twin is created."""
    first = pa.table({"Id": pa.array([1, 2], pa.int64()), "Region": ["eu", "us"]})
    with conn.cursor() as cursor:
        assert cursor.adbc_ingest("orders", first, mode="create", db_schema_name=ns) == 2
        more = pa.table({"Id": pa.array([3], pa.int64()), "Region": ["eu"]})
        assert cursor.adbc_ingest("ORDERS", more, mode="append", db_schema_name=ns.upper()) == 1
    assert rows_affected(conn, f"INSERT INTO {ns.upper()}.Orders (ID, region) VALUES (4, 'apac')") == 1
    assert rows_affected(conn, f"UPDATE {ns.capitalize()}.ORDERS SET REGION = 'us' WHERE id = 3") == 1
    merged = (f"MERGE INTO {ns.upper()}.ORDERS AS T USING (SELECT 5 AS ID, 'sa' AS REGION) AS S ON t.Id = s.id "
              "WHEN MATCHED THEN UPDATE SET REGION = s.region WHEN NOT MATCHED THEN INSERT (ID, Region) VALUES (s.ID, S.Region)")
    assert rows_affected(conn, merged) == 1
    assert rows_affected(conn, f"DELETE FROM {ns}.Orders WHERE REGION = 'sa'") == 1
    grouped = run(conn, f"SELECT REGION, count(*) AS N FROM {ns.upper()}.ORDERS AS O WHERE o.ID > 1 GROUP BY region ORDER BY Region")
    assert grouped.to_pydict() == {"Region": ["apac", "us"], "N": [1, 2]}
    assert [t[-1] for t in pyiceberg_catalog(server).list_tables(ns) if t[-1].lower() == "orders"] == ["orders"]
    # A schema is one whatever its case: a new table written to it in another case lands in it.
    run(conn, f"CREATE SCHEMA IF NOT EXISTS {ns.upper()}")
    with conn.cursor() as cursor:
        assert cursor.adbc_ingest("Fresh", first, mode="create", db_schema_name=ns.upper()) == 2
    assert run(conn, f"SELECT count(*) AS n FROM {ns}.FRESH").column("n").to_pylist() == [2]
    assert [n for n in pyiceberg_catalog(server).list_namespaces() if n[-1].lower() == ns] == [(ns,)]
    # A quoted name matches exactly.
    with pytest.raises(AdbcError) as excinfo:
        run(conn, f'SELECT "REGION" FROM {ns}.orders')
    assert excinfo.value.status_code == AdbcStatusCode.INVALID_ARGUMENT
