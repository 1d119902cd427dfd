"""A coordinator and three `floe worker` processes on loopback, sharing one
SQLite catalog and warehouse. Distributed answers equal single-node answers
(demo data and TPC-H); endpoints are fetched straight from the workers by
ADBC and pyarrow; a worker killed or hung mid-query has its partitions re-run;
a restarted worker rejoins. How a query ran (placement, shuffles, re-runs) is
read from the `compute` of its `floe.run` answer, not from the log. Clusters
started with flags of their own are in test_cluster_configs.py."""

import os
import signal

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from floe_sql import canonical, rounded, run
from harness import QUICK, Cluster, spread_kind

WORKERS = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), workers=WORKERS, coordinator=QUICK)
    try:
        yield loaded(cluster)
    finally:
        cluster.stop()


def loaded(cluster):
    """The cluster with the test tables written (several files each)."""
    with cluster.connect(False) as conn:
        run(conn, "CREATE SCHEMA dist")
        run(conn, "CREATE TABLE dist.big (id BIGINT, species VARCHAR, x DOUBLE, y DOUBLE) PARTITIONED BY (species)")
        for batch in range(4):
            run(conn, f"INSERT INTO dist.big SELECT {batch * 1000} + CAST(sepal_length * 10 AS BIGINT) AS id, species, "
                      f"petal_length + {batch} AS x, sepal_width AS y FROM default.flowers")
        run(conn, "CREATE TABLE dist.big2 (id INT, label VARCHAR, z DOUBLE)")
        for batch in range(3):
            run(conn, f"INSERT INTO dist.big2 SELECT CAST({batch * 1000} + CAST(sepal_length * 10 AS BIGINT) AS INT) AS id, "
                      f"species || '-{batch}' AS label, petal_width AS z FROM default.flowers WHERE petal_width > 0.3")
    return cluster


QUERIES = [
    "SELECT id, species, x FROM dist.big WHERE x > 5",
    "SELECT b.id, b.x, f.sepal_length FROM dist.big AS b JOIN default.flowers AS f ON b.y = f.sepal_width "
    "WHERE f.petal_width > 2.2",
    "SELECT species, count(*) AS n, sum(x) AS sx, avg(y) AS ay, min(id) AS lo, max(x) AS hi FROM dist.big "
    "GROUP BY species",
    "SELECT count(*) AS n, avg(x) AS mean_x FROM dist.big WHERE species <> 'setosa'",
    "SELECT species, sum(x) / count(*) AS per_row FROM dist.big GROUP BY species HAVING sum(x) > 600 "
    "ORDER BY per_row DESC",
    "SELECT id, x FROM dist.big ORDER BY x DESC, id LIMIT 7",
    # HAVING without GROUP BY keeps or drops the one group of partials combined.
    "SELECT count(*) AS n, sum(x) AS sx FROM dist.big HAVING count(*) > 100",
    "SELECT count(*) AS n FROM dist.big HAVING sum(x) < 0",
]


def test_a_large_join_is_hash_shuffled_between_workers(cluster):
    sql = ("SELECT a.id, a.species, b.label, a.x * b.z AS xz FROM dist.big AS a JOIN dist.big2 AS b ON a.id = b.id "
           "WHERE a.x > 2")
    info = cluster.flight_info(sql)
    assert spread_kind(info) == "workers" and len(info.endpoints) == WORKERS
    # One hash-shuffle map stage, after which each reduce partition's rows are final.
    compute = cluster.floe_run(sql)["compute"]
    assert compute["shuffles"] == 1 and compute["placement"] == "partitioned", compute
    with cluster.connect(False) as local, cluster.connect(True) as spread:
        expected = run(local, sql)
        got = run(spread, sql)
        assert expected.num_rows > 1000
        assert canonical(got) == canonical(expected)
        # Aggregated on top of the shuffle: reduce partitions' partials combined.
        agg = "SELECT a.species, count(*) AS n, sum(b.z) AS zs FROM dist.big AS a JOIN dist.big2 AS b ON a.id = b.id GROUP BY a.species"
        assert canonical(run(spread, agg)) == canonical(run(local, agg))


