"""A lake on S3: Garage (a real S3 server) holds the files, rustberg (a real
Iceberg REST catalog) and a SQLite catalog hold the tables. pyiceberg writes a
partitioned, schema-evolved table with deletes; Floe reads it over ADBC
exactly as pyiceberg does, prunes by partition, travels in time and lists
the same snapshots. Floe's own catalog lives on S3 too (flags only), so the
demo table, CTAS, INSERT and INSERT OVERWRITE all write through S3."""

import datetime as dt
import re
import time

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from adbc_driver_manager import AdbcStatusCode, Error as AdbcError

from floe_sql import run
from harness import FloeServer, Garage, Rustberg, free_port


@pytest.fixture(scope="module")
def garage(tmp_path_factory):
    garage = Garage(tmp_path_factory.mktemp("garage"))
    yield garage
    garage.stop()


@pytest.fixture(scope="module")
def rustberg(garage, tmp_path_factory):
    props = {k: v for k, v in garage.iceberg_props().items() if k != "s3.force-virtual-addressing"}
    rustberg = Rustberg(tmp_path_factory.mktemp("rustberg"), f"s3://{garage.bucket}/rest", props)
    yield rustberg
    rustberg.stop()


def floe_on_s3(root, garage, rustberg, *extra_args, secret=None, endpoint=None):
    """Floe with its own catalog's warehouse on S3 (flags) and the REST catalog
    `lake` beside it (config file); keys only through the environment."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "catalogs.toml"
    config.write_text(f"""
