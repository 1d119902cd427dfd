"""DELETE and UPDATE through ADBC (plain and prepared with parameters):
copy-on-write, one commit each, only the data files holding affected rows
rewritten, readable by pyiceberg and DuckDB after every statement, and no
lost update when writers race."""

import pathlib
import threading
import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from adbc_driver_manager import Error as AdbcError

from floe_sql import run
from readers import duckdb_with_extensions, pyiceberg_catalog


def rows(table: pa.Table, *keys: str) -> list[dict]:
    return table.sort_by([(key, "ascending") for key in keys]).to_pylist()


def affected(conn, sql: str, params=None) -> int:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetch_arrow_table().column("rows_affected")[0].as_py()


def readers_agree(server, conn, table: str, *keys: str):
    """Floe, pyiceberg and DuckDB (iceberg extension) read the same rows."""
    ours = run(conn, f"SELECT * FROM {table}")
    iceberg_table = pyiceberg_catalog(server).load_table(table)
    theirs = iceberg_table.scan().to_arrow()
    assert rows(ours, *keys) == rows(theirs, *keys)
    duck = duckdb_with_extensions()
    metadata = iceberg_table.metadata_location
    counted = duck.execute(f"SELECT count(*) FROM iceberg_scan('{metadata}')").fetchone()[0]
    assert counted == ours.num_rows
    return ours


@pytest.fixture
def flowers_copy(conn):
    name = f"dml.f_{uuid.uuid4().hex[:8]}"
    run(conn, "CREATE SCHEMA IF NOT EXISTS dml")
    run(conn, f"CREATE TABLE {name} AS SELECT * FROM default.flowers")  # one file
    run(conn, f"INSERT INTO {name} SELECT * FROM default.flowers WHERE species = 'setosa'")  # a second file
    return name


def data_files(conn, table: str) -> set[str]:
    namespace, name = table.split(".")
    return set(run(conn, f'SELECT file_path FROM {namespace}."{name}$files"').column("file_path").to_pylist())


def test_delete_rewrites_only_files_with_matching_rows(server, conn, flowers_copy):
    before = data_files(conn, flowers_copy)
    metadata_before = pyiceberg_catalog(server).load_table(flowers_copy).metadata_location
    assert affected(conn, f"DELETE FROM {flowers_copy} WHERE sepal_length > 7") == 12
    # Each commit writes a new metadata file; the previous one stays for time travel and readers.
    assert pyiceberg_catalog(server).load_table(flowers_copy).metadata_location != metadata_before
    after = data_files(conn, flowers_copy)
    assert len(before & after) == 1, "the setosa-only file has no sepal_length > 7 and stays as it was"
    table = readers_agree(server, conn, flowers_copy, "species", "sepal_length", "sepal_width", "petal_length")
    assert table.num_rows == 188 and pc.max(table.column("sepal_length")).as_py() == 7.0
    snapshot = pyiceberg_catalog(server).load_table(flowers_copy).current_snapshot()
    assert snapshot.summary.operation.value == "overwrite"
    assert snapshot.summary["deleted-records"] == "150" and snapshot.summary["added-records"] == "138"

    assert affected(conn, f"DELETE FROM {flowers_copy} WHERE sepal_length > 100") == 0
    assert affected(conn, f"DELETE FROM {flowers_copy}") == 188
    assert readers_agree(server, conn, flowers_copy, "species").num_rows == 0
    assert pyiceberg_catalog(server).load_table(flowers_copy).current_snapshot().summary.operation.value == "delete"


def test_a_conditions_subquery_over_the_same_table_reads_every_file(server, conn):
    """Rows are counted and rewritten a data file at a time; the condition's
    own read of the table is not: its average is the table's, not a file's."""
    name = f"dml.s_{uuid.uuid4().hex[:8]}"
    run(conn, "CREATE SCHEMA IF NOT EXISTS dml")
    run(conn, f"CREATE TABLE {name} AS SELECT * FROM (VALUES (1, 10), (2, 20)) AS v(id, x)")
    run(conn, f"INSERT INTO {name} VALUES (3, 30), (4, 40)")
    run(conn, f"INSERT INTO {name} VALUES (5, 1000)")
    assert affected(conn, f"UPDATE {name} SET x = x + 1 WHERE x < (SELECT avg(x) FROM {name})") == 4
    assert affected(conn, f"DELETE FROM {name} WHERE x > (SELECT avg(x) FROM {name})") == 1
    assert rows(readers_agree(server, conn, name, "id"), "id") == [{"id": i, "x": 10 * i + 1} for i in (1, 2, 3, 4)]