@pytest.mark.parametrize("sql", QUERIES)
def test_distributed_answers_equal_single_node(cluster, sql):
    assert spread_kind(cluster.flight_info(sql)) in ("workers", "coordinator")
    assert spread_kind(cluster.flight_info(sql, distributed=False)) == "one node"
    with cluster.connect(False) as local, cluster.connect(True) as spread:
        expected, got = run(local, sql), run(spread, sql)
    assert got.column_names == expected.column_names
    assert canonical(got) == canonical(expected)
    if "ORDER BY" in sql:
        assert rounded(got) == rounded(expected)


def test_endpoints_point_at_workers_and_pyarrow_reads_them_there(cluster):
    sql = "SELECT id, species, x FROM dist.big WHERE x > 2"
    info = cluster.flight_info(sql)
    workers = set(cluster.live_workers())
    assert len(info.endpoints) == WORKERS
    first_locations = {e.locations[0].uri.decode().removeprefix("grpc://") for e in info.endpoints}
    assert first_locations == workers
    parts = []
    for endpoint in info.endpoints:
        worker = flight.connect(endpoint.locations[0])
        parts.append(worker.do_get(endpoint.ticket).read_all())
        worker.close()
    assert all(part.num_rows > 0 for part in parts)
    with cluster.connect(False) as local:
        expected = run(local, sql)
    assert canonical(pa.concat_tables(parts)) == canonical(expected)
    # Aggregates are combined on the coordinator: one endpoint, served there.
    info = cluster.flight_info("SELECT species, sum(x) AS s FROM dist.big GROUP BY species")
    assert len(info.endpoints) == 1 and not info.endpoints[0].locations
    assert spread_kind(info) == "coordinator"


def test_clients_that_cannot_reach_workers_get_a_coordinator_endpoint(cluster):
    sql = "SELECT id, species, x FROM dist.big WHERE x > 2"
    info = cluster.flight_info(sql, user_agent="grpc-java-netty/1.62.2")  # the Flight SQL JDBC driver's stack
    assert spread_kind(info) == "coordinator" and len(info.endpoints) == 1
    with cluster.connect(False) as local:
        assert canonical(cluster.fetch(info)) == canonical(run(local, sql))


def test_queries_that_do_not_spread_run_on_one_node(cluster):
    for sql in ["SELECT DISTINCT species FROM dist.big",
                "SELECT id FROM dist.big WHERE x > (SELECT avg(x) FROM dist.big)",
                "SELECT median(x) AS m FROM dist.big"]:
        assert spread_kind(cluster.flight_info(sql)) == "one node", sql
        with cluster.connect(True) as spread, cluster.connect(False) as local:
            assert canonical(run(spread, sql)) == canonical(run(local, sql))


def test_floe_run_reports_distributed_compute(cluster):
    answer = cluster.floe_run("SELECT species, count(*) AS n FROM dist.big GROUP BY species", mode="query",
                              clusterSize=2)
    compute = answer["compute"]
    assert compute["mode"] == "distributed" and compute["distributed"] is True
    assert compute["clusterSize"] == 2
    # Partial counts combined on the coordinator; nothing shuffled, nothing re-run.
    assert compute["placement"] == "gathered" and compute["shuffles"] == 0 and compute["reruns"] == 0, compute
    assert answer["row_count"] == 3
    assert sorted(cluster.answer_rows(answer).column("n").to_pylist()) == [200, 200, 200]


