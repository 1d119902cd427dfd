"""A coordinator and three `floe worker` processes on loopback, sharing one
SQLite catalog and warehouse. Distributed answers equal single-node answers
(demo data and TPC-H); endpoints are fetched straight from the workers by
ADBC and pyarrow; a worker killed or hung mid-query has its partitions re-run;
a restarted worker rejoins."""

import json
import os
import signal
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import FloeServer
from flight_sql_wire import statement_query
from floe_sql import run

WORKERS = 3


class Cluster:
    def __init__(self, root, *extra: str, env: dict | None = None):
        self.root, self.extra, self.env = root, extra, env
        # Any joined table over 1000 bytes is shuffled, so the small test tables exercise shuffles.
        self.coordinator = FloeServer(self._dir("coordinator"), "--cluster", "--heartbeat-timeout-seconds", "4",
                                      "--partition-timeout-seconds", "5", "--broadcast-limit-bytes", "1000",
                                      "--no-scripts", *extra, env=env)
        self.workers = [self.start_worker(i) for i in range(WORKERS)]
        self.wait_for_workers(WORKERS)

    def _dir(self, name):
        path = self.root / name
        path.mkdir(exist_ok=True)
        return path

    def start_worker(self, index) -> FloeServer:
        data = self.coordinator.data_dir
        return FloeServer(self._dir(f"worker{index}-{time.monotonic_ns()}"), "--coordinator", self.coordinator.address,
                          "--heartbeat-seconds", "1", "--catalog-uri", str(data / "catalog.db"),
                          "--warehouse", str(data / "warehouse"), "--no-scripts", *getattr(self, "extra", ()),
                          env=getattr(self, "env", None), command="worker")

    def live_workers(self) -> list[str]:
        client = flight.connect(self.coordinator.uri)
        body = list(client.do_action(flight.Action("floe.cluster.workers", b"")))[0].body.to_pybytes()
        client.close()
        return json.loads(body)["workers"]

    def wait_for_workers(self, count, seconds=30):
        deadline = time.monotonic() + seconds
        while len(self.live_workers()) != count:
            assert time.monotonic() < deadline, f"{self.live_workers()} after {seconds}s"
            time.sleep(0.1)

    def stop(self):
        for worker in self.workers:
            worker.stop()
        self.coordinator.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    import adbc_driver_flightsql.dbapi as flightsql

    with flightsql.connect(cluster.coordinator.uri, autocommit=True) as conn:
        run(conn, "CREATE SCHEMA dist")
        run(conn, "CREATE TABLE dist.big (id BIGINT, species VARCHAR, x DOUBLE, y DOUBLE) PARTITIONED BY (species)")
        for batch in range(4):
            run(conn, f"INSERT INTO dist.big SELECT {batch * 1000} + CAST(sepal_length * 10 AS BIGINT) AS id, species, "
                      f"petal_length + {batch} AS x, sepal_width AS y FROM default.flowers")
        run(conn, "CREATE TABLE dist.big2 (id INT, label VARCHAR, z DOUBLE)")
        for batch in range(3):
            run(conn, f"INSERT INTO dist.big2 SELECT CAST({batch * 1000} + CAST(sepal_length * 10 AS BIGINT) AS INT) AS id, "
                      f"species || '-{batch}' AS label, petal_width AS z FROM default.flowers WHERE petal_width > 0.3")
    yield cluster
    cluster.stop()


def connect(cluster, distributed: bool, schema: str | None = None):
    import adbc_driver_flightsql.dbapi as flightsql

    conn = flightsql.connect(cluster.coordinator.uri, autocommit=True, db_kwargs={
        "adbc.flight.sql.rpc.with_cookie_middleware": "true"})
    options = {"adbc.flight.sql.session.option.distributed": str(distributed).lower()}
    if schema:
        options["adbc.flight.sql.session.option.schema"] = schema
    conn.adbc_connection.set_options(**options)
    return conn


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
]


def rounded(table: pa.Table) -> list:
    """Rows with floats to 9 significant digits: partial sums add in another order."""
    return [{k: float(f"{v:.9g}") if isinstance(v, float) else v for k, v in row.items()} for row in table.to_pylist()]


def canonical(table: pa.Table) -> list:
    return sorted(rounded(table), key=lambda row: json.dumps(row, sort_keys=True, default=str))