[[catalogs]]
name = "lake"
type = "rest"
uri = "{rustberg.uri}"
warehouse = "{rustberg.warehouse}"
[catalogs.s3]
endpoint = "{endpoint or garage.endpoint}"
region = "{garage.region}"
path_style = true
access_key_id_env = "LAKE_S3_KEY"
secret_access_key_env = "LAKE_S3_SECRET"
""")
    env = {"FLOE_S3_ACCESS_KEY_ID": garage.key_id, "FLOE_S3_SECRET_ACCESS_KEY": garage.secret,
           "LAKE_S3_KEY": garage.key_id, "LAKE_S3_SECRET": secret or garage.secret}
    return FloeServer(root, "--catalog-uri", str(root / "catalog.db"),
                      "--warehouse", f"s3://{garage.bucket}/floe-{root.name}",
                      "--s3-endpoint", garage.endpoint, "--s3-region", garage.region, "--s3-path-style",
                      "--storage-timeout-seconds", "2", "--storage-retries", "1",
                      "--config", str(config), *extra_args, env=env)


@pytest.fixture(scope="module")
def floe(garage, rustberg, tmp_path_factory):
    server = floe_on_s3(tmp_path_factory.mktemp("floe-s3"), garage, rustberg)
    yield server
    assert server.alive(), server.logs()
    server.stop()


@pytest.fixture(scope="module")
def s3conn(floe):
    import adbc_driver_flightsql.dbapi as flightsql

    with flightsql.connect(floe.uri, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def events(garage, rustberg):
    """pyiceberg writes through rustberg to Garage: partitioned by region and
    day, then columns added, renamed and promoted, rows deleted (by DuckDB
    with position delete files, by pyiceberg copy-on-write), the spec evolved
    with a bucket, and more rows appended."""
    from pyiceberg.catalog.rest import RestCatalog
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import BucketTransform, DayTransform, IdentityTransform
    from pyiceberg.types import DoubleType, FloatType, LongType, NestedField, StringType, TimestampType

    catalog = RestCatalog("lake", uri=rustberg.uri, warehouse=rustberg.warehouse, **garage.iceberg_props())
    catalog.create_namespace_if_not_exists("sales")
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "region", StringType(), required=False),
        NestedField(3, "ts", TimestampType(), required=False),
        NestedField(4, "amount", FloatType(), required=False),
    )
    spec = PartitionSpec(PartitionField(2, 1000, IdentityTransform(), "region_identity"),
                         PartitionField(3, 1001, DayTransform(), "ts_day"))
    table = catalog.create_table("sales.events", schema=schema, partition_spec=spec)
    day = dt.datetime(2024, 3, 1)
    first = pa.table({
        "id": pa.array(range(1, 9), pa.int64()),
        "region": ["eu", "us", "eu", "apac", "us", "eu", "apac", "us"],
        "ts": pa.array([day + dt.timedelta(hours=11 * i) for i in range(8)], pa.timestamp("us")),
        "amount": pa.array([1.5 * i for i in range(8)], pa.float32()),
    })
    table.append(first)
    with table.update_schema() as update:
        update.add_column("note", StringType())
        update.update_column("amount", DoubleType())
    with table.update_schema() as update:
        update.rename_column("amount", "total")
    table = catalog.load_table("sales.events")
    table.append(pa.table({
        "id": pa.array(range(9, 13), pa.int64()),
        "region": ["eu", "us", "latam", "eu"],
        "ts": pa.array([day + dt.timedelta(days=5, hours=i) for i in range(4)], pa.timestamp("us")),
        "total": pa.array([100.0, 200.0, None, 400.0], pa.float64()),
        "note": ["late", None, "new region", "late"],
    }))
    MARKS["evolved, no deletes"] = catalog.load_table("sales.events").current_snapshot().snapshot_id
    duckdb_delete(garage, rustberg, "DELETE FROM lake.sales.events WHERE id IN (5, 10)")  # position deletes
    table = catalog.load_table("sales.events")
    table.delete("id = 3 OR region = 'apac'")  # pyiceberg: copy-on-write
    # DuckDB 1.5 cannot commit to a table whose partition spec evolved, so that comes last.
    with table.update_spec() as update:
        update.add_field("id", BucketTransform(4), "id_bucket")
    table = catalog.load_table("sales.events")
    table.append(pa.table({
        "id": pa.array([13, 14], pa.int64()), "region": ["eu", "latam"],
        "ts": pa.array([day + dt.timedelta(days=9)] * 2, pa.timestamp("us")),
        "total": pa.array([5.0, 6.0], pa.float64()), "note": [None, "after spec change"],
    }))
    return catalog.load_table("sales.events")


MARKS = {}


def duckdb_delete(garage, rustberg, sql):
    """DuckDB's iceberg extension deletes merge-on-read: it writes position
    delete files, which pyiceberg cannot."""
    from readers import duckdb_with_extensions

    con = duckdb_with_extensions("httpfs")
    con.execute(f"CREATE SECRET garage (TYPE s3, KEY_ID '{garage.key_id}', SECRET '{garage.secret}', "
                f"REGION '{garage.region}', ENDPOINT '127.0.0.1:{garage.s3_port}', URL_STYLE 'path', USE_SSL false)")
    con.execute(f"ATTACH '{rustberg.warehouse}' AS lake (TYPE iceberg, ENDPOINT '{rustberg.uri}', "
                f"AUTHORIZATION_TYPE 'none', READ_ONLY false)")
    con.execute(sql)
    con.close()


def rows(table: pa.Table, order_by: str = "id") -> list[dict]:
    return table.sort_by(order_by).to_pylist()


def test_partitioned_evolved_table_with_deletes_on_s3_reads_like_pyiceberg(s3conn, events):
    expected = events.scan().to_arrow()
    got = run(s3conn, "SELECT * FROM lake.sales.events")
    assert got.column_names == ["id", "region", "ts", "total", "note"]
    assert rows(got) == rows(expected)
    assert not {3, 5, 10} & set(got.column("id").to_pylist()) and "apac" not in got.column("region").to_pylist()
    deletes = [f for task in events.scan().plan_files() for f in task.delete_files]
    assert deletes and all(f.content.name == "POSITION_DELETES" for f in deletes)
    # Aggregates over the evolved columns agree too.
    total = run(s3conn, "SELECT sum(total) AS s, count(note) AS n FROM lake.sales.events").to_pylist()[0]
    assert total == {"s": pc.sum(expected["total"]).as_py(),
                     "n": sum(note is not None for note in expected["note"].to_pylist())}


def test_polars_reader_by_field_id_and_iceberg_rust_reader_agree(s3conn, events, garage, rustberg, tmp_path):
    """Before DuckDB's delete the evolved table is read by Polars (columns by
    field id); with position delete files, by iceberg-rust's reader. A server forced
    to iceberg-rust's reader gives the same answers for both snapshots."""
    import adbc_driver_flightsql.dbapi as flightsql

    before_deletes = f"lake.sales.events FOR VERSION AS OF {MARKS['evolved, no deletes']}"
    queries = [f"SELECT * FROM {table}" for table in ("lake.sales.events", before_deletes)] + [
        f"SELECT region, count(*) AS n, sum(total) AS s FROM {before_deletes} GROUP BY region",
        f"SELECT id, note FROM {before_deletes} WHERE total > 50 OR note IS NOT NULL"]

    def plan(conn, sql):
        return "\n".join(run(conn, f"EXPLAIN {sql}").column("plan").to_pylist())

    assert "read by iceberg-rust's reader (delete files)" in plan(s3conn, queries[0])
    assert "read by Polars' Parquet reader (columns by field id)" in plan(s3conn, queries[1])
    polars_answers = [run(s3conn, sql) for sql in queries]
    other = floe_on_s3(tmp_path / "iceberg-reader", garage, rustberg, "--reader", "iceberg")
    try:
        with flightsql.connect(other.uri, autocommit=True) as conn:
            assert "read by iceberg-rust's reader (--reader iceberg)" in plan(conn, queries[1])
            for sql, expected in zip(queries, polars_answers):
                got = run(conn, sql)
                key = got.column_names[0]
                assert rows(got, key) == rows(expected, key), sql
    finally:
        other.stop()


