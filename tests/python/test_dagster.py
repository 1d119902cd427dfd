"""Dagster (from PyPI, `materialize()` in process and the `dagster` CLI)
with floe-lake's FloeIOManager and FloeResource against a real server with
a token: eager and lazy assets chained through Iceberg tables, daily,
static and multi partitions replaced one commit at a time, a lazy filter
that reaches the server, output metadata, and a bad token."""

import datetime as dt
import os
import re
import subprocess
import sys
import textwrap
from typing import Optional

import dagster as dg
import polars as pl
import pytest

from floe_lake.dagster import FloeIOManager, FloeResource

TOKEN = "dagster-secret"


@pytest.fixture(scope="module")
def floe(tmp_path_factory):
    from harness import FloeServer

    server = FloeServer(tmp_path_factory.mktemp("dagster"), "--token", TOKEN, env={"FLOE_LOG": "info,floe::exec=debug"})
    yield server
    assert server.alive(), server.logs()
    server.stop()


def resources(floe, token=TOKEN) -> dict:
    uri = floe.uri
    return {"io_manager": FloeIOManager(uri=uri, token=token, namespace="dag"),
            "floe": FloeResource(uri=uri, token=token)}


def client(floe):
    import floe_lake

    return floe_lake.connect(floe.uri, token=TOKEN)


@dg.asset(key_prefix="dag")
def flowers(floe: FloeResource) -> pl.DataFrame:
    return floe.get_client().sql("SELECT * FROM default.flowers")


@dg.asset(key_prefix="dag")
def long_flowers(flowers: pl.LazyFrame) -> pl.LazyFrame:
    return flowers.filter(pl.col("sepal_length") > 7.2)


@dg.asset(key_prefix="dag", ins={"long_flowers": dg.AssetIn(key_prefix="dag", metadata={"columns": ["species"]})})
def long_species(long_flowers: pl.DataFrame) -> pl.DataFrame:
    assert long_flowers.columns == ["species"]
    return long_flowers.group_by("species").len().sort("species")


@dg.asset(key_prefix="dag")
def maybe(missing_upstream: Optional[pl.DataFrame]) -> pl.DataFrame:
    return pl.DataFrame({"was_missing": [missing_upstream is None]})


def test_eager_and_lazy_assets_chain_through_floe(floe):
    result = dg.materialize([flowers, long_flowers, long_species], resources=resources(floe))
    assert result.success
    with client(floe) as lake:
        assert lake.sql("SELECT count(*) AS n FROM dag.flowers")["n"][0] == 150
        expected = lake.sql("SELECT count(*) AS n FROM default.flowers WHERE sepal_length > 7.2")["n"][0]
        assert lake.sql("SELECT count(*) AS n FROM dag.long_flowers")["n"][0] == expected > 0
        assert lake.sql("SELECT * FROM dag.long_species")["species"].to_list() == ["virginica"]
        snapshot = lake.current_snapshot("dag.long_flowers")
    metadata = result.asset_materializations_for_node("dag__long_flowers")[0].metadata
    assert metadata["dagster/row_count"].value == expected
    assert metadata["dagster/table_name"].value == "dag.long_flowers"
    assert metadata["floe/snapshot_id"].value == str(snapshot)
    columns = [c.name for c in metadata["dagster/column_schema"].value.columns]
    assert columns == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    # The lazy input's filter ran in Floe: its SQL reached the server (debug log of planned queries).
    planned = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", floe.logs()).splitlines() if "query planned" in line]
    assert any("flowers" in line and "sepal_length" in line and "> 7.2" in line for line in planned), planned


def test_optional_input_of_a_missing_table_is_none(floe):
    missing = dg.AssetSpec(key=dg.AssetKey(["dag", "missing_upstream"]))
    result = dg.materialize([missing, maybe], resources=resources(floe), selection=[maybe])
    assert result.success
    with client(floe) as lake:
        assert lake.sql("SELECT * FROM dag.maybe")["was_missing"].to_list() == [True]


DAILY = dg.DailyPartitionsDefinition(start_date="2026-11-01", end_date="2026-11-05")


def daily_asset(value: float):
    @dg.asset(name="readings", key_prefix="dag", partitions_def=DAILY, metadata={"partition_expr": "day"})
    def readings(context: dg.AssetExecutionContext) -> pl.DataFrame:
        day = dt.date.fromisoformat(context.partition_key)
        return pl.DataFrame({"day": [day, day], "sensor": ["a", "b"], "value": [value, value + 1]})

    return readings