def test_a_large_join_is_hash_shuffled_between_workers(cluster):
    sql = ("SELECT a.id, a.species, b.label, a.x * b.z AS xz FROM dist.big AS a JOIN dist.big2 AS b ON a.id = b.id "
           "WHERE a.x > 2")
    before = cluster.coordinator.logs().count("shuffle map stage done")
    info = flight_info(cluster, sql)
    assert cluster.coordinator.logs().count("shuffle map stage done") == before + 1
    assert spread_kind(info) == "workers" and len(info.endpoints) == WORKERS
    with connect(cluster, False) as local, connect(cluster, True) as spread:
        expected = run(local, sql)
        got = run(spread, sql)
        assert expected.num_rows > 1000
        assert canonical(got) == canonical(expected)
        # Aggregated on top of the shuffle: reduce partitions' partials combined.
        agg = "SELECT a.species, count(*) AS n, sum(b.z) AS zs FROM dist.big AS a JOIN dist.big2 AS b ON a.id = b.id GROUP BY a.species"
        assert canonical(run(spread, agg)) == canonical(run(local, agg))


def spread_kind(info) -> str:
    """Where a FlightInfo's rows come from: partitions on the workers, the
    coordinator combining partitions, or one node."""
    if all(endpoint.locations for endpoint in info.endpoints) and len(info.endpoints) > 1:
        return "workers"
    if b"floe.v1.DistributedTicket" in info.endpoints[0].ticket.ticket:
        return "coordinator"
    return "one node"


@pytest.mark.parametrize("sql", QUERIES)
def test_distributed_answers_equal_single_node(cluster, sql):
    assert spread_kind(flight_info(cluster, sql)) in ("workers", "coordinator")
    assert spread_kind(flight_info(cluster, sql, distributed=False)) == "one node"
    with connect(cluster, False) as local, connect(cluster, True) as spread:
        expected, got = run(local, sql), run(spread, sql)
    assert got.column_names == expected.column_names
    assert canonical(got) == canonical(expected)
    if "ORDER BY" in sql:
        assert rounded(got) == rounded(expected)


def flight_info(cluster, sql, distributed=True, schema=None, user_agent=None):
    """GetFlightInfo through plain pyarrow, the session option set by cookie."""
    cookie = {}

    class Cookies(flight.ClientMiddlewareFactory):
        def start_call(self, info):
            outer = self

            class Middleware(flight.ClientMiddleware):
                def sending_headers(self):
                    return {"cookie": cookie["value"]} if "value" in cookie else {}

                def received_headers(self, headers):
                    for value in headers.get("set-cookie", []):
                        cookie["value"] = value.split(";")[0]
            return Middleware()

    from flight_sql_wire import session_options_request

    options = [("grpc.primary_user_agent", user_agent)] if user_agent else []
    client = flight.connect(cluster.coordinator.uri, middleware=[Cookies()], generic_options=options)
    options = {"distributed": str(distributed).lower(), **({"schema": schema} if schema else {})}
    list(client.do_action(flight.Action("SetSessionOptions", session_options_request(options))))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)))
    client.close()
    return info


def test_endpoints_point_at_workers_and_pyarrow_reads_them_there(cluster):
    sql = "SELECT id, species, x FROM dist.big WHERE x > 2"
    info = flight_info(cluster, sql)
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
    with connect(cluster, False) as local:
        expected = run(local, sql)
    assert canonical(pa.concat_tables(parts)) == canonical(expected)
    # Aggregates are combined on the coordinator: one endpoint, served there.
    info = flight_info(cluster, "SELECT species, sum(x) AS s FROM dist.big GROUP BY species")
    assert len(info.endpoints) == 1 and not info.endpoints[0].locations
    assert spread_kind(info) == "coordinator"


def test_clients_that_cannot_reach_workers_get_a_coordinator_endpoint(cluster):
    sql = "SELECT id, species, x FROM dist.big WHERE x > 2"
    info = flight_info(cluster, sql, user_agent="grpc-java-netty/1.62.2")  # the Flight SQL JDBC driver's stack
    assert spread_kind(info) == "coordinator" and len(info.endpoints) == 1
    with connect(cluster, False) as local:
        assert canonical(fetch_from_coordinator(cluster, info)) == canonical(run(local, sql))


def test_workers_found_by_dns_name(tmp_path):
    """`--worker-dns`: the coordinator resolves a name (here an address
    literal standing in for a headless Service) instead of waiting for
    heartbeats; any Floe server with the lake can serve partitions."""
    (tmp_path / "c").mkdir()
    coordinator = FloeServer(tmp_path / "c", "--no-scripts")
    data = coordinator.data_dir
    (tmp_path / "w").mkdir()
    peer = FloeServer(tmp_path / "w", "--catalog-uri", str(data / "catalog.db"), "--warehouse", str(data / "warehouse"),
                      "--no-scripts", "--no-demo")
    coordinator.stop()
    (tmp_path / "c2").mkdir()
    lonely = Cluster.__new__(Cluster)
    lonely.coordinator = FloeServer(tmp_path / "c2", "--cluster", "--worker-dns", peer.address, "--catalog-uri",
                                    str(data / "catalog.db"), "--warehouse", str(data / "warehouse"), "--no-scripts")
    try:
        lonely.wait_for_workers(1)
        assert lonely.live_workers() == [peer.address]
    finally:
        lonely.coordinator.stop()
        peer.stop()


