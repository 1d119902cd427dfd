"""Clusters started for one test each, with flags of their own: workers found
by DNS, no workers left, shuffle outputs on S3, GROUP BY shuffled by its keys,
a cluster secured by a token, ADBC falling back to the coordinator. How a
query ran is read from the `compute` of its `floe.run` answer."""

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from floe_sql import canonical, rounded, run
from harness import QUICK, Cluster, FloeServer, Garage, spread_kind


def test_workers_found_by_dns_name(tmp_path):
    """`--worker-dns`: the coordinator resolves a name (here an address
    literal standing in for a headless Service) instead of waiting for
    heartbeats; any Floe server with the lake can serve partitions."""
    seed = FloeServer(tmp_path / "c", "--no-scripts")  # makes the catalog and warehouse
    data = seed.data_dir
    peer = FloeServer(tmp_path / "w", "--catalog-uri", str(data / "catalog.db"), "--warehouse", str(data / "warehouse"),
                      "--no-scripts", "--no-demo")
    seed.stop()
    lonely = Cluster(tmp_path / "c2", workers=0, coordinator=(
        "--worker-dns", peer.address, "--catalog-uri", str(data / "catalog.db"), "--warehouse", str(data / "warehouse")))
    try:
        lonely.wait_for_workers(1)
        assert lonely.live_workers() == [peer.address]
    finally:
        lonely.stop()
        peer.stop()


def test_no_workers_left_is_a_clear_unavailable(tmp_path):
    lonely = Cluster(tmp_path, workers=2,
                     coordinator=("--heartbeat-timeout-seconds", "30", "--partition-timeout-seconds", "3"))
    try:
        with lonely.connect(False) as conn:
            run(conn, "CREATE SCHEMA d")
            run(conn, "CREATE TABLE d.t AS SELECT * FROM default.flowers")
            run(conn, "INSERT INTO d.t SELECT * FROM default.flowers")
        info = lonely.flight_info("SELECT species, count(*) AS n FROM d.t GROUP BY species")
        for worker in lonely.workers:
            worker.kill()
        with pytest.raises(flight.FlightUnavailableError, match="no live workers"):
            lonely.fetch(info)
        assert lonely.coordinator.alive()
    finally:
        lonely.stop()


def two_joinable_tables(conn, schema):
    """`schema.a` and `schema.b`, two files each, joinable on `k`."""
    run(conn, f"CREATE SCHEMA {schema}")
    for name in ("a", "b"):
        run(conn, f"CREATE TABLE {schema}.{name} AS SELECT CAST(sepal_length * 10 AS BIGINT) AS k, species, "
                  f"petal_length AS v FROM default.flowers")
        run(conn, f"INSERT INTO {schema}.{name} SELECT CAST(sepal_width * 10 AS BIGINT) AS k, species, "
                  f"petal_width AS v FROM default.flowers")


def test_shuffle_outputs_on_s3_survive_their_worker(tmp_path):
    """With --shuffle-location on S3 (a real Garage server) map outputs are
    objects, so a reduce partition still finds them after the worker that
    wrote them is gone."""
    (tmp_path / "garage-root").mkdir()
    garage = Garage(tmp_path / "garage-root")
    env = {"FLOE_S3_ACCESS_KEY_ID": garage.key_id, "FLOE_S3_SECRET_ACCESS_KEY": garage.secret}
    s3 = ["--shuffle-location", f"s3://{garage.bucket}/shuffle", "--s3-endpoint", garage.endpoint,
          "--s3-region", garage.region, "--s3-path-style"]
    cluster = Cluster(tmp_path / "cluster-root", *s3, coordinator=QUICK, env=env)
    try:
        with cluster.connect(False) as conn:
            two_joinable_tables(conn, "s")
        sql = "SELECT a.species, count(*) AS n, sum(a.v * b.v) AS s FROM s.a AS a JOIN s.b AS b ON a.k = b.k GROUP BY a.species"
        with cluster.connect(False) as local:
            expected = canonical(run(local, sql))
        info = cluster.flight_info(sql)
        assert spread_kind(info) == "coordinator"
        assert any("/shuffle/" in key for key in garage.objects("shuffle")), "map outputs are objects in the bucket"
        # Every worker but one leaves after the map stage; the survivor reduces every bucket.
        for worker in cluster.workers[1:]:
            worker.kill()
        assert canonical(cluster.fetch(info)) == expected
    finally:
        cluster.stop()
        garage.stop()


