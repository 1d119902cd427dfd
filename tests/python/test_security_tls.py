"""TLS and mutual TLS (`--tls-cert`, `--tls-key`, `--tls-client-ca`) through
ADBC and plain pyarrow.flight, with certificates the test makes with
openssl: clients that trust the CA get answers; under mTLS only clients
with a certificate the CA signed get in, and its common name is the
principal the audit log names."""

import base64
import json
import secrets

import pyarrow.flight as flight
import pytest
from adbc_driver_manager import Error as AdbcError

from clients import COUNT, adbc_connect, audit_records, flowers_count
from floe_sql import run
from flight_sql_wire import session_options_request, statement_query
from harness import Cookies, FloeServer, wait_for
from tls_certs import Pair, make_certificates

ROOTS = "adbc.flight.sql.client_option.tls_root_certs"
CHAIN = "adbc.flight.sql.client_option.mtls_cert_chain"
KEY = "adbc.flight.sql.client_option.mtls_private_key"
# A refused handshake must fail the call, not hang it.
TIMEOUTS = {f"adbc.flight.sql.rpc.timeout_seconds.{call}": "30" for call in ("query", "fetch", "update")}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


def tls_server(start_server, certs, *extra: str):
    floe = start_server("--no-scripts", "--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key), *extra)
    return floe, f"grpc+tls://{floe.address}"


def adbc_count(uri: str, certs, identity: Pair | None = None) -> int:
    options = {ROOTS: certs.ca.cert_pem.decode(), **TIMEOUTS}
    if identity:
        options.update({CHAIN: identity.cert_pem.decode(), KEY: identity.key_pem.decode()})
    with adbc_connect(uri, **options) as conn:
        return run(conn, COUNT).column("n").to_pylist()[0]


def pyarrow_count(uri: str, certs, identity: Pair | None = None) -> int:
    keys = {"cert_chain": identity.cert_pem, "private_key": identity.key_pem} if identity else {}
    with flight.FlightClient(uri, tls_root_certs=certs.ca.cert_pem, **keys) as client:
        return flowers_count(client)


def test_tls_serves_clients_that_trust_its_ca(start_server, certs):
    _, uri = tls_server(start_server, certs)
    assert adbc_count(uri, certs) == 150
    assert pyarrow_count(uri, certs) == 150
    with flight.FlightClient(uri) as untrusting:  # the system's roots do not know the test CA
        with pytest.raises(flight.FlightUnavailableError):
            flowers_count(untrusting)


def test_mutual_tls_admits_certificates_the_ca_signed(start_server, certs):
    floe, uri = tls_server(start_server, certs, "--tls-client-ca", str(certs.ca.cert))
    assert adbc_count(uri, certs, certs.alice) == 150
    assert pyarrow_count(uri, certs, certs.alice) == 150
    audited = [record for record in audit_records(floe.logs()) if record.get("statement") == "SELECT"]
    assert audited and all(record["principal"] == "alice" for record in audited), audited


@pytest.mark.parametrize("identity", [None, "rogue"], ids=["no certificate", "self-signed certificate"])
def test_mutual_tls_refuses_other_clients(start_server, certs, identity):
    floe, uri = tls_server(start_server, certs, "--tls-client-ca", str(certs.ca.cert))
    pair = getattr(certs, identity) if identity else None
    with pytest.raises(AdbcError) as excinfo:
        adbc_count(uri, certs, pair)
    assert str(excinfo.value).strip()
    with pytest.raises(flight.FlightError) as excinfo:
        pyarrow_count(uri, certs, pair)
    assert str(excinfo.value).strip()
    assert floe.alive()
    assert pyarrow_count(uri, certs, certs.alice) == 150


def test_a_tls_cluster_talks_tls_between_its_nodes(tmp_path, certs):
    """Workers join a coordinator that requires client certificates (their
    heartbeats, partitions and results all go over mTLS) and a distributed
    query spreads over them."""
    tls = ("--no-scripts", "--tls-cert", str(certs.server.cert), "--tls-key", str(certs.server.key),
           "--tls-client-ca", str(certs.ca.cert))
    env = {"FLOE_TICKET_KEY": secrets.token_hex(16)}
    coordinator = FloeServer(tmp_path / "coordinator", "--cluster", *tls, env=env)
    data = coordinator.data_dir
    workers = [FloeServer(tmp_path / f"worker{i}", "--coordinator", coordinator.address, "--heartbeat-seconds", "1",
                          "--catalog-uri", str(data / "catalog.db"), "--warehouse", str(data / "warehouse"), *tls,
                          env=env, command="worker") for i in range(2)]
    try:
        uri = f"grpc+tls://{coordinator.address}"
        with flight.FlightClient(uri, tls_root_certs=certs.ca.cert_pem, cert_chain=certs.alice.cert_pem,
                                 private_key=certs.alice.key_pem) as client:
            def live() -> list:
                result = list(client.do_action(flight.Action("floe.cluster.workers", b"")))
                return json.loads(result[0].body.to_pybytes())["workers"]

            assert wait_for(lambda: len(live()) == 2, 30), coordinator.logs()
            for statement in ["CREATE SCHEMA tls", "CREATE TABLE tls.t AS SELECT * FROM default.flowers",
                              "INSERT INTO tls.t SELECT * FROM default.flowers",
                              "INSERT INTO tls.t SELECT * FROM default.flowers"]:
                run_flight_action_sql(client, statement)
            body = json.dumps({"mode": "query", "query": "SELECT count(*) AS n FROM tls.t", "distributed": True}).encode()
            answer = json.loads(list(client.do_action(flight.Action("floe.run", body)))[0].body.to_pybytes())
            assert answer["compute"]["placement"] == "gathered", answer
            rows = client.do_get(flight.Ticket(base64.b64decode(answer["ticket"]))).read_all()
            assert rows.column("n").to_pylist() == [450]
        # Partitioned rows: endpoints on the workers name TLS, and a client fetches them there.
        identity = {"tls_root_certs": certs.ca.cert_pem, "cert_chain": certs.alice.cert_pem, "private_key": certs.alice.key_pem}
        with flight.FlightClient(uri, middleware=[Cookies()], **identity) as client:
            settings = session_options_request({"distributed": "true"})
            list(client.do_action(flight.Action("SetSessionOptions", settings)))
            info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query("SELECT * FROM tls.t")))
            locations = [endpoint.locations[0].uri.decode() for endpoint in info.endpoints]
            assert len(locations) == 2 and all(location.startswith("grpc+tls://") for location in locations), locations
            fetched = 0
            for endpoint in info.endpoints:
                with flight.FlightClient(endpoint.locations[0], **identity) as worker:
                    fetched += worker.do_get(endpoint.ticket).read_all().num_rows
            assert fetched == 450
    finally:
        for node in [*workers, coordinator]:
            node.stop()


def run_flight_action_sql(client: flight.FlightClient, statement: str):
    """A statement that writes, through plain Flight SQL (it runs at GetFlightInfo)."""
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(statement)))
    client.do_get(info.endpoints[0].ticket).read_all()