def test_http_polars_endpoint_runs_distributed(cluster):
    """oleander's `distributed: true` over HTTP: the coordinator spreads the
    query over its workers and answers the combined rows inline."""
    import requests

    response = requests.post(f"http://{cluster.coordinator.address}/api/v1/warehouse/polars", timeout=120, json={
        "mode": "query", "query": "SELECT species, count(*) AS n FROM b GROUP BY species ORDER BY species",
        "tables": ["b=dist.big"], "distributed": True, "clusterSize": 2, "instanceType": "t4g.medium"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["compute"]["distributed"] is True and body["compute"]["clusterSize"] == 2, str(body["compute"])
    assert body["compute"]["instanceType"] == "t4g.medium"
    assert [row[1] for row in body["results"]["rows"]] == [200, 200, 200]


def test_a_killed_worker_and_a_hung_worker_lose_no_rows_and_a_restarted_one_rejoins(cluster):
    sql = "SELECT species, count(*) AS n, sum(x) AS sx FROM dist.big GROUP BY species ORDER BY species"
    with cluster.connect(False) as local:
        expected = rounded(run(local, sql))
    # Planned over all three workers; one is SIGKILLed before its partition runs.
    info = cluster.flight_info(sql)
    victim = cluster.workers.pop(0)
    victim.kill()
    # Its heartbeats have not timed out yet, so floe.run plans a partition on
    # it too: that partition fails and is re-run on another worker.
    answer = cluster.floe_run(sql)
    assert answer["compute"]["reruns"] >= 1, answer["compute"]
    assert rounded(cluster.answer_rows(answer)) == expected
    assert rounded(cluster.fetch(info)) == expected
    # A hung worker (SIGSTOP): its partition times out and runs elsewhere. The
    # victim has left the cluster first, so the re-run counted is the hang's.
    cluster.wait_for_workers(WORKERS - 1)
    hung = cluster.workers[0]
    os.kill(hung.process.pid, signal.SIGSTOP)
    try:
        info = cluster.flight_info(sql)
        answer = cluster.floe_run(sql)
        assert answer["compute"]["reruns"] >= 1, answer["compute"]
        assert rounded(cluster.answer_rows(answer)) == expected
        assert rounded(cluster.fetch(info)) == expected
    finally:
        os.kill(hung.process.pid, signal.SIGCONT)
    cluster.workers.append(cluster.start_worker(9))
    cluster.wait_for_workers(WORKERS)
    with cluster.connect(True) as spread:
        assert rounded(run(spread, sql)) == expected


def test_a_broken_table_fails_the_query_not_the_workers(cluster):
    """A partition every worker would refuse (a corrupt data file) fails the
    query with the worker's own code; no worker is evicted for it."""
    from adbc_driver_manager import AdbcStatusCode, Error as AdbcError

    with cluster.connect(False) as conn:
        run(conn, "CREATE TABLE dist.broken AS SELECT * FROM default.flowers")
        run(conn, "INSERT INTO dist.broken SELECT * FROM default.flowers")
    for data_file in (cluster.coordinator.data_dir / "warehouse" / "dist" / "broken" / "data").glob("*.parquet"):
        data_file.write_bytes(b"not parquet at all")
        break
    with cluster.connect(True) as spread:
        with pytest.raises(AdbcError) as excinfo:
            run(spread, "SELECT species, count(*) AS n FROM dist.broken GROUP BY species")
    assert excinfo.value.status_code == AdbcStatusCode.INTERNAL, str(excinfo.value)
    assert "dist.broken" in str(excinfo.value)
    assert len(cluster.live_workers()) == len(cluster.workers)


def test_tpch_distributed_equals_single_node(cluster):
    """TPC-H SF 0.01, lineitem and orders in several files so their scans
    split: every query's distributed answer equals the single-node one (the
    shapes that cannot spread run on one node)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from tpch import TABLES, generate, tables_match

    duck = generate(0.01)
    queries = dict(duck.execute("SELECT query_nr, query FROM tpch_queries()").fetchall())
    with cluster.connect(False) as local, local.cursor() as cursor:
        cursor.execute("CREATE SCHEMA IF NOT EXISTS tpch")
        cursor.fetch_arrow_table()
        for table in TABLES:
            data = duck.execute(f"SELECT * FROM {table}").to_arrow_table()
            pieces = 4 if table in ("lineitem", "orders") else 1
            step = -(-data.num_rows // pieces)
            for piece in range(pieces):
                mode = "replace" if piece == 0 else "append"
                cursor.adbc_ingest(table, data.slice(piece * step, step), mode=mode, db_schema_name="tpch")
    spread_queries, shuffled = [], []
    with cluster.connect(False, "tpch") as local, cluster.connect(True, "tpch") as spread:
        for number, sql in sorted(queries.items()):
            expected, got = run(local, sql), run(spread, sql)
            assert tables_match(got, expected) is None, f"Q{number}: {tables_match(got, expected)}"
            if spread_kind(cluster.flight_info(sql, schema="tpch")) != "one node":
                spread_queries.append(number)
                compute = cluster.floe_run(sql, schema="tpch")["compute"]
                assert compute["distributed"] is True, f"Q{number}: {compute}"
                if compute["shuffles"] >= 1:
                    shuffled.append(number)
    # Filters, joins and decomposable aggregates over lineitem/orders spread.
    assert {1, 3, 5, 6, 10, 12, 14, 19} <= set(spread_queries), spread_queries
    # lineitem ⋈ orders (and the like) are over the broadcast limit: shuffled.
    assert {3, 5, 10, 12} <= set(shuffled), shuffled
