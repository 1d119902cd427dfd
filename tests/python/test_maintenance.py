"""Lake upkeep through SQL procedures (ADBC): compacting small files,
expiring snapshots (never the current one or a tagged one; retained
snapshots stay readable by time travel), and removing orphan files, with
pyiceberg and DuckDB reading the table after each."""

import datetime as dt
import pathlib
import uuid

import pytest
from adbc_driver_manager import Error as AdbcError

from floe_sql import run
from readers import duckdb_with_extensions, pyiceberg_catalog


def report(conn, sql: str) -> dict:
    return run(conn, sql).to_pylist()[0]


def files_on_disk(server, table: str) -> set[str]:
    root = pathlib.Path(pyiceberg_catalog(server).load_table(table).location().removeprefix("file://"))
    return {str(path) for path in root.rglob("*") if path.is_file()}


def readable_everywhere(server, conn, table: str, expected_rows: int):
    assert run(conn, f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py() == expected_rows
    iceberg_table = pyiceberg_catalog(server).load_table(table)
    assert iceberg_table.scan().to_arrow().num_rows == expected_rows
    duck = duckdb_with_extensions()
    assert duck.execute(f"SELECT count(*) FROM iceberg_scan('{iceberg_table.metadata_location}')").fetchone()[0] == expected_rows


@pytest.fixture
def busy_table(conn):
    """A table written by twelve small commits."""
    name = f"mnt.t_{uuid.uuid4().hex[:8]}"
    run(conn, "CREATE SCHEMA IF NOT EXISTS mnt")
    run(conn, f"CREATE TABLE {name} (k INT, v VARCHAR)")
    for i in range(12):
        run(conn, f"INSERT INTO {name} VALUES ({i}, 'v{i}'), ({i + 100}, 'w{i}')")
    return name


def snapshot_ids(server, table: str) -> list[int]:
    """Oldest first (metadata files list snapshots in no particular order)."""
    snapshots = pyiceberg_catalog(server).load_table(table).metadata.snapshots
    return [s.snapshot_id for s in sorted(snapshots, key=lambda s: s.sequence_number)]


def test_compaction_then_expiry_shrinks_files_and_snapshots(server, conn, busy_table):
    namespace, name = busy_table.split(".")
    assert len(run(conn, f'SELECT * FROM {namespace}."{name}$files"')) == 12
    compacted = report(conn, f"CALL system.rewrite_data_files('{busy_table}')")
    assert compacted == {"rewritten_data_files_count": 12, "added_data_files_count": 1,
                         "rewritten_bytes_count": compacted["rewritten_bytes_count"]}
    assert len(run(conn, f'SELECT * FROM {namespace}."{name}$files"')) == 1
    readable_everywhere(server, conn, busy_table, 24)
    assert pyiceberg_catalog(server).load_table(busy_table).current_snapshot().summary.operation.value == "replace"

    ids = snapshot_ids(server, busy_table)
    tagged = ids[3]
    pyiceberg_catalog(server).load_table(busy_table).manage_snapshots().create_tag(tagged, "audit").commit()
    retained = ids[-2]
    on_disk = len(files_on_disk(server, busy_table))
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    expired = report(conn, f"CALL system.expire_snapshots('{busy_table}', older_than => TIMESTAMP '{future}', "
                           "retain_last => 2)")
    assert expired["expired_snapshots_count"] == len(ids) - 3  # the two newest and the tagged one stay
    assert snapshot_ids(server, busy_table) == [tagged, *ids[-2:]]
    assert expired["deleted_manifest_lists_count"] == len(ids) - 3
    assert len(files_on_disk(server, busy_table)) < on_disk
    readable_everywhere(server, conn, busy_table, 24)
    assert run(conn, f"SELECT count(*) AS n FROM {busy_table} FOR VERSION AS OF {retained}").column("n")[0].as_py() == 24
    assert run(conn, f"SELECT count(*) AS n FROM {busy_table} FOR VERSION AS OF 'audit'").column("n")[0].as_py() == 8
    with pytest.raises(AdbcError):
        run(conn, f"SELECT count(*) FROM {busy_table} FOR VERSION AS OF {ids[5]}")


def test_expiry_keeps_young_snapshots_by_default(server, conn, busy_table):
    before = snapshot_ids(server, busy_table)
    assert report(conn, f"CALL floe.system.expire_snapshots(table => '{busy_table}')")["expired_snapshots_count"] == 0
    assert snapshot_ids(server, busy_table) == before


def test_orphan_files_are_listed_then_removed_and_nothing_referenced_goes(server, conn, busy_table):
    location = pathlib.Path(pyiceberg_catalog(server).load_table(busy_table).location().removeprefix("file://"))
    orphans = [location / "data" / f"leftover-{i}.parquet" for i in range(3)]
    for orphan in orphans:
        orphan.write_bytes(b"a killed write left this")
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    young = report(conn, f"CALL system.remove_orphan_files('{busy_table}', dry_run => true)")
    assert young["orphan_files_count"] == 0, "files younger than the safety window are not orphans yet"
    listed = report(conn, f"CALL system.remove_orphan_files('{busy_table}', older_than => TIMESTAMP '{future}', "
                          "dry_run => true)")
    assert listed == {"orphan_files_count": 3, "orphan_bytes": 3 * len(b"a killed write left this"),
                      "deleted_files_count": 0}
    assert all(orphan.exists() for orphan in orphans)
    removed = report(conn, f"CALL system.remove_orphan_files('{busy_table}', older_than => TIMESTAMP '{future}')")
    assert removed["deleted_files_count"] == 3 and not any(orphan.exists() for orphan in orphans)
    readable_everywhere(server, conn, busy_table, 24)
    again = report(conn, f"CALL system.remove_orphan_files('{busy_table}', older_than => TIMESTAMP '{future}')")
    assert again["orphan_files_count"] == 0


def test_procedure_mistakes_are_named(conn, busy_table):
    for sql, words in [
        (f"CALL system.vacuum('{busy_table}')", "unknown procedure"),
        (f"CALL system.expire_snapshots('{busy_table}', keep => 3)", "no argument `keep`"),
        (f"CALL system.expire_snapshots('{busy_table}', older_than => 'yesterday')", "not a timestamp"),
        ("CALL system.expire_snapshots('mnt.nope')", "mnt.nope"),
    ]:
        with pytest.raises(AdbcError) as failed:
            run(conn, sql)
        assert words in str(failed.value), (sql, str(failed.value))


def test_rewrite_manifests_merges_them_into_one(server, conn, busy_table):
    namespace, name = busy_table.split(".")
    manifests = len(run(conn, f'SELECT * FROM {namespace}."{name}$manifests"'))
    assert manifests == 12
    rewritten = report(conn, f"CALL system.rewrite_manifests('{busy_table}')")
    assert rewritten == {"rewritten_manifests_count": 12, "added_manifests_count": 1}
    assert len(run(conn, f'SELECT * FROM {namespace}."{name}$manifests"')) == 1
    readable_everywhere(server, conn, busy_table, 24)
    assert pyiceberg_catalog(server).load_table(busy_table).current_snapshot().summary.operation.value == "replace"
    assert report(conn, f"CALL system.rewrite_manifests('{busy_table}')")["rewritten_manifests_count"] == 0


def test_the_maintenance_action_runs_procedures_over_plain_flight(server, conn, busy_table):
    import json

    import pyarrow as pa
    import pyarrow.flight as flight

    with flight.FlightClient(server.uri) as client:
        def action(body: dict) -> dict:
            results = list(client.do_action(flight.Action("floe.maintenance", json.dumps(body).encode())))
            return json.loads(results[0].body.to_pybytes())

        assert action({"procedure": "rewrite_data_files", "table": busy_table})["rewritten_data_files_count"] == 12
        dry = action({"procedure": "remove_orphan_files", "table": busy_table, "args": {"dry_run": True}})
        assert dry == {"orphan_files_count": 0, "orphan_bytes": 0, "deleted_files_count": 0}
        with pytest.raises(pa.ArrowInvalid) as refused:
            action({"procedure": "expire_snapshots", "table": busy_table, "args": {"retain_last": "two"}})
        assert "retain_last" in str(refused.value)
    readable_everywhere(server, conn, busy_table, 24)