def test_daily_partitions_replace_only_their_rows_one_commit_each(floe):
    for day in ["2026-11-01", "2026-11-02", "2026-11-03"]:
        assert dg.materialize([daily_asset(1.0)], partition_key=day, resources=resources(floe)).success
    with client(floe) as lake:
        before = lake.snapshots("dag.readings").height
        result = dg.materialize([daily_asset(10.0)], partition_key="2026-11-02", resources=resources(floe))
        assert result.success
        rows = lake.sql("SELECT CAST(day AS VARCHAR) AS day, sensor, value FROM dag.readings ORDER BY day, sensor")
        assert rows.to_dicts() == [
            {"day": "2026-11-01", "sensor": "a", "value": 1.0}, {"day": "2026-11-01", "sensor": "b", "value": 2.0},
            {"day": "2026-11-02", "sensor": "a", "value": 10.0}, {"day": "2026-11-02", "sensor": "b", "value": 11.0},
            {"day": "2026-11-03", "sensor": "a", "value": 1.0}, {"day": "2026-11-03", "sensor": "b", "value": 2.0},
        ]
        assert lake.snapshots("dag.readings").height == before + 1, "one commit per materialization"
    metadata = result.asset_materializations_for_node("dag__readings")[0].metadata
    assert metadata["dagster/partition_row_count"].value == 2

    @dg.asset(key_prefix="dag", partitions_def=DAILY,
              ins={"readings": dg.AssetIn(key_prefix="dag")})
    def daily_total(readings: pl.DataFrame) -> pl.DataFrame:
        return readings.group_by("day").agg(pl.col("value").sum())

    assert dg.materialize([daily_asset(10.0), daily_total], partition_key="2026-11-02", resources=resources(floe),
                          selection=[daily_total]).success
    with client(floe) as lake:
        assert lake.sql("SELECT value FROM dag.daily_total")["value"].to_list() == [21.0]


REGIONS = dg.StaticPartitionsDefinition(["eu", "us"])
MULTI = dg.MultiPartitionsDefinition({"region": REGIONS, "day": DAILY})


def test_static_and_multi_partitions(floe):
    @dg.asset(key_prefix="dag", partitions_def=REGIONS, metadata={"partition_expr": "region"})
    def by_region(context: dg.AssetExecutionContext) -> pl.LazyFrame:
        return pl.LazyFrame({"region": [context.partition_key] * 3, "n": [1, 2, 3]})

    @dg.asset(key_prefix="dag", partitions_def=MULTI,
              metadata={"partition_expr": {"region": "region", "day": "day"}})
    def grid(context: dg.AssetExecutionContext) -> pl.DataFrame:
        keys = context.partition_key.keys_by_dimension
        return pl.DataFrame({"region": [keys["region"]], "day": [keys["day"]], "run": [context.run.run_id]})

    for region in ["eu", "us", "eu"]:
        assert dg.materialize([by_region], partition_key=region, resources=resources(floe)).success
    for key in ["2026-11-01|eu", "2026-11-01|us", "2026-11-02|eu", "2026-11-01|eu"]:
        partition = dg.MultiPartitionKey({"day": key.split("|")[0], "region": key.split("|")[1]})
        assert dg.materialize([grid], partition_key=partition, resources=resources(floe)).success
    with client(floe) as lake:
        assert lake.sql("SELECT region, count(*) AS n FROM dag.by_region GROUP BY region ORDER BY region").to_dicts() \
            == [{"region": "eu", "n": 3}, {"region": "us", "n": 3}]
        grid_rows = lake.sql("SELECT region, day FROM dag.grid ORDER BY day, region")
        assert grid_rows.rows() == [("eu", "2026-11-01"), ("us", "2026-11-01"), ("eu", "2026-11-02")]


def test_a_bad_token_fails_with_a_clear_message(floe):
    result = dg.materialize([flowers], resources=resources(floe, token="wrong"), raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert "Unauthenticated" in failure.to_string() and "invalid bearer token" in failure.to_string()


def test_the_dagster_cli_materializes_through_floe(floe, tmp_path):
    definitions = tmp_path / "defs.py"
    definitions.write_text(textwrap.dedent(f"""
        import dagster as dg
        import polars as pl
        from floe_lake.dagster import FloeIOManager

        @dg.asset(key_prefix="cli")
        def numbers() -> pl.DataFrame:
            return pl.DataFrame({{"x": [1, 2, 3]}})

        defs = dg.Definitions(assets=[numbers], resources={{
            "io_manager": FloeIOManager(uri="{floe.uri}", token=dg.EnvVar("FLOE_TOKEN"))}})
    """))
    env = {**os.environ, "FLOE_TOKEN": TOKEN, "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "dagster"), "asset", "materialize",
                           "-f", str(definitions), "--select", "cli/numbers"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with client(floe) as lake:
        assert lake.sql("SELECT sum(x) AS s FROM cli.numbers")["s"][0] == 6
