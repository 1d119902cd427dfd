"""Authorization by `[[grants]]` in `--config`, through ADBC and plain
pyarrow.flight: a principal granted the `sales` namespace reads and writes
there and nowhere else, whatever the path (SQL, time travel, metadata
tables, listings, floe.run, bulk ingest, scripts), nothing is written when
a write is denied, and every statement leaves an audit line."""

import json
import secrets

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from adbc_driver_manager import AdbcStatusCode, Error as AdbcError

from clients import adbc_connect, audit_records, bearer, flight_info
from floe_sql import run
from harness import FloeServer

SALES_TOKEN, ADMIN_TOKEN = secrets.token_hex(16), secrets.token_hex(16)

POLICY = """
[[tokens]]
principal = "sales_reader"
token_env = "SALES_TOKEN"

[[tokens]]
principal = "admin"
token_env = "ADMIN_TOKEN"

[[grants]]
principal = "sales_reader"
catalog = "*"
namespace = "sales"
access = ["read", "write"]

[[grants]]
principal = "admin"
namespace = "*"
access = ["read", "write"]
"""


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A server enforcing POLICY, with `sales.orders` and `hr.pay` made by the admin."""
    root = tmp_path_factory.mktemp("access")
    config = root / "floe.toml"
    config.write_text(POLICY)
    floe = FloeServer(root / "data", "--config", str(config),
                      env={"SALES_TOKEN": SALES_TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN})
    with adbc_connect(floe.uri, ADMIN_TOKEN) as admin:
        for sql in ["CREATE SCHEMA sales", "CREATE SCHEMA hr",
                    "CREATE TABLE sales.orders AS SELECT * FROM default.flowers",
                    "CREATE TABLE sales.notes (k INT)",
                    "CREATE TABLE hr.pay (name VARCHAR, amount DOUBLE)",
                    "INSERT INTO hr.pay VALUES ('ana', 100.0), ('bo', 200.0)"]:
            run(admin, sql)
    yield floe
    assert floe.alive(), floe.logs()
    floe.stop()


@pytest.fixture
def sales(lake):
    with adbc_connect(lake.uri, SALES_TOKEN) as conn:
        yield conn


@pytest.fixture
def admin(lake):
    with adbc_connect(lake.uri, ADMIN_TOKEN) as conn:
        yield conn


def denied(excinfo, right: str) -> str:
    """Checks an ADBC error is PERMISSION_DENIED for `right`; its message."""
    message = str(excinfo.value)
    assert excinfo.value.status_code == AdbcStatusCode.UNAUTHORIZED, message  # ADBC's code for PERMISSION_DENIED
    assert "PermissionDenied" in message
    assert f"sales_reader lacks `{right}`" in message
    return message


def hr_state(admin) -> tuple:
    """What a denied write must leave as it was: hr's rows and tables."""
    rows = run(admin, "SELECT name, amount FROM hr.pay ORDER BY name").to_pylist()
    return rows, listed(admin).get("hr")


def listed(conn) -> dict:
    """Schema → table names, as ADBC's get_objects lists them."""
    objects = conn.adbc_get_objects(depth="tables", catalog_filter="floe").read_all().to_pylist()
    return {schema["db_schema_name"]: sorted(table["table_name"] for table in schema["db_schema_tables"] or [])
            for catalog in objects for schema in catalog["catalog_db_schemas"] or []}


def test_a_principal_reads_and_writes_its_own_namespace(sales):
    assert run(sales, "SELECT count(*) AS n FROM sales.orders").column("n").to_pylist() == [150]
    assert run(sales, "INSERT INTO sales.notes VALUES (1), (2)").column("rows_affected").to_pylist() == [2]
    assert run(sales, "SELECT sum(k) AS s FROM sales.notes").column("s").to_pylist() == [3]