def test_update_with_parameters_and_time_travel_to_before(server, conn, flowers_copy):
    first = pyiceberg_catalog(server).load_table(flowers_copy).current_snapshot().snapshot_id
    changed = affected(conn, f"UPDATE {flowers_copy} SET species = upper(species), petal_width = petal_width * 10 "
                             "WHERE species = ? AND sepal_length < ?", ("setosa", 5.0))
    table = readers_agree(server, conn, flowers_copy, "species", "sepal_length", "sepal_width", "petal_length", "petal_width")
    upper = table.filter(pc.equal(table.column("species"), "SETOSA"))
    assert changed == upper.num_rows > 0
    assert pc.all(pc.less(upper.column("sepal_length"), 5.0)).as_py()
    assert pc.min(upper.column("petal_width")).as_py() >= 1.0
    assert table.num_rows == 200 and table.schema.field("species").type == pa.string()
    old = run(conn, f"SELECT count(*) AS n FROM {flowers_copy} FOR VERSION AS OF {first} WHERE species = 'SETOSA'")
    assert old.column("n")[0].as_py() == 0


def test_bad_row_changes_fail_clearly_and_write_nothing(conn, flowers_copy):
    before = run(conn, f'SELECT count(*) AS n FROM dml."{flowers_copy.split(".")[1]}$snapshots"').column("n")[0]
    for sql, words in [
        (f"UPDATE {flowers_copy} SET colour = 'red'", "colour"),
        (f"UPDATE {flowers_copy} SET species = 'x', species = 'y'", "twice"),
        (f"DELETE FROM {flowers_copy} WHERE nope > 1", "nope"),
        (f"DELETE FROM {flowers_copy} AS f USING default.flowers AS g WHERE f.species = g.species", "DELETE"),
        ("DELETE FROM dml.does_not_exist WHERE 1 = 1", "does_not_exist"),
        (f"UPDATE {flowers_copy} SET sepal_length = 'long'", "failed"),
    ]:
        with pytest.raises(AdbcError) as failed:
            run(conn, sql)
        assert words in str(failed.value), (sql, str(failed.value))
    after = run(conn, f'SELECT count(*) AS n FROM dml."{flowers_copy.split(".")[1]}$snapshots"').column("n")[0]
    assert after == before


def test_update_cannot_break_not_null_or_types(conn):
    name = f"dml.nn_{uuid.uuid4().hex[:8]}"
    run(conn, "CREATE SCHEMA IF NOT EXISTS dml")
    run(conn, f"CREATE TABLE {name} (k INT NOT NULL, v VARCHAR)")
    run(conn, f"INSERT INTO {name} VALUES (1, 'a')")
    for sql, words in [(f"UPDATE {name} SET k = NULL", "required"), (f"UPDATE {name} SET k = 3000000000", "i32")]:
        with pytest.raises(AdbcError) as failed:
            run(conn, sql)
        assert "InvalidArgument" in str(failed.value) and words in str(failed.value), str(failed.value)
    assert run(conn, f"SELECT * FROM {name}").to_pylist() == [{"k": 1, "v": "a"}]