def test_partition_filter_selects_fewer_files_on_s3(s3conn, events):
    def plan(sql):
        return "\n".join(run(s3conn, f"EXPLAIN {sql}").column("plan").to_pylist())

    every = plan("SELECT * FROM lake.sales.events")
    eu = plan("SELECT * FROM lake.sales.events WHERE region = 'eu'")
    def selected(text):
        found = re.search(r"(\d+) of (\d+) data files selected", text)
        return int(found[1]), int(found[2])

    all_selected, total = selected(every)
    eu_selected, eu_total = selected(eu)
    assert all_selected == total and eu_total == total
    assert 0 < eu_selected < all_selected
    got = run(s3conn, "SELECT id FROM lake.sales.events WHERE region = 'eu'").column("id").to_pylist()
    truth = events.scan(row_filter="region == 'eu'").to_arrow().column("id").to_pylist()
    assert sorted(got) == sorted(truth)


def test_time_travel_and_snapshots_on_s3(s3conn, events):
    snapshots = sorted(events.snapshots(), key=lambda s: (s.timestamp_ms, s.sequence_number))
    first = snapshots[0].snapshot_id
    got = run(s3conn, f"SELECT * FROM lake.sales.events FOR VERSION AS OF {first}")
    assert rows(got) == rows(events.scan(snapshot_id=first).to_arrow())
    assert got.num_rows == 8 and "total" not in got.column_names
    listed = run(s3conn, 'SELECT snapshot_id, operation FROM lake.sales."events$snapshots"').to_pydict()
    assert sorted(listed["snapshot_id"]) == sorted(s.snapshot_id for s in events.snapshots())
    assert sorted(listed["operation"]) == sorted(s.summary.operation.value for s in events.snapshots())


def test_floe_catalog_writes_through_s3_and_pyiceberg_reads_it(s3conn, floe, garage):
    from pyiceberg.catalog.sql import SqlCatalog

    # The demo table was created on S3 at start-up, and Polars reads it there.
    plan = "\n".join(run(s3conn, "EXPLAIN SELECT * FROM default.flowers").column("plan").to_pylist())
    assert "read by Polars' Parquet reader" in plan
    assert run(s3conn, "SELECT count(*) AS n FROM default.flowers").column("n").to_pylist() == [150]
    run(s3conn, "CREATE SCHEMA IF NOT EXISTS s3w")
    run(s3conn, "CREATE TABLE s3w.wide AS SELECT species, avg(petal_length) AS petal FROM default.flowers "
                "GROUP BY species")
    run(s3conn, "INSERT INTO s3w.wide SELECT 'hybrid' AS species, 1.5 AS petal")
    run(s3conn, "INSERT OVERWRITE s3w.wide SELECT species, petal * 10 AS petal FROM s3w.wide")
    prefix = f"floe-{floe.data_dir.name}"
    objects = garage.objects(prefix)
    assert any(o.endswith(".parquet") and "/s3w/wide/" in o for o in objects), objects
    assert any(o.endswith(".metadata.json") and "/default/flowers/" in o for o in objects), objects

    catalog = SqlCatalog("floe", uri=f"sqlite:///{floe.data_dir}/catalog.db",
                         warehouse=f"s3://{garage.bucket}/{prefix}", **garage.iceberg_props())
    theirs = catalog.load_table("s3w.wide").scan().to_arrow()
    ours = run(s3conn, "SELECT * FROM s3w.wide")
    assert rows(ours, "species") == rows(theirs, "species")
    assert sorted(ours.column("species").to_pylist()) == ["hybrid", "setosa", "versicolor", "virginica"]
    assert ours.column("petal").to_pylist()[0] > 10


