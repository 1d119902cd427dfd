"""The data cache (`--data-cache-mb`, on by default), through ADBC: a query
that misses reads the files and its columns are decoded into the cache
after it, so they answer the next query without its files; a slice is never
kept; a commit by another engine (pyiceberg) is seen at once; an evolved
schema's files are read as they are."""

import glob
import json
import os
import sqlite3
import time

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.types import LongType

from floe_sql import run as fetch


@pytest.fixture
def cached(start_server):
    return start_server("--data-cache-mb", "64")


def scan_line(conn, sql: str) -> str:
    lines = fetch(conn, f"EXPLAIN {sql}").column("plan").to_pylist()
    return next(line for line in lines if line.startswith("ICEBERG SCAN"))


def cache_line(conn, sql: str) -> str:
    lines = fetch(conn, f"EXPLAIN {sql}").column("plan").to_pylist()
    return next(line for line in lines if line.startswith("DATA CACHE"))


def held(conn, sql: str) -> str:
    """EXPLAIN's line once the cache holds every column `sql` reads (it fills
    after the query that missed them)."""
    deadline = time.monotonic() + 30
    while not (line := cache_line(conn, sql)).endswith("read from memory"):
        assert time.monotonic() < deadline, line
        time.sleep(0.05)
    return line


def events(server):
    catalog = SqlCatalog("floe", uri=f"sqlite:///{server.data_dir}/catalog.db",
                         warehouse=f"file://{server.data_dir}/warehouse")
    catalog.create_namespace_if_not_exists("dc")
    table = catalog.create_table("dc.events", schema=pa.schema([("k", pa.int64()), ("v", pa.float64()), ("tag", pa.string())]))
    table.append(pa.table({"k": pa.array([1, 2, 3, 4], pa.int64()), "v": [0.5, 1.5, 2.5, 3.5], "tag": ["a", "b", "a", None]}))
    return table


def data_files(server) -> list[str]:
    return glob.glob(f"{server.data_dir}/warehouse/dc/events/data/*.parquet")


def test_cached_columns_answer_without_the_files_and_a_commit_is_seen_at_once(cached):
    table = events(cached)
    sql = "SELECT tag, count(*) AS n, sum(v) AS total FROM dc.events WHERE k > 1 GROUP BY tag ORDER BY tag NULLS LAST"
    expected = [{"tag": "a", "n": 1, "total": 2.5}, {"tag": "b", "n": 1, "total": 1.5}, {"tag": None, "n": 1, "total": 3.5}]
    with flightsql.connect(cached.uri, autocommit=True) as conn:
        assert scan_line(conn, sql).endswith("through the data cache")
        assert cache_line(conn, sql) == ("DATA CACHE dc.events: columns k, v, tag held for 0 of 1 data files; "
                                         "read from the files, then decoded into the cache")
        assert fetch(conn, sql).to_pylist() == expected
        assert held(conn, sql) == "DATA CACHE dc.events: columns k, v, tag held for 1 of 1 data files; read from memory"
        # The columns read are in memory now: the query no longer opens the file.
        [path] = data_files(cached)
        os.rename(path, path + ".away")
        try:
            assert fetch(conn, sql).to_pylist() == expected
            assert fetch(conn, "SELECT count(*) AS n FROM dc.events").to_pylist() == [{"n": 4}]
        finally:
            os.rename(path + ".away", path)

        table.append(pa.table({"k": pa.array([5], pa.int64()), "v": [10.0], "tag": ["b"]}))
        assert fetch(conn, sql).to_pylist()[1] == {"tag": "b", "n": 2, "total": 11.5}
        table.delete("k = 2")
        assert fetch(conn, "SELECT sum(k) AS s, count(*) AS n FROM dc.events").to_pylist() == [{"s": 13, "n": 4}]
        assert fetch(conn, "SELECT * FROM dc.events ORDER BY k").column("k").to_pylist() == [1, 3, 4, 5]


def test_an_evolved_schema_is_read_at_once_and_its_files_by_field_id_uncached(cached):
    table = events(cached)
    with flightsql.connect(cached.uri, autocommit=True) as conn:
        assert fetch(conn, "SELECT sum(v) AS v FROM dc.events").to_pylist() == [{"v": 8.0}]  # kept as `v`
        assert fetch(conn, "SELECT * FROM dc.events").column_names == ["k", "v", "tag"]
        with table.update_schema() as update:
            update.rename_column("v", "w")
        # A schema change commits no snapshot: the current one is read by the new names at once,
        # by a statement planned before the change too.
        assert fetch(conn, "SELECT * FROM dc.events").column_names == ["k", "w", "tag"]
        assert fetch(conn, "SELECT sum(w) AS w FROM dc.events").to_pylist() == [{"w": 8.0}]
        with table.update_schema() as update:
            update.add_column("v", LongType())
        assert fetch(conn, "SELECT sum(w) AS w, count(v) AS v FROM dc.events").to_pylist() == [{"w": 8.0, "v": 0}]
        table.append(pa.table({"k": pa.array([5], pa.int64()), "w": [2.0], "tag": ["c"], "v": pa.array([7], pa.int64())}))
        sql = "SELECT sum(w) AS w, count(v) AS v, sum(v) AS s FROM dc.events"
        assert "data cache" not in scan_line(conn, sql)
        assert fetch(conn, sql).to_pylist() == [{"w": 10.0, "v": 1, "s": 7}]