@pytest.mark.parametrize("sql", [
    "SELECT * FROM hr.pay",
    "SELECT o.species, p.amount FROM sales.orders o CROSS JOIN hr.pay p",
    "SELECT * FROM sales.orders WHERE sepal_length IN (SELECT amount FROM hr.pay)",
    "SELECT * FROM hr.pay FOR VERSION AS OF {snapshot}",
    'SELECT * FROM hr."pay$snapshots"',
    "INSERT INTO sales.notes SELECT 1 FROM hr.pay",
])
def test_reading_another_namespace_is_denied(sales, admin, sql):
    snapshot = run(admin, 'SELECT snapshot_id FROM hr."pay$snapshots"').column("snapshot_id")[0].as_py()
    notes = run(admin, "SELECT count(*) AS n FROM sales.notes").to_pylist()
    with pytest.raises(AdbcError) as excinfo:
        run(sales, sql.format(snapshot=snapshot))
    assert "table `floe.hr.pay`" in denied(excinfo, "read")
    assert run(admin, "SELECT count(*) AS n FROM sales.notes").to_pylist() == notes


@pytest.mark.parametrize("sql", [
    "INSERT INTO hr.pay VALUES ('eve', 1.0)",
    "INSERT OVERWRITE hr.pay SELECT species, sepal_length FROM sales.orders",
    "TRUNCATE TABLE hr.pay",
    "DROP TABLE hr.pay",
    "CREATE TABLE hr.stolen (x INT)",
    "CREATE TABLE hr.stolen AS SELECT * FROM sales.orders",
    "CREATE SCHEMA hr_copy",
    "DELETE FROM hr.pay WHERE amount > 0",
    "UPDATE hr.pay SET amount = 0",
    "MERGE INTO hr.pay AS t USING sales.orders AS s ON t.name = s.species WHEN MATCHED THEN DELETE",
    "INSERT OVERWRITE hr.pay PARTITION (name = 'ana') SELECT 'ana', 0.0",
    "CALL system.expire_snapshots('hr.pay', retain_last => 1)",
])
def test_writing_another_namespace_is_denied_and_writes_nothing(sales, admin, sql):
    before = hr_state(admin)
    with pytest.raises(AdbcError) as excinfo:
        run(sales, sql)
    denied(excinfo, "write")
    assert hr_state(admin) == before
    assert "hr_copy" not in listed(admin)


def test_listings_show_only_what_the_principal_may_read(sales, admin):
    mine = listed(sales)
    assert "hr" not in mine and "pay" not in [t for tables in mine.values() for t in tables]
    assert "orders" in mine["sales"]
    assert "pay" in listed(admin)["hr"]


def test_bulk_ingest_into_another_namespace_is_denied(sales, admin):
    before = hr_state(admin)
    rows = pa.table({"name": ["eve"], "amount": [1.0]})
    for table, mode in [("pay", "append"), ("ingested", "create")]:
        with sales.cursor() as cursor, pytest.raises(AdbcError) as excinfo:
            cursor.adbc_ingest(table, rows, mode=mode, db_schema_name="hr")
        denied(excinfo, "write")
    assert hr_state(admin) == before


def floe_run(lake, request: dict) -> dict:
    """floe.run as sales_reader; the JSON failure of a refused request."""
    with flight.connect(lake.uri) as client:
        with pytest.raises(flight.FlightUnauthorizedError) as excinfo:
            list(client.do_action(flight.Action("floe.run", json.dumps(request).encode()), bearer(SALES_TOKEN)))
    message = str(excinfo.value)
    body = json.loads(message[message.index("{"):message.rindex("}") + 1])
    assert body["error"] == "PermissionDenied"
    return body


def test_floe_run_cannot_read_or_write_another_namespace(lake, admin):
    before = hr_state(admin)
    assert "lacks `read`" in floe_run(lake, {"mode": "query", "query": "SELECT * FROM hr.pay"})["details"]
    assert "lacks `read`" in floe_run(lake, {"mode": "query", "query": "SELECT * FROM p", "tables": ["p=hr.pay"]})["details"]
    saved = floe_run(lake, {"mode": "query", "query": "SELECT * FROM sales.orders", "destination": "hr.x"})
    assert "lacks `write`" in saved["details"]
    assert hr_state(admin) == before


