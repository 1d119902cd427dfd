"""The Python client (`clients/python`, installed into the test venv as a
user would): SQL, lazy scans whose projection, filters and limit reach the
server, streamed writes with their snapshots, workloads, listings, errors,
and connecting with a token, Basic credentials and TLS."""

import uuid

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import floe_lake
from floe_lake import FloeError
from readers import pyiceberg_catalog
from tls_certs import make_certificates


@pytest.fixture(scope="module")
def floe(server):
    with floe_lake.connect(server.uri) as client:
        yield client


def flowers(server) -> pl.DataFrame:
    return pl.from_arrow(pyiceberg_catalog(server).load_table("default.flowers").scan().to_arrow())


def test_sql_parameters_and_statements(floe):
    counts = floe.sql("SELECT species, count(*) AS n FROM default.flowers GROUP BY species ORDER BY species")
    assert counts.to_dicts() == [{"species": s, "n": 50} for s in ["setosa", "versicolor", "virginica"]]
    assert floe.sql("SELECT count(*) AS n FROM default.flowers WHERE sepal_length > ?", [7.0])["n"][0] == 12
    namespace = f"client_{uuid.uuid4().hex[:6]}"
    floe.execute(f"CREATE SCHEMA {namespace}")
    floe.execute(f"CREATE TABLE {namespace}.t (k INT, v VARCHAR)")
    assert floe.execute(f"INSERT INTO {namespace}.t VALUES (1, 'a'), (2, 'b')") == 2
    assert f"{namespace}.t" in floe.tables()
    assert dict(floe.schema(f"{namespace}.t")) == {"k": pl.Int32, "v": pl.String}


def test_scan_pushes_projection_filter_and_limit_to_the_server(floe, server):
    expected = flowers(server).filter((pl.col("sepal_length") > 6.5) & (pl.col("species") != "setosa"))
    lazy = floe.scan("default.flowers").filter((pl.col("sepal_length") > 6.5) & (pl.col("species") != "setosa"))
    got = lazy.select("species", "petal_width").collect()
    assert_frame_equal(got.sort(pl.all()), expected.select("species", "petal_width").sort(pl.all()))
    sql = floe.last_scan_sql
    assert '"sepal_length" > 6.5' in sql and "\"species\" <> 'setosa'" in sql, sql
    assert '"sepal_width"' not in sql and '"petal_length"' not in sql, sql
    assert floe.scan("default.flowers").head(3).collect().height == 3
    assert floe.last_scan_sql.endswith("LIMIT 3")
    # A filter that does not translate still holds: Polars applies it to what arrives.
    odd = floe.scan("default.flowers").filter(pl.col("species").str.len_chars() == 6).collect()
    assert set(odd["species"]) == {"setosa"} and "WHERE" not in floe.last_scan_sql


def test_writes_stream_commit_once_and_time_travel(floe):
    table = f"client.w_{uuid.uuid4().hex[:8]}"
    first = floe.write(pl.DataFrame({"k": [1, 2], "v": ["a", "b"]}), table, mode="append")
    assert first.rows_written == 2 and first.snapshot_id is not None
    lazy = pl.LazyFrame({"k": range(3, 100_003)}).with_columns(v=pl.lit("x"))
    second = floe.write(lazy, table, mode="append")
    assert second.rows_written == 100_000 and second.snapshot_id != first.snapshot_id
    assert floe.sql(f"SELECT count(*) AS n FROM {table}")["n"][0] == 100_002
    replaced = floe.write(pl.DataFrame({"k": [9], "v": ["z"]}), table, mode="overwrite")
    assert floe.scan(table).collect().to_dicts() == [{"k": 9, "v": "z"}]
    assert floe.scan(table, snapshot=first.snapshot_id).collect().height == 2
    operations = floe.snapshots(table)["operation"].to_list()
    assert operations == ["append", "append", "overwrite"] and floe.current_snapshot(table) == replaced.snapshot_id
    with pytest.raises(FloeError) as refused:
        floe.write(pl.DataFrame({"k": [1]}), table, mode="create")
    assert refused.value.code == "AlreadyExists", refused.value


def test_workloads_return_frames_or_saved_tables(floe):
    run = floe.run(query="SELECT count(*) AS n FROM f", tables=["f=default.flowers"])
    assert run.frame.to_dicts() == [{"n": 150}] and run.compute["mode"] == "local"
    table = f"client.run_{uuid.uuid4().hex[:8]}"
    saved = floe.run(script="result = scan(params['t']).head(int(params['n']))",
                     params={"t": "default.flowers", "n": "5"}, destination=table)
    assert saved.saved["rows_written"] == 5 and saved.frame is None
    assert floe.sql(f"SELECT count(*) AS n FROM {table}")["n"][0] == 5
    with pytest.raises(FloeError) as failed:
        floe.run(script="raise ValueError('nope')")
    assert failed.value.code == "InvalidArgument" and "nope" in failed.value.message


def test_errors_carry_the_code_and_floes_message(floe):
    with pytest.raises(FloeError) as missing:
        floe.sql("SELECT * FROM default.nope")
    assert missing.value.code == "NotFound" and "default.nope" in missing.value.message
    assert not floe.exists("default.nope") and floe.exists("default.flowers")


def test_tokens_basic_credentials_and_tls(start_server, tmp_path):
    certs = make_certificates(tmp_path / "certs")
    secured = start_server("--no-scripts", "--token", "secret", "--user", "ana:pw",
                           "--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key))
    uri = f"grpc+tls://{secured.address}"
    with floe_lake.connect(uri, token="secret", tls_root_certs=certs.ca.cert_pem) as client:
        assert client.sql("SELECT count(*) AS n FROM default.flowers")["n"][0] == 150
        assert client.scan("default.flowers").filter(pl.col("species") == "setosa").collect().height == 50
    with floe_lake.connect(uri, user="ana", password="pw", tls_root_certs=str(certs.ca.cert)) as client:
        assert client.run(query="SELECT 1 AS one").frame["one"][0] == 1
    with pytest.raises(FloeError) as refused:
        floe_lake.connect(uri, token="wrong", tls_root_certs=certs.ca.cert_pem).sql("SELECT 1")
    assert refused.value.code == "Unauthenticated", refused.value


def test_empty_frames_create_and_append(floe):
    table = f"client.empty_{uuid.uuid4().hex[:8]}"
    created = floe.write(pl.DataFrame(schema={"k": pl.Int64, "v": pl.String}), table, mode="create")
    assert created.rows_written == 0 and dict(floe.schema(table)) == {"k": pl.Int64, "v": pl.String}
    assert floe.write(pl.LazyFrame(schema={"k": pl.Int64, "v": pl.String}), table, mode="append").rows_written == 0
    assert floe.sql(f"SELECT count(*) AS n FROM {table}")["n"][0] == 0