def test_a_slice_reads_the_files_and_is_not_kept(cached):
    events(cached)
    with flightsql.connect(cached.uri, autocommit=True) as conn:
        sql = "SELECT tag FROM dc.events LIMIT 2"
        assert fetch(conn, sql).num_rows == 2
        assert cache_line(conn, sql).endswith("held for 0 of 1 data files; read from the files (a slice of them: not kept)")
        # Reading every row fills the cache; a slice then reads from memory too.
        assert fetch(conn, "SELECT count(DISTINCT tag) AS n FROM dc.events").to_pylist() == [{"n": 2}]
        assert held(conn, sql).startswith("DATA CACHE dc.events: columns tag held for 1 of 1")
        assert fetch(conn, sql).num_rows == 2


def test_the_data_cache_is_on_by_default_and_0_turns_it_off(conn, start_server):
    sql = "SELECT count(*) AS n FROM default.flowers"
    assert scan_line(conn, sql).endswith("through the data cache")
    with flightsql.connect(start_server("--data-cache-mb", "0").uri, autocommit=True) as plain:
        assert "data cache" not in scan_line(plain, sql)
        assert not any(line.startswith("DATA CACHE") for line in fetch(plain, f"EXPLAIN {sql}").column("plan").to_pylist())


def test_a_table_floe_changed_keeps_its_totals_and_is_read_through_the_cache(cached):
    """Readers size a table by its snapshot's totals (the cache admits by row
    count): Floe's row-level changes wrote none, so one DELETE left the table
    unsized, and read from its files, for good (iceberg-rust's appends carry
    totals on only from a snapshot that has them)."""
    statements = ["INSERT INTO default.totals VALUES (1, 'x'), (2, 'y')",
                  "DELETE FROM default.totals WHERE a = 2", "INSERT INTO default.totals VALUES (3, 'z'), (4, 'v')",
                  "UPDATE default.totals SET b = 'w' WHERE a = 3", "INSERT OVERWRITE default.totals SELECT * FROM default.totals WHERE a > 1"]
    catalog = SqlCatalog("floe", uri=f"sqlite:///{cached.data_dir}/catalog.db", warehouse=f"file://{cached.data_dir}/warehouse")
    with flightsql.connect(cached.uri, autocommit=True) as conn:
        fetch(conn, "CREATE TABLE default.totals (a BIGINT, b VARCHAR)")
        for statement in statements:
            fetch(conn, statement)
            count = fetch(conn, "SELECT count(*) AS n FROM default.totals").column("n")[0].as_py()
            summary = catalog.load_table("default.totals").current_snapshot().summary
            assert summary["total-records"] == str(count), (statement, summary)
            assert scan_line(conn, "SELECT * FROM default.totals").endswith("through the data cache"), statement


def test_a_snapshot_without_totals_is_sized_by_the_files_its_scan_selects(cached):
    """Other writers may leave a snapshot's totals out (so did Floe's own
    row-level commits once): the table is sized by the record counts of the
    data files its scan selected, from the manifests, and read through the
    cache as a table with totals is."""
    catalog = SqlCatalog("floe", uri=f"sqlite:///{cached.data_dir}/catalog.db",
                         warehouse=f"file://{cached.data_dir}/warehouse")
    catalog.create_namespace_if_not_exists("dc")
    table = catalog.create_table("dc.bare", schema=pa.schema([("k", pa.int64())]))
    table.append(pa.table({"k": pa.array([1, 2, 3], pa.int64())}))
    table.append(pa.table({"k": pa.array([4], pa.int64())}))
    source = table.metadata_location.removeprefix("file://")
    with open(source) as f:
        metadata = json.load(f)
    for snapshot in metadata["snapshots"]:
        snapshot["summary"] = {key: value for key, value in snapshot["summary"].items() if not key.startswith("total-")}
    bare = os.path.join(os.path.dirname(source), "00099-without-totals.metadata.json")
    with open(bare, "w") as f:
        json.dump(metadata, f)
    with sqlite3.connect(f"{cached.data_dir}/catalog.db") as db:
        db.execute("UPDATE iceberg_tables SET metadata_location = ? WHERE table_name = 'bare'", (f"file://{bare}",))
    assert "total-records" not in catalog.load_table("dc.bare").current_snapshot().summary.additional_properties
    with flightsql.connect(cached.uri, autocommit=True) as conn:
        assert scan_line(conn, "SELECT sum(k) AS s FROM dc.bare").endswith("through the data cache")
        assert fetch(conn, "SELECT sum(k) AS s FROM dc.bare").to_pylist() == [{"s": 10}]
        assert held(conn, "SELECT sum(k) AS s FROM dc.bare").endswith("held for 2 of 2 data files; read from memory")