def test_http_api_applies_the_same_grants(lake):
    """The HTTP API authenticates with the same tokens and answers what the
    grants allow: listings hide `hr`, reading it is 403, `sales` works."""
    import requests

    root, headers = f"http://{lake.address}/api/v1", {"authorization": f"Bearer {SALES_TOKEN}"}
    namespaces = requests.get(f"{root}/catalogs/floe/namespaces", headers=headers, timeout=30).json()["namespaces"]
    assert "sales" in namespaces and "hr" not in namespaces
    assert requests.get(f"{root}/catalogs/floe/namespaces/hr/tables", headers=headers, timeout=30).status_code == 404
    assert requests.get(f"{root}/catalogs/floe/namespaces/hr/tables/pay", headers=headers, timeout=30).status_code == 403
    denied = requests.post(f"{root}/warehouse/polars", headers=headers, timeout=30,
                           json={"mode": "query", "query": "SELECT * FROM p", "tables": ["p=hr.pay"]})
    assert denied.status_code == 403 and "lacks `read`" in denied.json()["details"]
    denied = requests.post(f"{root}/warehouse/query", headers=headers, timeout=30, json={"query": "INSERT INTO hr.pay VALUES ('eve', 1.0)"})
    assert denied.status_code == 403 and denied.json()["success"] is False
    allowed = requests.post(f"{root}/warehouse/query", headers=headers, timeout=30,
                            json={"query": "SELECT count(*) AS n FROM sales.orders"})
    assert allowed.status_code == 200 and allowed.json()["results"]["rows"] == [[150]]
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    assert "hr" in requests.get(f"{root}/catalogs/floe/namespaces", headers=admin, timeout=30).json()["namespaces"]


def test_a_script_cannot_scan_another_namespace(lake):
    request = {"mode": "script", "script": "result = scan('hr.pay')"}
    with flight.connect(lake.uri) as client:
        with pytest.raises((pa.ArrowInvalid, flight.FlightUnauthorizedError)) as excinfo:
            list(client.do_action(flight.Action("floe.run", json.dumps(request).encode()), bearer(SALES_TOKEN)))
    assert "lacks `read`" in str(excinfo.value)


def new_audit_records(lake, action) -> list[dict]:
    """The audit lines the server logs while `action` runs."""
    seen = len(audit_records(lake.logs()))
    action()
    return audit_records(lake.logs())[seen:]


def outcomes(records: list[dict]) -> list[tuple]:
    return [(r.get("principal"), r.get("statement"), r.get("outcome")) for r in records]


def test_statements_are_audited_with_principal_and_outcome(lake, admin, sales):
    def ingest():
        with sales.cursor() as cursor, pytest.raises(AdbcError):
            cursor.adbc_ingest("pay", pa.table({"name": ["eve"], "amount": [1.0]}), mode="append", db_schema_name="hr")

    records = new_audit_records(lake, lambda: run(admin, "SELECT count(*) AS n FROM hr.pay"))
    assert outcomes(records) == [("admin", "SELECT", "ok")], records
    assert "hr.pay" in records[0]["tables"] and records[0]["client"].startswith("127.0.0.1:")
    records = new_audit_records(lake, ingest)
    assert outcomes(records) == [("sales_reader", "INGEST", "PermissionDenied")], records
    assert "pay" in records[0]["tables"]


def denied_read_over_flight(lake):
    with flight.connect(lake.uri) as client, pytest.raises(flight.FlightUnauthorizedError):
        flight_info(client, "SELECT * FROM hr.pay", bearer(SALES_TOKEN))


def denied_over_adbc(sql: str):
    def attempt(lake):
        with adbc_connect(lake.uri, SALES_TOKEN) as conn, pytest.raises(AdbcError):
            run(conn, sql)
    return attempt


@pytest.mark.parametrize("attempt, statement", [
    (denied_read_over_flight, "SELECT"),
    # ADBC prepares a statement (CreatePreparedStatement) before running it.
    (denied_over_adbc("SELECT * FROM hr.pay"), "SELECT"),
    (denied_over_adbc("INSERT INTO hr.pay VALUES ('eve', 1.0)"), "INSERT"),
], ids=["flight read", "adbc read", "adbc write"])
def test_a_denied_statement_is_audited(lake, attempt, statement):
    records = new_audit_records(lake, lambda: attempt(lake))
    assert outcomes(records) == [("sales_reader", statement, "PermissionDenied")], records
