"""The HTTP API (oleander's warehouse contract) through a real HTTP client
(`requests`), on the Flight port: every `mode`, each `tables` form,
destinations, failures with their codes, stored results past the inline
cap (read back with pyarrow and Polars), JSON values of every Iceberg
column type, lake browsing, and an OpenAPI document that matches the seed's
schema field for field."""

import datetime as dt
import io
import pathlib
import shutil
import subprocess
import time
import uuid
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import requests
import yaml

from readers import pyiceberg_catalog

SEED = pathlib.Path(__file__).resolve().parents[3] / "shared" / "seeds" / "001_d2b467ec80330d7b.txt"
SPECIES_SQL = "SELECT species, avg(sepal_length) AS a FROM f GROUP BY species ORDER BY a DESC"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A server answering at most 100 rows inline, keeping larger results 4 s."""
    from harness import FloeServer

    floe = FloeServer(tmp_path_factory.mktemp("http"), "--inline-rows", "100", "--results-retention", "4s")
    yield floe
    assert floe.alive(), floe.logs()
    floe.stop()


def base(floe) -> str:
    return f"http://{floe.address}"


def polars_run(floe, body: dict, token: str | None = None) -> requests.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{base(floe)}/api/v1/warehouse/polars", json=body, headers=headers, timeout=60)


def ok(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["success"] is True
    return body


@pytest.mark.parametrize("tables, sql", [
    (["f=default.flowers"], SPECIES_SQL),
    ([{"alias": "f", "table": "default.flowers"}], SPECIES_SQL),
    (["default.flowers"], SPECIES_SQL.replace("FROM f", "FROM flowers")),
    ([], SPECIES_SQL.replace("FROM f", "FROM default.flowers")),
])
def test_query_mode_with_each_tables_form(api, tables, sql):
    body = ok(polars_run(api, {"mode": "query", "query": sql, "tables": tables, "vcpus": 4, "params": {},
                               "saveMode": "overwrite", "distributed": False, "instanceType": "t4g.medium",
                               "clusterSize": 4, "catalog": "floe"}))
    results = body["results"]
    assert results["columns"] == ["species", "a"]
    assert results["column_types"] == ["Utf8", "Float64"]
    assert [row[0] for row in results["rows"]] == ["virginica", "versicolor", "setosa"]
    assert results["truncated"] is False and "download" not in body
    assert body["row_count"] == 3 and body["execution_time"].endswith("ms")
    assert body["compute"] == {"mode": "local", "distributed": False, "vcpus": 4, "placement": "local", "shuffles": 0,
                               "reruns": 0, "instanceType": None, "clusterSize": None}


def test_script_mode_with_params_and_its_traceback_on_failure(api):
    script = ("limit = int(params.get('limit', 50))\n"
              "result = scan(params['table']).group_by('species').agg(pl.len().alias('count')).sort('species').head(limit)")
    body = ok(polars_run(api, {"mode": "script", "script": script, "params": {"table": "default.flowers", "limit": "2"}}))
    assert body["results"]["rows"] == [["setosa", 50], ["versicolor", 50]]
    # Counts (UInt32 in Polars) reach clients as Int64: JDBC and ODBC have no unsigned types.
    assert body["results"]["column_types"] == ["Utf8", "Int64"]

    failed = polars_run(api, {"mode": "script", "script": "x = 1\nraise ValueError('no flowers today')"})
    assert failed.status_code == 400
    assert failed.json()["error"] == "InvalidArgument"
    assert "Traceback" in failed.json()["details"] and "no flowers today" in failed.json()["details"]


def test_destination_overwrite_and_append(api):
    name = f"http.saved_{uuid.uuid4().hex[:8]}"
    request = {"mode": "query", "query": "SELECT * FROM default.flowers WHERE species = 'setosa'", "destination": name}
    first = ok(polars_run(api, request))  # saveMode defaults to overwrite
    assert first["saved"]["table"] == name and first["saved"]["mode"] == "overwrite"
    assert first["saved"]["rows_written"] == 50 and "results" not in first
    ok(polars_run(api, {**request, "saveMode": "append"}))
    table = pyiceberg_catalog(api).load_table(name)
    assert table.scan().to_arrow().num_rows == 100
    ok(polars_run(api, {**request, "saveMode": "overwrite"}))
    assert pyiceberg_catalog(api).load_table(name).scan().to_arrow().num_rows == 50


def test_distributed_on_a_single_server_says_why_it_ran_locally(api):
    body = ok(polars_run(api, {"mode": "query", "query": "SELECT count(*) AS n FROM default.flowers",
                               "distributed": True, "clusterSize": 2, "instanceType": "t4g.medium"}))
    assert body["results"]["rows"] == [[150]]
    assert body["compute"]["distributed"] is False and "no workers" in body["compute"]["reason"]


@pytest.mark.parametrize("payload, status, words", [
    (b"{not json", 400, "invalid request body"),
    (b'{"mode": "query", "query": "SELECT 1", "colour": "blue"}', 400, "unknown field `colour`"),
    (b'{"query": "SELECT 1"}', 400, "missing field `mode`"),
    (b'{"mode": "sql", "query": "SELECT 1"}', 400, "unknown variant `sql`"),
    (b'{"mode": "query", "query": "SELECT 1", "vcpus": 3}', 400, "vcpus"),
    (b'{"mode": "query"}', 400, "`query` is required"),
    (b'{"mode": "query", "query": "SELECT * FROM default.nope"}', 400, "default.nope"),
    (b'{"mode": "query", "query": "SELEC oops"}', 400, "syntax"),
    (b'{"mode": "script"}', 400, "`script` is required"),
])
def test_bad_requests_answer_400_with_error_and_details(api, payload, status, words):
    response = requests.post(f"{base(api)}/api/v1/warehouse/polars", data=payload, timeout=30,
                             headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "details"} and words in body["details"], body


def test_a_large_result_is_truncated_and_downloadable_until_it_expires(api):
    body = ok(polars_run(api, {"mode": "query", "query": "SELECT * FROM default.flowers ORDER BY sepal_length, sepal_width"}))
    results, download = body["results"], body["download"]
    assert results["truncated"] is True and len(results["rows"]) == 100
    assert body["row_count"] == 150 and download["rows"] == 150
    parquet = requests.get(download["parquet"], timeout=30)
    assert parquet.status_code == 200 and parquet.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 150 and table.column_names == results["columns"]
    assert table.slice(0, 100).to_pylist() == [dict(zip(results["columns"], row)) for row in results["rows"]]
    stream = requests.get(download["arrow"], timeout=30)
    assert ipc.open_stream(stream.content).read_all().equals(table)
    assert pl.read_parquet(io.BytesIO(parquet.content)).height == 150

    tampered = download["parquet"].replace("/results/", "/results/A")
    assert requests.get(tampered, timeout=30).status_code in (400, 401)
    time.sleep(5)  # the server keeps results 4 s
    gone = requests.get(download["parquet"], timeout=30)
    assert gone.status_code == 410 and gone.json()["error"] == "Gone"
    stored = list((api.data_dir / "results").rglob("*.parquet"))
    deadline = time.time() + 10
    while stored and time.time() < deadline:  # the sweeper deletes expired files
        time.sleep(0.5)
        stored = list((api.data_dir / "results").rglob("*.parquet"))
    assert stored == []


def test_query_endpoint_answers_rows_or_its_error_with_the_statement(api):
    response = requests.post(f"{base(api)}/api/v1/warehouse/query", json={"query": "SELECT count(*) AS n FROM default.flowers"},
                             timeout=30)
    body = ok(response)
    assert body["results"]["rows"] == [[150]] and body["row_count"] == 1
    assert body["query"] == "SELECT count(*) AS n FROM default.flowers"
    failed = requests.post(f"{base(api)}/api/v1/warehouse/query", json={"query": "SELECT nope FROM default.flowers"}, timeout=30)
    assert failed.status_code == 400
    assert failed.json()["success"] is False and "nope" in failed.json()["details"]
    assert failed.json()["query"] == "SELECT nope FROM default.flowers"


def test_every_iceberg_column_type_as_json(api):
    utc = dt.timezone.utc
    data = pa.table({
        "flag": pa.array([True, None], pa.bool_()),
        "small": pa.array([1, None], pa.int32()),
        "big": pa.array([2**40, None], pa.int64()),
        "ratio": pa.array([1.5, None], pa.float32()),
        "measure": pa.array([1e300, None], pa.float64()),
        "price": pa.array([Decimal("12.34"), None], pa.decimal128(10, 2)),
        "day": pa.array([dt.date(2024, 2, 29), None], pa.date32()),
        "at": pa.array([dt.datetime(2024, 1, 1, 12, 30, 0, 5), None], pa.timestamp("us")),
        "at_utc": pa.array([dt.datetime(2024, 1, 1, 12, 30, tzinfo=utc), None], pa.timestamp("us", tz="UTC")),
        "clock": pa.array([dt.time(8, 15, 1), None], pa.time64("us")),
        "name": pa.array(["ünïcode", None], pa.string()),
        "blob": pa.array([b"\x00\x01", None], pa.binary()),
        "tags": pa.array([[1, None], None], pa.list_(pa.int64())),
        "point": pa.array([{"x": 1.0, "label": "a"}, None], pa.struct([("x", pa.float64()), ("label", pa.string())])),
        "attrs": pa.array([[("k", 1)], None], pa.map_(pa.string(), pa.int64())),
    })
    catalog = pyiceberg_catalog(api)
    catalog.create_namespace_if_not_exists("http")
    if catalog.table_exists("http.typed"):
        catalog.drop_table("http.typed")
    catalog.create_table("http.typed", schema=data.schema).append(data)

    body = ok(polars_run(api, {"mode": "query", "query": "SELECT * FROM t", "tables": ["t=http.typed"]}))
    row, empty = body["results"]["rows"]
    assert empty == [None] * len(data.column_names)
    got = dict(zip(body["results"]["columns"], row))
    assert got["flag"] is True and got["small"] == 1 and got["big"] == 2**40
    assert got["ratio"] == 1.5 and got["measure"] == 1e300
    assert Decimal(got["price"]) == Decimal("12.34")
    assert dt.date.fromisoformat(got["day"]) == dt.date(2024, 2, 29)
    assert dt.datetime.fromisoformat(got["at"]) == dt.datetime(2024, 1, 1, 12, 30, 0, 5)
    assert dt.datetime.fromisoformat(got["at_utc"]) == dt.datetime(2024, 1, 1, 12, 30, tzinfo=utc)
    assert dt.time.fromisoformat(got["clock"]) == dt.time(8, 15, 1)
    assert got["name"] == "ünïcode" and got["blob"] == "AAE="
    assert got["tags"] == [1, None] and got["point"] == {"x": 1.0, "label": "a"}
    assert got["attrs"] == [{"key": "k", "value": 1}]

    # The dtype names are what Polars calls the same columns (Utf8 is the
    # contract's name for Polars' String; Floe serves maps as lists of
    # key/value structs, as Polars before Map did).
    frame = pl.from_arrow(catalog.load_table("http.typed").scan().to_arrow())
    def as_floe_serves(dtype) -> str:
        if isinstance(dtype, getattr(pl, "Map", ())):
            dtype = pl.List(pl.Struct({"key": dtype.key, "value": dtype.value}))
        return str(dtype).replace("String", "Utf8")
    polars_names = [as_floe_serves(dtype) for dtype in frame.dtypes]
    assert body["results"]["column_types"] == polars_names


def test_lake_browsing(api):
    root = f"{base(api)}/api/v1/catalogs"
    catalogs = requests.get(root, timeout=30).json()
    assert catalogs["ok"] is True and catalogs["catalogs"] == []
    assert [(c["name"], c["type"]) for c in catalogs["registeredCatalogs"]] == [("floe", "sql")]
    counted = requests.get(root, params={"counts": "true"}, timeout=30).json()
    assert {"catalog": "floe", "namespace": "default", "table": "flowers"} in counted["catalogs"]
    namespaces = requests.get(f"{root}/floe/namespaces", timeout=30).json()
    assert namespaces["ok"] is True and namespaces["catalog"] == "floe" and "default" in namespaces["namespaces"]
    tables = requests.get(f"{root}/floe/namespaces/default/tables", timeout=30).json()
    assert {"catalog": "floe", "namespace": "default", "table": "flowers"} in tables["tables"]
    metadata = requests.get(f"{root}/floe/namespaces/default/tables/flowers", timeout=30).json()["table"]
    expected = pyiceberg_catalog(api).load_table("default.flowers").metadata
    assert metadata["location"].rstrip("/").endswith("default/flowers")
    assert metadata["current-snapshot-id"] == expected.current_snapshot_id
    assert [f["name"] for f in metadata["schemas"][0]["fields"]] == [f.name for f in expected.schema().fields]
    for path in ["nope/namespaces", "floe/namespaces/nope/tables", "floe/namespaces/default/tables/nope"]:
        missing = requests.get(f"{root}/{path}", timeout=30)
        assert missing.status_code == 404 and set(missing.json()) == {"error", "details"}, path


def test_http2_without_tls_and_unknown_paths(api):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-w", "\n%{http_version}", f"{base(api)}/api/v1/catalogs"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    body, version = out.rsplit("\n", 1)
    assert version == "2" and '"ok":true' in body
    missing = requests.get(f"{base(api)}/api/v1/nothing", timeout=30)
    assert missing.status_code == 404 and missing.json()["error"] == "NotFound"


def test_tokens_guard_the_api_but_not_probes_or_the_document(start_server):
    floe = start_server("--no-scripts", "--token", "secret")
    request = {"mode": "query", "query": "SELECT count(*) AS n FROM default.flowers"}
    for token in [None, "wrong"]:
        refused = polars_run(floe, request, token)
        assert refused.status_code == 401 and refused.json() == {"error": "Unauthorized"}
    assert ok(polars_run(floe, request, "secret"))["results"]["rows"] == [[150]]
    assert requests.get(f"{base(floe)}/api/v1/openapi.json", timeout=30).status_code == 200
    assert "access-control-allow-origin" not in {k.lower() for k in refused.headers}


def test_cors_only_for_configured_origins(start_server):
    floe = start_server("--no-scripts", "--token", "secret", "--cors-origin", "https://notebook.example")
    preflight = requests.options(f"{base(floe)}/api/v1/warehouse/polars", timeout=30, headers={
        "origin": "https://notebook.example", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://notebook.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    other = requests.get(f"{base(floe)}/api/v1/catalogs", headers={"origin": "https://evil.example",
                                                                 "authorization": "Bearer secret"}, timeout=30)
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


# --- the OpenAPI document against the seed ---------------------------------

def seed_document() -> dict:
    text = SEED.read_text()
    return yaml.safe_load(text.split("````yaml", 1)[1].split("\n", 1)[1].split("````", 1)[0])


def deref(node, document: dict):
    if isinstance(node, dict) and "$ref" in node:
        target = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return deref(target, document)
    return node


def shape(node, document: dict):
    """A schema reduced to what a client depends on: types (OpenAPI 3.0's
    `nullable` and 3.1's `["t", "null"]` alike), enums, required fields,
    properties and items, recursively."""
    node = deref(node, document)
    if "oneOf" in node:
        options = [shape(option, document) for option in node["oneOf"]]
        non_null = [option for option in options if option != {"type": "null"}]
        return ("oneOf", tuple(sorted(map(repr, non_null)))) if len(non_null) > 1 else non_null[0]
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else tuple(kinds)
    result = {"type": kind}
    if "enum" in node:
        result["enum"] = sorted(map(str, (v for v in node["enum"] if v is not None)))
    if kind == "object" and "properties" in node:
        result["required"] = sorted(node.get("required", []))
        result["properties"] = {name: shape(prop, document) for name, prop in node["properties"].items()}
    if kind == "array" and node.get("items"):
        result["items"] = shape(node["items"], document)
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        result["values"] = shape(node["additionalProperties"], document)
    return result


def covers(ours, theirs, where="") -> list[str]:
    """Where `ours` lacks or differs from something `theirs` has (ours may add fields)."""
    if not isinstance(theirs, dict) or not isinstance(ours, dict):
        return [] if ours == theirs else [f"{where}: {ours} != {theirs}"]
    problems = []
    for key, value in theirs.items():
        if key == "properties":
            for name, prop in value.items():
                if name not in ours.get("properties", {}):
                    problems.append(f"{where}.{name}: missing")
                else:
                    problems += covers(ours["properties"][name], prop, f"{where}.{name}")
        elif key == "required":
            problems += [f"{where}: {name} not required" for name in value if name not in ours.get("required", [])]
        elif key not in ours:
            problems.append(f"{where}: no {key}")
        else:
            problems += covers(ours[key], value, f"{where}.{key}")
    return problems


def test_openapi_matches_the_seed_field_for_field(api):
    ours = requests.get(f"{base(api)}/api/v1/openapi.json", timeout=30).json()
    seed = seed_document()
    assert ours["openapi"].startswith("3.") and ours["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    mine = ours["paths"]["/api/v1/warehouse/polars"]["post"]
    theirs = seed["paths"]["/api/v1/warehouse/polars"]["post"]
    assert mine["operationId"] == theirs["operationId"]
    body = lambda op, doc: shape(op["requestBody"]["content"]["application/json"]["schema"], doc)
    assert covers(body(mine, ours), body(theirs, seed)) == []
    for status in ["200", "400", "401", "500"]:
        answer = lambda op, doc: shape(op["responses"][status]["content"]["application/json"]["schema"], doc)
        assert covers(answer(mine, ours), answer(theirs, seed)) == [], status
    # Fields Floe adds are documented, nothing the seed has is missing.
    added = set(body(mine, ours)["properties"]) - set(body(theirs, seed)["properties"])
    assert added == {"idempotencyKey", "timeoutSeconds"}