def test_racing_updates_and_appends_lose_nothing(server, conn):
    import adbc_driver_flightsql.dbapi as flightsql

    name = f"dml.race_{uuid.uuid4().hex[:8]}"
    run(conn, "CREATE SCHEMA IF NOT EXISTS dml")
    run(conn, f"CREATE TABLE {name} (k INT, v BIGINT)")
    run(conn, f"INSERT INTO {name} VALUES (0, 0), (1, 0), (2, 0)")
    rounds, aborted, errors = 4, [], []

    def worker(action):
        try:
            with flightsql.connect(server.uri, autocommit=True) as own:
                for i in range(rounds):
                    while True:  # a statement computed from rows another commit changed is refused: retry it
                        try:
                            run(own, action(i))
                            break
                        except AdbcError as error:
                            if "Aborted" not in str(error) and "changed while" not in str(error):
                                raise
                            aborted.append(1)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(lambda i, k=k: f"UPDATE {name} SET v = v + 1 WHERE k = {k}",))
               for k in range(3)]
    threads.append(threading.Thread(target=worker, args=(lambda i: f"INSERT INTO {name} VALUES ({100 + i}, -1)",)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    table = readers_agree(server, conn, name, "k")
    assert rows(table, "k") == [{"k": k, "v": rounds} for k in range(3)] + [{"k": 100 + i, "v": -1} for i in range(rounds)]


def test_merge_updates_deletes_and_inserts_in_one_commit(server, conn):
    name = f"dml.m_{uuid.uuid4().hex[:8]}"
    run(conn, "CREATE SCHEMA IF NOT EXISTS dml")
    run(conn, f"CREATE TABLE {name} (k INT, v VARCHAR, n BIGINT)")
    run(conn, f"INSERT INTO {name} VALUES (1, 'a', 10), (2, 'b', 20), (3, 'c', 30)")
    run(conn, f"INSERT INTO {name} VALUES (7, 'untouched', 70)")  # a file no source row matches
    untouched = {path for path in data_files(conn, name)}
    source = f"{name}_changes"
    run(conn, f"CREATE TABLE {source} (k INT, v VARCHAR, n BIGINT, op VARCHAR)")
    run(conn, f"INSERT INTO {source} VALUES (1, 'A', 11, 'upd'), (2, 'B', 0, 'del'), (4, 'd', 40, 'ins'), "
              "(5, 'e', 50, 'skip')")
    before = len(pyiceberg_catalog(server).load_table(name).metadata.snapshots)
    merged = affected(conn, f"MERGE INTO {name} AS t USING {source} AS s ON t.k = s.k "
                            "WHEN MATCHED AND s.op = ? THEN DELETE "
                            "WHEN MATCHED THEN UPDATE SET v = s.v, n = t.n + s.n "
                            "WHEN NOT MATCHED AND s.op <> 'skip' THEN INSERT (k, v, n) VALUES (s.k, s.v, s.n)", ("del",))
    assert merged == 3
    table = readers_agree(server, conn, name, "k")
    assert rows(table, "k") == [{"k": 1, "v": "A", "n": 21}, {"k": 3, "v": "c", "n": 30}, {"k": 4, "v": "d", "n": 40},
                                {"k": 7, "v": "untouched", "n": 70}]
    assert len(pyiceberg_catalog(server).load_table(name).metadata.snapshots) == before + 1
    assert len(untouched & data_files(conn, name)) == 1, "the file without matches is not rewritten"

    # A subquery source; only inserts (into the same table) commit an append.
    assert affected(conn, f"MERGE INTO {name} t USING (SELECT 9 AS k, 'z' AS v) AS s ON t.k = s.k "
                          "WHEN NOT MATCHED THEN INSERT (k, v) VALUES (s.k, s.v)") == 1
    assert run(conn, f"SELECT n FROM {name} WHERE k = 9").column("n").to_pylist() == [None]
    assert pyiceberg_catalog(server).load_table(name).current_snapshot().summary.operation.value == "append"


def test_merge_refuses_a_target_row_matched_twice(conn, flowers_copy):
    snapshots = len(run(conn, f'SELECT * FROM dml."{flowers_copy.split(".")[1]}$snapshots"'))
    with pytest.raises(AdbcError) as ambiguous:
        run(conn, f"MERGE INTO {flowers_copy} AS t USING (SELECT 'setosa' AS species UNION ALL SELECT 'setosa' AS species) "
                  "AS s ON t.species = s.species WHEN MATCHED THEN DELETE")
    assert "InvalidArgument" in str(ambiguous.value) and "more than one source row" in str(ambiguous.value)
    assert len(run(conn, f'SELECT * FROM dml."{flowers_copy.split(".")[1]}$snapshots"')) == snapshots


def test_insert_overwrite_partition_replaces_only_matching_rows(server, conn, flowers_copy):
    before = data_files(conn, flowers_copy)
    written = affected(conn, f"INSERT OVERWRITE TABLE {flowers_copy} PARTITION (species = ?) "
                             "SELECT sepal_length, sepal_width, petal_length, petal_width, upper(species) "
                             "FROM default.flowers WHERE species = ? AND sepal_length > 6.5", ("versicolor", "versicolor"))
    table = readers_agree(server, conn, flowers_copy, "species", "sepal_length", "sepal_width", "petal_length")
    counts = dict(zip(*run(conn, f"SELECT species, count(*) AS n FROM {flowers_copy} GROUP BY species")
                      .to_pydict().values()))
    assert counts == {"setosa": 100, "virginica": 50, "VERSICOLOR": written} and written > 0
    assert table.num_rows == 150 + written
    assert len(before & data_files(conn, flowers_copy)) == 1, "the setosa-only file holds no versicolor rows"
    assert pyiceberg_catalog(server).load_table(flowers_copy).current_snapshot().summary.operation.value == "overwrite"


def test_row_changes_refuse_format_v1_tables_before_writing_anything(server, conn):
    catalog = pyiceberg_catalog(server)
    catalog.create_namespace_if_not_exists("dml")
    name = f"dml.v1_{uuid.uuid4().hex[:8]}"
    table = catalog.create_table(name, schema=pa.schema([("k", pa.int64())]), properties={"format-version": "1"})
    table.append(pa.table({"k": pa.array([1, 2], pa.int64())}))
    files_before = {f.name for f in pathlib.Path(table.location().removeprefix("file://"), "data").iterdir()}
    for sql in [f"DELETE FROM {name} WHERE k = 1", f"UPDATE {name} SET k = 3",
                f"MERGE INTO {name} AS t USING (SELECT 1 AS k) AS s ON t.k = s.k WHEN MATCHED THEN DELETE"]:
        with pytest.raises(AdbcError) as refused:
            run(conn, sql)
        assert "NOT_IMPLEMENTED" in str(refused.value) and "format-v1" in str(refused.value), str(refused.value)
    assert run(conn, f"SELECT count(*) AS n FROM {name}").column("n")[0].as_py() == 2
    files_after = {f.name for f in pathlib.Path(table.location().removeprefix("file://"), "data").iterdir()}
    assert files_after == files_before