def test_queries_that_do_not_spread_run_on_one_node(cluster):
    for sql in ["SELECT DISTINCT species FROM dist.big",
                "SELECT id FROM dist.big WHERE x > (SELECT avg(x) FROM dist.big)",
                "SELECT median(x) AS m FROM dist.big"]:
        assert spread_kind(flight_info(cluster, sql)) == "one node", sql
        with connect(cluster, True) as spread, connect(cluster, False) as local:
            assert canonical(run(spread, sql)) == canonical(run(local, sql))


def test_floe_run_reports_distributed_compute(cluster):
    client = flight.connect(cluster.coordinator.uri)
    request = {"mode": "query", "query": "SELECT species, count(*) AS n FROM dist.big GROUP BY species",
               "distributed": True, "clusterSize": 2}
    body = list(client.do_action(flight.Action("floe.run", json.dumps(request).encode())))[0].body.to_pybytes()
    answer = json.loads(body)
    assert answer["compute"]["mode"] == "distributed" and answer["compute"]["distributed"] is True
    assert answer["compute"]["clusterSize"] == 2
    assert answer["row_count"] == 3
    table = client.do_get(flight.Ticket(__import__("base64").b64decode(answer["ticket"]))).read_all()
    assert sorted(table.column("n").to_pylist()) == [200, 200, 200]
    client.close()


def fetch_from_coordinator(cluster, info) -> pa.Table:
    client = flight.connect(cluster.coordinator.uri)
    try:
        return pa.concat_tables([client.do_get(endpoint.ticket).read_all() for endpoint in info.endpoints])
    finally:
        client.close()


def test_a_killed_worker_and_a_hung_worker_lose_no_rows_and_a_restarted_one_rejoins(cluster):
    sql = "SELECT species, count(*) AS n, sum(x) AS sx FROM dist.big GROUP BY species ORDER BY species"
    with connect(cluster, False) as local:
        expected = rounded(run(local, sql))
    # Planned over all three workers; one is SIGKILLed before its partition runs.
    info = flight_info(cluster, sql)
    victim = cluster.workers.pop(0)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    assert rounded(fetch_from_coordinator(cluster, info)) == expected
    assert "partition failed, re-running elsewhere" in cluster.coordinator.logs()
    # A hung worker (SIGSTOP): its partition times out and runs elsewhere.
    hung = cluster.workers[0]
    os.kill(hung.process.pid, signal.SIGSTOP)
    try:
        info = flight_info(cluster, sql)
        assert rounded(fetch_from_coordinator(cluster, info)) == expected
        assert "partition timed out, re-running elsewhere" in cluster.coordinator.logs()
    finally:
        os.kill(hung.process.pid, signal.SIGCONT)
    cluster.workers.append(cluster.start_worker(9))
    cluster.wait_for_workers(WORKERS)
    with connect(cluster, True) as spread:
        assert rounded(run(spread, sql)) == expected


def test_a_broken_table_fails_the_query_not_the_workers(cluster):
    """A partition every worker would refuse (a corrupt data file) fails the
    query with the worker's own code; no worker is evicted for it."""
    from adbc_driver_manager import AdbcStatusCode, Error as AdbcError

    with connect(cluster, False) as conn:
        run(conn, "CREATE TABLE dist.broken AS SELECT * FROM default.flowers")
        run(conn, "INSERT INTO dist.broken SELECT * FROM default.flowers")
    for data_file in (cluster.coordinator.data_dir / "warehouse" / "dist" / "broken" / "data").glob("*.parquet"):
        data_file.write_bytes(b"not parquet at all")
        break
    with connect(cluster, True) as spread:
        with pytest.raises(AdbcError) as excinfo:
            run(spread, "SELECT species, count(*) AS n FROM dist.broken GROUP BY species")
    assert excinfo.value.status_code == AdbcStatusCode.INTERNAL, str(excinfo.value)
    assert "dist.broken" in str(excinfo.value)
    assert len(cluster.live_workers()) == len(cluster.workers)