def test_high_cardinality_group_by_is_shuffled_by_its_keys(tmp_path):
    """Over --group-shuffle-bytes a GROUP BY is hash-shuffled by its keys:
    each worker aggregates whole groups, so its rows are final and clients
    fetch them from the workers."""
    grouped = Cluster(tmp_path, "--group-shuffle-bytes", "1", coordinator=QUICK)
    try:
        with grouped.connect(False) as conn:
            run(conn, "CREATE SCHEMA g")
            run(conn, "CREATE TABLE g.t AS SELECT CAST(sepal_length * 10 AS BIGINT) AS k, species, petal_length AS v "
                      "FROM default.flowers")
            for offset in (1, 2, 3):
                run(conn, f"INSERT INTO g.t SELECT CAST(sepal_length * 10 AS BIGINT) + {offset} AS k, species, "
                          f"petal_length AS v FROM default.flowers")
        for sql, kind, placement in [
            ("SELECT k, species, count(*) AS n, sum(v) AS s, avg(v) AS a FROM g.t GROUP BY k, species",
             "workers", "partitioned"),
            ("SELECT k, count(*) AS n FROM g.t GROUP BY k HAVING count(*) > 3 ORDER BY n DESC, k LIMIT 5",
             "coordinator", "gathered"),
        ]:
            assert spread_kind(grouped.flight_info(sql)) == kind, sql
            compute = grouped.floe_run(sql)["compute"]
            assert compute["shuffles"] == 1 and compute["placement"] == placement, (sql, compute)
            with grouped.connect(False) as local, grouped.connect(True) as spread:
                expected, got = run(local, sql), run(spread, sql)
            if "ORDER BY" in sql:
                assert rounded(got) == rounded(expected)
            else:
                assert canonical(got) == canonical(expected)
    finally:
        grouped.stop()


def test_a_cluster_with_a_token_authenticates_its_own_calls(tmp_path):
    """Servers off loopback need credentials (the Helm chart sets FLOE_TOKEN):
    heartbeats, partition fetches and shuffles then carry the shared token,
    and clients need it too."""
    token = "cluster-s3cret"
    # Both workers join (Cluster waits for them): their heartbeats carry the token.
    secured = Cluster(tmp_path, "--broadcast-limit-bytes", "1000", workers=2, token=token)
    try:
        with flight.connect(secured.coordinator.uri) as client, pytest.raises(flight.FlightUnauthenticatedError):
            list(client.do_action(flight.Action("floe.cluster.workers", b"")))
        sql = "SELECT count(*) AS n, sum(a.v * b.v) AS s FROM t.a AS a JOIN t.b AS b ON a.k = b.k"
        with secured.connect(False) as local, secured.connect(True) as spread:
            two_joinable_tables(local, "t")
            expected = rounded(run(local, sql))
            assert rounded(run(spread, sql)) == expected
        # The join was shuffled between the workers: map tasks and bucket fetches carried the token.
        answer = secured.floe_run(sql)
        assert answer["compute"]["shuffles"] >= 1, answer["compute"]
        assert rounded(secured.answer_rows(answer)) == expected
    finally:
        secured.stop()


def test_adbc_falls_back_to_the_coordinator_when_a_partitions_worker_is_gone(tmp_path):
    """Direct endpoints list the worker first and the coordinator second; any
    Floe node can run a partition, so a client that tries the next location
    (ADBC does) still reads every row after the worker dies."""
    fallback = Cluster(tmp_path, coordinator=QUICK)
    try:
        with fallback.connect(False) as conn:
            run(conn, "CREATE SCHEMA f")
            run(conn, "CREATE TABLE f.t AS SELECT * FROM default.flowers")
            for _ in range(2):
                run(conn, "INSERT INTO f.t SELECT * FROM default.flowers")
        sql = "SELECT species, sepal_length FROM f.t WHERE petal_width > 0.2"
        with fallback.connect(False) as local:
            expected = canonical(run(local, sql))
        with fallback.connect(True) as spread, spread.cursor() as cursor:
            partitions, _schema = cursor.adbc_execute_partitions(sql)
            assert len(partitions) == len(fallback.workers)
            fallback.workers.pop(0).kill()
            tables = []
            for partition in partitions:
                cursor.adbc_read_partition(partition)
                tables.append(cursor.fetch_arrow_table())
        assert canonical(pa.concat_tables(tables)) == expected
    finally:
        fallback.stop()