def test_wrong_keys_and_unreachable_storage_fail_clearly_and_others_keep_working(
        events, garage, rustberg, tmp_path):
    import adbc_driver_flightsql.dbapi as flightsql

    import socket
    import time

    # A store that accepts connections and never answers: bounded by the storage timeout.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    for name, kwargs, code in [
        ("wrong-key", {"secret": "0" * 64}, AdbcStatusCode.UNAUTHENTICATED),
        ("no-storage", {"endpoint": f"http://127.0.0.1:{free_port()}"}, AdbcStatusCode.IO),  # ADBC's code for gRPC UNAVAILABLE
        ("silent-storage", {"endpoint": f"http://127.0.0.1:{silent.getsockname()[1]}"}, AdbcStatusCode.IO),
    ]:
        started = time.monotonic()
        server = floe_on_s3(tmp_path / name, garage, rustberg, **kwargs)
        try:
            with flightsql.connect(server.uri, autocommit=True) as conn:
                with pytest.raises(AdbcError) as excinfo:
                    run(conn, "SELECT * FROM lake.sales.events")
                assert excinfo.value.status_code == code, str(excinfo.value)
                assert "sales.events" in str(excinfo.value)
                assert time.monotonic() - started < 30, name
                assert run(conn, "SELECT count(*) AS n FROM default.flowers").column("n").to_pylist() == [150]
            assert server.alive()
        finally:
            server.stop()
    silent.close()


def test_http_results_past_the_inline_cap_live_on_s3_until_they_expire(garage, rustberg, tmp_path):
    """`--results-location s3://…`: a truncated HTTP answer's whole result is
    one Parquet object in the bucket, served by its link, deleted on expiry."""
    import io

    import pyarrow.parquet as pq
    import requests

    floe = floe_on_s3(tmp_path / "results", garage, rustberg, "--results-location", f"s3://{garage.bucket}/results",
                      "--inline-rows", "10", "--results-retention", "3s")
    try:
        answer = requests.post(f"http://{floe.address}/api/v1/warehouse/polars", timeout=60,
                               json={"mode": "query", "query": "SELECT * FROM default.flowers"}).json()
        assert answer["results"]["truncated"] is True and len(answer["results"]["rows"]) == 10
        stored = garage.objects("results")
        assert len(stored) == 1 and stored[0].endswith(".parquet")
        parquet = requests.get(answer["download"]["parquet"], timeout=60)
        assert pq.read_table(io.BytesIO(parquet.content)).num_rows == 150
        deadline = time.time() + 15
        while stored and time.time() < deadline:
            time.sleep(0.5)
            stored = garage.objects("results")
        assert stored == []
        assert requests.get(answer["download"]["parquet"], timeout=60).status_code == 410
    finally:
        floe.stop()


def test_orphan_files_on_s3_are_listed_and_removed(s3conn, floe, garage):
    run(s3conn, "CREATE SCHEMA IF NOT EXISTS upkeep")
    run(s3conn, "DROP TABLE IF EXISTS upkeep.t")
    run(s3conn, "CREATE TABLE upkeep.t AS SELECT * FROM default.flowers")
    prefix = f"floe-{floe.data_dir.name}"
    location = f"s3://{garage.bucket}/{prefix}/upkeep/t"
    assert any(o.startswith(f"{garage.bucket}/{prefix}/upkeep/t/data/") for o in garage.objects(f"{prefix}/upkeep/t")), \
        garage.objects(f"{prefix}/upkeep/t")
    orphan = f"{location.removeprefix('s3://')}/data/leftover.parquet"
    with garage.filesystem().open_output_stream(orphan) as out:
        out.write(b"left behind")
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    listed = run(s3conn, f"CALL system.remove_orphan_files('upkeep.t', older_than => TIMESTAMP '{future}', dry_run => true)")
    assert listed.to_pylist() == [{"orphan_files_count": 1, "orphan_bytes": 11, "deleted_files_count": 0}]
    removed = run(s3conn, f"CALL system.remove_orphan_files('upkeep.t', older_than => TIMESTAMP '{future}')")
    assert removed.column("deleted_files_count")[0].as_py() == 1
    assert orphan not in garage.objects(f"{prefix}/upkeep/t")
    assert run(s3conn, "SELECT count(*) AS n FROM upkeep.t").column("n")[0].as_py() == 150