def test_no_workers_left_is_a_clear_unavailable(tmp_path):
    lonely = Cluster.__new__(Cluster)
    lonely.root = tmp_path
    lonely.coordinator = FloeServer(lonely._dir("coordinator"), "--cluster", "--heartbeat-timeout-seconds", "30",
                                    "--partition-timeout-seconds", "3", "--no-scripts")
    lonely.workers = [lonely.start_worker(0), lonely.start_worker(1)]
    try:
        lonely.wait_for_workers(2)
        with connect(lonely, False) as conn:
            run(conn, "CREATE SCHEMA d")
            run(conn, "CREATE TABLE d.t AS SELECT * FROM default.flowers")
            run(conn, "INSERT INTO d.t SELECT * FROM default.flowers")
        info = flight_info(lonely, "SELECT species, count(*) AS n FROM d.t GROUP BY species")
        for worker in lonely.workers:
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
        with pytest.raises(flight.FlightUnavailableError, match="no live workers"):
            fetch_from_coordinator(lonely, info)
        assert lonely.coordinator.alive()
    finally:
        for worker in lonely.workers:
            worker.stop()
        lonely.coordinator.stop()


def test_tpch_distributed_equals_single_node(cluster):
    """TPC-H SF 0.01, lineitem and orders in several files so their scans
    split: every query's distributed answer equals the single-node one (the
    shapes that cannot spread run on one node, and say so in the log)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from tpch import TABLES, generate, tables_match

    duck = generate(0.01)
    queries = dict(duck.execute("SELECT query_nr, query FROM tpch_queries()").fetchall())
    with connect(cluster, False) as local:
        with local.cursor() as cursor:
            cursor.execute("CREATE SCHEMA IF NOT EXISTS tpch")
            cursor.fetch_arrow_table()
            for table in TABLES:
                data = duck.execute(f"SELECT * FROM {table}").to_arrow_table()
                pieces = 4 if table in ("lineitem", "orders") else 1
                step = -(-data.num_rows // pieces)
                for piece in range(pieces):
                    mode = "replace" if piece == 0 else "append"
                    cursor.adbc_ingest(table, data.slice(piece * step, step), mode=mode, db_schema_name="tpch")
    spread_queries = []
    shuffles_before = cluster.coordinator.logs().count("shuffle map stage done")
    with connect(cluster, False, "tpch") as local, connect(cluster, True, "tpch") as spread:
        for number, sql in sorted(queries.items()):
            expected, got = run(local, sql), run(spread, sql)
            assert tables_match(got, expected) is None, f"Q{number}: {tables_match(got, expected)}"
            if spread_kind(flight_info(cluster, sql, schema="tpch")) != "one node":
                spread_queries.append(number)
    # Filters, joins and decomposable aggregates over lineitem/orders spread.
    assert {1, 3, 5, 6, 10, 12, 14, 19} <= set(spread_queries), spread_queries
    # lineitem ⋈ orders (and the like) are over the broadcast limit: shuffled.
    shuffles = cluster.coordinator.logs().count("shuffle map stage done") - shuffles_before
    assert shuffles >= 4, shuffles


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
    from services import Garage

    (tmp_path / "garage-root").mkdir()
    (tmp_path / "cluster-root").mkdir()
    garage = Garage(tmp_path / "garage-root")
    env = {"FLOE_S3_ACCESS_KEY_ID": garage.key_id, "FLOE_S3_SECRET_ACCESS_KEY": garage.secret}
    s3 = ["--shuffle-location", f"s3://{garage.bucket}/shuffle", "--s3-endpoint", garage.endpoint,
          "--s3-region", garage.region, "--s3-path-style"]
    cluster = Cluster(tmp_path / "cluster-root", *s3, env=env)
    try:
        with connect(cluster, False) as conn:
            two_joinable_tables(conn, "s")
        sql = "SELECT a.species, count(*) AS n, sum(a.v * b.v) AS s FROM s.a AS a JOIN s.b AS b ON a.k = b.k GROUP BY a.species"
        with connect(cluster, False) as local:
            expected = canonical(run(local, sql))
        info = flight_info(cluster, sql)
        assert spread_kind(info) == "coordinator"
        assert any("/shuffle/" in key for key in garage.objects("shuffle")), "map outputs are objects in the bucket"
        # Every worker but one leaves after the map stage; the survivor reduces every bucket.
        for worker in cluster.workers[1:]:
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
        assert canonical(fetch_from_coordinator(cluster, info)) == expected
    finally:
        cluster.stop()
        garage.stop()


def test_high_cardinality_group_by_is_shuffled_by_its_keys(tmp_path):
    """Over --group-shuffle-bytes a GROUP BY is hash-shuffled by its keys:
    each worker aggregates whole groups, so its rows are final and clients
    fetch them from the workers."""
    grouped = Cluster(tmp_path, "--group-shuffle-bytes", "1")
    try:
        with connect(grouped, False) as conn:
            run(conn, "CREATE SCHEMA g")
            run(conn, "CREATE TABLE g.t AS SELECT CAST(sepal_length * 10 AS BIGINT) AS k, species, petal_length AS v "
                      "FROM default.flowers")
            for offset in (1, 2, 3):
                run(conn, f"INSERT INTO g.t SELECT CAST(sepal_length * 10 AS BIGINT) + {offset} AS k, species, "
                          f"petal_length AS v FROM default.flowers")
        for sql, kind in [
            ("SELECT k, species, count(*) AS n, sum(v) AS s, avg(v) AS a FROM g.t GROUP BY k, species", "workers"),
            ("SELECT k, count(*) AS n FROM g.t GROUP BY k HAVING count(*) > 3 ORDER BY n DESC, k LIMIT 5", "coordinator"),
        ]:
            before = grouped.coordinator.logs().count("shuffle map stage done")
            info = flight_info(grouped, sql)
            assert spread_kind(info) == kind, sql
            assert grouped.coordinator.logs().count("shuffle map stage done") == before + 1
            with connect(grouped, False) as local, connect(grouped, True) as spread:
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
    secured = Cluster.__new__(Cluster)
    secured.root, secured.extra, secured.env = tmp_path, ("--token", token, "--broadcast-limit-bytes", "1000"), None
    secured.coordinator = FloeServer(secured._dir("coordinator"), "--cluster", *secured.extra, "--no-scripts")
    secured.workers = [secured.start_worker(i) for i in range(2)]
    headers = [(b"authorization", f"Bearer {token}".encode())]
    options = flight.FlightCallOptions(headers=headers)
    client = flight.connect(secured.coordinator.uri)
    try:
        deadline = time.monotonic() + 30
        while len(json.loads(list(client.do_action(flight.Action("floe.cluster.workers", b""), options))[0].body.to_pybytes())["workers"]) < 2:
            assert time.monotonic() < deadline, secured.coordinator.logs()
            time.sleep(0.1)
        with pytest.raises(flight.FlightUnauthenticatedError):
            list(client.do_action(flight.Action("floe.cluster.workers", b"")))
        import adbc_driver_flightsql.dbapi as flightsql

        kwargs = {"adbc.flight.sql.authorization_header": f"Bearer {token}",
                  "adbc.flight.sql.rpc.with_cookie_middleware": "true"}
        with flightsql.connect(secured.coordinator.uri, autocommit=True, db_kwargs=kwargs) as conn:
            two_joinable_tables(conn, "t")
            sql = "SELECT count(*) AS n, sum(a.v * b.v) AS s FROM t.a AS a JOIN t.b AS b ON a.k = b.k"
            expected = rounded(run(conn, sql))
            conn.adbc_connection.set_options(**{"adbc.flight.sql.session.option.distributed": "true"})
            assert rounded(run(conn, sql)) == expected
        assert "shuffle map stage done" in secured.coordinator.logs()
    finally:
        client.close()
        for worker in secured.workers:
            worker.stop()
        secured.coordinator.stop()


def test_adbc_falls_back_to_the_coordinator_when_a_partitions_worker_is_gone(tmp_path):
    """Direct endpoints list the worker first and the coordinator second; any
    Floe node can run a partition, so a client that tries the next location
    (ADBC does) still reads every row after the worker dies."""
    fallback = Cluster(tmp_path)
    try:
        with connect(fallback, False) as conn:
            run(conn, "CREATE SCHEMA f")
            run(conn, "CREATE TABLE f.t AS SELECT * FROM default.flowers")
            for _ in range(2):
                run(conn, "INSERT INTO f.t SELECT * FROM default.flowers")
        sql = "SELECT species, sepal_length FROM f.t WHERE petal_width > 0.2"
        with connect(fallback, False) as local:
            expected = canonical(run(local, sql))
        with connect(fallback, True) as spread, spread.cursor() as cursor:
            partitions, _schema = cursor.adbc_execute_partitions(sql)
            assert len(partitions) == WORKERS
            victim = fallback.workers.pop(0)
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait()
            tables = []
            for partition in partitions:
                cursor.adbc_read_partition(partition)
                tables.append(cursor.fetch_arrow_table())
        assert canonical(pa.concat_tables(tables)) == expected
    finally:
        fallback.stop()
