"""Just enough Flight SQL protobuf to drive Floe from plain pyarrow.flight.

Hand-encoded so the tests depend on the protocol, not on Floe's own code.
"""

TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def any_message(type_name: str, body: bytes) -> bytes:
    return _field(1, (TYPE_PREFIX + type_name).encode()) + _field(2, body)


def statement_query(sql: str) -> bytes:
    return any_message("CommandStatementQuery", _field(1, sql.encode()))


def get_catalogs() -> bytes:
    return any_message("CommandGetCatalogs", b"")


def session_options_request(options: dict) -> bytes:
    """SetSessionOptionsRequest with string values (map<string, SessionOptionValue>)."""
    body = b""
    for key, value in options.items():
        option_value = _field(1, value.encode())  # SessionOptionValue.string_value
        body += _field(1, _field(1, key.encode()) + _field(2, option_value))
    return body


def cancel_flight_info_request(serialized_flight_info: bytes) -> bytes:
    return _field(1, serialized_flight_info)


CANCEL_STATUS_CANCELLED = b"\x08\x01"  # CancelFlightInfoResult{status: CANCELLED}
