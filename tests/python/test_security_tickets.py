"""Sealed tickets and handles through plain pyarrow.flight: what a client
holds cannot be altered, forged, taken to a server with another key, used
after it expires or used by another principal, and nothing inside a ticket
that fails verification is acted on (a forged shuffle source is never
dialled)."""

import secrets
import select
import socket
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

import floe_wire as wire
from clients import FLOWERS, bearer, fetch, flight_info, flowers_count
from flight_sql_wire import (
    cancel_flight_info_request,
    create_prepared_statement,
    prepared_statement_query,
    ticket_statement_query,
    unpacked_field,
)
from harness import wait_for

# A forged ticket may fail to parse (INVALID_ARGUMENT) or to verify (UNAUTHENTICATED).
REFUSED = (pa.ArrowInvalid, flight.FlightUnauthenticatedError)


@pytest.fixture
def client(server):
    with flight.connect(server.uri) as c:
        yield c


@pytest.fixture
def listener():
    """A port the test listens on, named as a shuffle source in forged tickets."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock


def dialled(listener: socket.socket, seconds: float = 0.5) -> bool:
    """Whether anyone has connected to the listener (waiting `seconds` at most)."""
    readable, _, _ = select.select([listener], [], [], seconds)
    return bool(readable)


def do_get(client, ticket: bytes, options=None) -> pa.Table:
    return client.do_get(flight.Ticket(ticket), options).read_all()


def hour_from_now() -> int:
    return int(time.time()) + 3600


def test_an_altered_ticket_is_refused(client, server):
    info = flight_info(client)
    handle = unpacked_field(info.endpoints[0].ticket.ticket, 1)
    in_mac, in_body = bytearray(handle), bytearray(handle)
    in_mac[-1] ^= 0x01
    in_body[len(handle) // 3] ^= 0x01
    with pytest.raises(flight.FlightUnauthenticatedError, match="invalid signature"):
        do_get(client, ticket_statement_query(bytes(in_mac)))
    with pytest.raises(REFUSED):
        do_get(client, ticket_statement_query(bytes(in_body)))
    assert server.alive()
    assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == 150
    assert flowers_count(client) == 150


def forged_query(port: int, query_id: str = "forged") -> bytes:
    """A QueryTicket that reads the demo table from a shuffle "worker" at `port`."""
    shuffle = wire.shuffle_input("forged-shuffle", 0, [f"127.0.0.1:{port}"])
    pin = wire.table_pin("floe", ["default"], "flowers", "default.flowers", shuffle)
    return wire.query_ticket(FLOWERS, [pin], query_id)


def test_an_unsealed_query_ticket_is_refused_without_dialling_its_shuffle_source(client, server, listener):
    forged = forged_query(listener.getsockname()[1])
    with pytest.raises(REFUSED):
        do_get(client, ticket_statement_query(forged))
    assert not dialled(listener)
    assert server.alive()


def test_a_made_up_mac_is_refused_without_dialling_its_shuffle_source(client, server, listener):
    body = wire.sealed_body(wire.QUERY, forged_query(listener.getsockname()[1]), hour_from_now())
    with pytest.raises(flight.FlightUnauthenticatedError, match="invalid signature"):
        do_get(client, ticket_statement_query(wire.sealed(body, secrets.token_bytes(32))))
    assert not dialled(listener)
    assert flowers_count(client) == 150


@pytest.mark.parametrize("mac, refusal", [
    (b"", pa.ArrowInvalid),  # not one the server issued
    (bytes(32), flight.FlightUnauthenticatedError),
], ids=["unsigned", "made-up MAC"])
def test_a_forged_script_ticket_is_refused(client, server, mac, refusal):
    script = wire.script_ticket("result = pl.DataFrame({'x': [1]})", vcpus=64, timeout_seconds=10 ** 9)
    envelope = wire.sealed(wire.sealed_body(wire.SCRIPT, script, hour_from_now()), mac)
    with pytest.raises(refusal):
        do_get(client, wire.sealed_ticket(envelope))
    assert server.alive()


def test_only_servers_sharing_the_ticket_key_accept_a_ticket(start_server, tmp_path):
    key = secrets.token_hex(16)
    key_file = tmp_path / "ticket.key"
    key_file.write_text(key + "\n")
    issuer = start_server("--no-scripts", "--ticket-key-file", str(key_file))
    lake = ("--catalog-uri", str(issuer.data_dir / "catalog.db"), "--warehouse", str(issuer.data_dir / "warehouse"),
            "--no-demo", "--no-scripts")
    stranger = start_server(*lake)  # a random key of its own
    twin = start_server(*lake, "--ticket-key", key)
    with flight.connect(issuer.uri) as client:
        info = flight_info(client)
    with flight.connect(stranger.uri) as client:
        with pytest.raises(flight.FlightUnauthenticatedError, match="signature") as excinfo:
            fetch(client, info)
        assert "ticket key" in str(excinfo.value)
    with flight.connect(twin.uri) as client:
        assert fetch(client, info).num_rows == 150


def test_an_expired_ticket_is_refused(start_server):
    floe = start_server("--no-scripts", "--ticket-lifetime-seconds", "1")
    with flight.connect(floe.uri) as client:
        info = flight_info(client)
        issued = time.time()
        assert fetch(client, info).num_rows == 150
        # Expiry is in whole seconds: the ticket is stale once the clock reads
        # two seconds past the second it was sealed in.
        assert wait_for(lambda: time.time() >= int(issued) + 2.05, 10)
        with pytest.raises(flight.FlightUnauthenticatedError, match="expired"):
            fetch(client, info)
        assert flowers_count(client) == 150


@pytest.fixture
def two_principals(start_server):
    """A server with two static tokens: principals token1 (alpha) and token2 (beta)."""
    floe = start_server("--no-scripts", "--token", "alpha,beta")
    with flight.connect(floe.uri) as client:
        yield client


ALPHA, BETA = bearer("alpha"), bearer("beta")


def test_a_ticket_works_only_for_its_principal(two_principals):
    client = two_principals
    info = flight_info(client, FLOWERS, ALPHA)
    with pytest.raises(flight.FlightUnauthorizedError, match="issued to another principal"):
        fetch(client, info, BETA)
    assert fetch(client, info, ALPHA).num_rows == 150


def test_a_prepared_statement_handle_works_only_for_its_principal(two_principals):
    client = two_principals
    action = flight.Action("CreatePreparedStatement", create_prepared_statement("SELECT count(*) AS n FROM default.flowers"))
    result = list(client.do_action(action, ALPHA))[0].body.to_pybytes()
    command = flight.FlightDescriptor.for_command(prepared_statement_query(unpacked_field(result, 1)))
    with pytest.raises(flight.FlightUnauthorizedError, match="issued to another principal"):
        client.get_flight_info(command, BETA)
    info = client.get_flight_info(command, ALPHA)
    assert fetch(client, info, ALPHA).column("n").to_pylist() == [150]


def test_cancel_flight_info_refuses_forged_and_foreign_flight_infos(two_principals):
    client = two_principals
    info = flight_info(client, FLOWERS, ALPHA)
    running_id = wire.query_id(unpacked_field(info.endpoints[0].ticket.ticket, 1))
    # Forgeries naming the real query's id: unsealed, and sealed with a made-up MAC.
    unsealed = wire.query_ticket(FLOWERS, [], running_id)
    made_up = wire.sealed(wire.sealed_body(wire.QUERY, unsealed, hour_from_now(), "token1"), secrets.token_bytes(32))
    forgeries = [flight.FlightInfo(info.schema, info.descriptor, [flight.FlightEndpoint(ticket_statement_query(handle), [])],
                                   -1, -1) for handle in (unsealed, made_up)]
    for who, target in [(BETA, info), (ALPHA, forgeries[0]), (ALPHA, forgeries[1])]:
        action = flight.Action("CancelFlightInfo", cancel_flight_info_request(target.serialize()))
        with pytest.raises(pa.ArrowInvalid, match="no query ticket"):
            list(client.do_action(action, who))
    # Nothing was cancelled: a query cancelled before it starts would stay cancelled.
    assert fetch(client, info, ALPHA).num_rows == 150
