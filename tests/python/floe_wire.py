"""Floe's own wire messages (proto/floe.proto), hand-encoded like
flight_sql_wire.py: what a forger would send (tickets that are not sealed,
or sealed with a made-up MAC), and a reader for the envelope the server
issues (its body is signed, not encrypted)."""

from flight_sql_wire import _field, _varint, fields

SEALED_TYPE_URL = "type.googleapis.com/floe.v1.Sealed"

# TicketKind
QUERY, PREPARED, SCRIPT = 1, 2, 3


def _number(number: int, value: int) -> bytes:
    """A varint field (wire type 0)."""
    return _varint(number << 3) + _varint(value)


def _strings(number: int, values) -> bytes:
    return b"".join(_field(number, value.encode()) for value in values)


def shuffle_input(shuffle_id: str, bucket: int, sources: list[str]) -> bytes:
    return _field(1, shuffle_id.encode()) + _number(2, bucket) + _strings(3, sources)


def table_pin(catalog: str, namespace: list[str], name: str, relation: str, shuffle: bytes | None = None) -> bytes:
    pin = _field(1, catalog.encode()) + _strings(2, namespace) + _field(3, name.encode()) + _field(5, relation.encode())
    return pin + (_field(8, shuffle) if shuffle is not None else b"")


def query_ticket(sql: str, tables: list[bytes] = (), query_id: str = "") -> bytes:
    """QueryTicket: what a TicketStatementQuery's handle held before tickets were sealed."""
    ticket = _field(1, sql.encode()) + b"".join(_field(4, pin) for pin in tables)
    return ticket + (_field(5, query_id.encode()) if query_id else b"")


def script_ticket(script: str, vcpus: int, timeout_seconds: int) -> bytes:
    return _field(1, script.encode()) + _number(4, vcpus) + _number(5, timeout_seconds)


def sealed_body(kind: int, payload: bytes, expires_at: int, principal: str = "") -> bytes:
    body = _number(1, kind) + _field(2, payload) + _number(3, expires_at)
    return body + (_field(4, principal.encode()) if principal else b"")


def sealed(body: bytes, mac: bytes) -> bytes:
    return _field(1, body) + (_field(2, mac) if mac else b"")


def sealed_ticket(envelope: bytes) -> bytes:
    """A Floe ticket of a kind other than a query: Any{floe.v1.Sealed}."""
    return _field(1, SEALED_TYPE_URL.encode()) + _field(2, envelope)


def query_id(handle: bytes) -> str:
    """The query id inside a sealed query-ticket handle the server issued."""
    body = fields(handle)[1][0]
    payload = fields(body)[2][0]
    return fields(payload)[5][0].decode()


DISTRIBUTED = 4


def ticket_kind(ticket: bytes) -> int | None:
    """The TicketKind of a Floe ticket (None for a query ticket, which travels
    as TicketStatementQuery): the envelope is signed, not encrypted."""
    outer = fields(ticket)
    if outer.get(1, [b""])[0].decode() != SEALED_TYPE_URL:
        return None
    body = fields(fields(outer[2][0])[1][0])
    return body.get(1, [0])[0]