def engine(conn, sql: str) -> str:
    """EXPLAIN's engine line once the cache holds every column `sql` reads
    of every table."""
    deadline = time.monotonic() + 30
    while True:
        lines = fetch(conn, f"EXPLAIN {sql}").column("plan").to_pylist()
        held = [line for line in lines if line.startswith("DATA CACHE")]
        if held and all(line.endswith("read from memory") for line in held):
            return next(line for line in lines if line.startswith("POLARS ENGINE"))
        assert time.monotonic() < deadline, held
        time.sleep(0.05)


def test_joins_of_held_tables_run_in_memory_only_while_no_join_outgrows_its_inputs(cached):
    """Tables too large together for the few-rows rule (a cross join of
    them would collect millions of rows), joined on a key whose values are
    unique (ascending within each file, the files apart even when listed out
    of order) run on the in-memory engine once held; a join on repeated
    values streams, and so does the first join once a commit repeats a key."""
    catalog = SqlCatalog("floe", uri=f"sqlite:///{cached.data_dir}/catalog.db",
                         warehouse=f"file://{cached.data_dir}/warehouse")
    catalog.create_namespace_if_not_exists("dc")
    dims = catalog.create_table("dc.dims", schema=pa.schema([("k", pa.int64()), ("name", pa.string())]))
    for keys in (range(1000, 2000), range(0, 1000)):
        dims.append(pa.table({"k": pa.array(keys, pa.int64()), "name": [f"n{k % 7}" for k in keys]}))
    fks = [(i * 7919) % 2000 for i in range(3000)]
    facts = catalog.create_table("dc.facts", schema=pa.schema([("fk", pa.int64()), ("amount", pa.int64())]))
    facts.append(pa.table({"fk": pa.array(fks, pa.int64()), "amount": pa.array(range(3000), pa.int64())}))
    by_name = "SELECT d.name, count(*) AS n, sum(f.amount) AS total FROM dc.facts f JOIN dc.dims d ON f.fk = d.k GROUP BY d.name ORDER BY d.name"
    pairs = "SELECT count(*) AS n FROM dc.facts a JOIN dc.facts b ON a.fk = b.fk"

    def expected(names):
        totals = {}
        for amount, fk in enumerate(fks):
            for name in names(fk):
                n, total = totals.get(name, (0, 0))
                totals[name] = (n + 1, total + amount)
        return [{"name": name, "n": n, "total": total} for name, (n, total) in sorted(totals.items())]

    with flightsql.connect(cached.uri, autocommit=True) as conn:
        assert fetch(conn, by_name).to_pylist() == expected(lambda fk: [f"n{fk % 7}"])
        assert engine(conn, by_name).startswith("POLARS ENGINE: in-memory (every table held by the data cache")
        assert fetch(conn, by_name).to_pylist() == expected(lambda fk: [f"n{fk % 7}"])

        repeats = {}
        for fk in fks:
            repeats[fk] = repeats.get(fk, 0) + 1
        assert fetch(conn, pairs).to_pylist() == [{"n": sum(n * n for n in repeats.values())}]
        assert engine(conn, pairs) == "POLARS ENGINE: streaming"
        # A group-by's key is unique, but not once TRY_CAST makes integers of its tenths.
        tenths = "SELECT count(*) AS n FROM dc.facts f JOIN (SELECT TRY_CAST(x AS BIGINT) AS k FROM (SELECT k / 10.0 AS x FROM dc.dims GROUP BY 1)) d ON f.fk = d.k"
        fetch(conn, tenths)
        assert engine(conn, tenths) == "POLARS ENGINE: streaming"

        dims.append(pa.table({"k": pa.array([5], pa.int64()), "name": ["again"]}))
        fetch(conn, by_name)
        assert engine(conn, by_name) == "POLARS ENGINE: streaming"
        assert fetch(conn, by_name).to_pylist() == expected(lambda fk: [f"n{fk % 7}"] + (["again"] if fk == 5 else []))
