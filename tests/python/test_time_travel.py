"""Time travel and metadata tables, checked against pyiceberg's view of the same table."""

import datetime as dt

import pyarrow as pa
import pytest
from adbc_driver_manager import AdbcStatusCode, Error as AdbcError

from readers import pyiceberg_catalog
from floe_sql import run




@pytest.fixture(scope="module")
def history(server):
    """A table with three snapshots: append 2 rows, append 1 row, overwrite with 1 row."""
    catalog = pyiceberg_catalog(server)
    catalog.create_namespace_if_not_exists("travel")
    if catalog.table_exists("travel.t"):
        catalog.drop_table("travel.t")
    table = catalog.create_table("travel.t", schema=pa.schema([("v", pa.int64())]))
    table.append(pa.table({"v": pa.array([1, 2], pa.int64())}))
    table.append(pa.table({"v": pa.array([3], pa.int64())}))
    table.overwrite(pa.table({"v": pa.array([10], pa.int64())}))
    table = catalog.load_table("travel.t")
    table.manage_snapshots().create_tag(table.snapshots()[0].snapshot_id, "first").commit()
    return catalog.load_table("travel.t")


def test_version_as_of_snapshot_id_branch_and_tag(conn, history):
    first, second = history.snapshots()[0].snapshot_id, history.snapshots()[1].snapshot_id
    assert run(conn, f"SELECT sum(v) AS s FROM travel.t FOR VERSION AS OF {first}").column("s").to_pylist() == [3]
    assert run(conn, f"SELECT sum(v) AS s FROM travel.t FOR VERSION AS OF {second}").column("s").to_pylist() == [6]
    assert run(conn, "SELECT sum(v) AS s FROM travel.t").column("s").to_pylist() == [10]
    assert run(conn, "SELECT sum(v) AS s FROM travel.t FOR VERSION AS OF 'main'").column("s").to_pylist() == [10]
    assert run(conn, "SELECT sum(v) AS s FROM travel.t FOR VERSION AS OF 'first'").column("s").to_pylist() == [3]
    # Several versions of one table in one query.
    both = run(conn, f"SELECT old.v AS old_v, new.v AS new_v FROM travel.t FOR VERSION AS OF {first} AS old "
                     f"CROSS JOIN travel.t AS new ORDER BY old_v")
    assert both.to_pydict() == {"old_v": [1, 2], "new_v": [10, 10]}


def test_timestamp_as_of(conn, history):
    snapshots = history.snapshots()
    second_at = dt.datetime.fromtimestamp(snapshots[1].timestamp_ms / 1000, dt.timezone.utc)
    text = second_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    got = run(conn, f"SELECT sum(v) AS s FROM travel.t FOR TIMESTAMP AS OF TIMESTAMP '{text}'")
    assert got.column("s").to_pylist() == [6]
    with pytest.raises(AdbcError) as excinfo:
        run(conn, "SELECT * FROM travel.t FOR TIMESTAMP AS OF TIMESTAMP '1999-01-01 00:00:00'")
    assert excinfo.value.status_code == AdbcStatusCode.NOT_FOUND
    with pytest.raises(AdbcError) as excinfo:
        run(conn, "SELECT * FROM travel.t FOR VERSION AS OF 12345")
    assert excinfo.value.status_code == AdbcStatusCode.NOT_FOUND


def test_snapshots_history_refs_match_pyiceberg(conn, history):
    snapshots = run(conn, 'SELECT snapshot_id, parent_id, operation FROM travel."t$snapshots" ORDER BY committed_at')
    expected = history.inspect.snapshots().sort_by("committed_at")
    assert snapshots.column("snapshot_id").to_pylist() == expected.column("snapshot_id").to_pylist()
    assert snapshots.column("parent_id").to_pylist() == expected.column("parent_id").to_pylist()
    assert snapshots.column("operation").to_pylist() == expected.column("operation").to_pylist()
    refs = run(conn, 'SELECT name, type, snapshot_id FROM travel."t$refs" ORDER BY name').to_pydict()
    assert refs["name"] == ["first", "main"] and refs["type"] == ["TAG", "BRANCH"]
    assert refs["snapshot_id"] == [history.snapshots()[0].snapshot_id, history.current_snapshot().snapshot_id]
    made_current = run(conn, 'SELECT snapshot_id FROM travel."t$history"').column("snapshot_id").to_pylist()
    assert made_current == [entry.snapshot_id for entry in history.metadata.snapshot_log]


def test_files_manifests_partitions(conn, history):
    files = run(conn, 'SELECT file_path, record_count FROM travel."t$files"').to_pydict()
    expected = history.inspect.files().to_pydict()
    assert sorted(files["file_path"]) == sorted(expected["file_path"])
    assert sum(files["record_count"]) == 1
    manifests = run(conn, 'SELECT path FROM travel."t$manifests"').column("path").to_pylist()
    assert sorted(manifests) == sorted(history.inspect.manifests().column("path").to_pylist())
    partitions = run(conn, 'SELECT record_count, file_count FROM travel."t$partitions"').to_pydict()
    assert partitions == {"record_count": [1], "file_count": [1]}
    with pytest.raises(AdbcError) as excinfo:
        run(conn, 'SELECT * FROM travel."t$nonsense"')
    assert excinfo.value.status_code == AdbcStatusCode.NOT_FOUND
