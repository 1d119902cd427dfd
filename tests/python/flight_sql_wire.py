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


def get_sql_info() -> bytes:
    """CommandGetSqlInfo with no ids: every id the server knows."""
    return any_message("CommandGetSqlInfo", b"")


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


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def fields(message: bytes) -> dict:
    """A protobuf message's fields: number → values (bytes for length-delimited
    fields, int for varints), for reading what a server issued."""
    found, at = {}, 0
    sizes = {1: 8, 5: 4}  # fixed64, fixed32
    while at < len(message):
        key, at = _read_varint(message, at)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, at = _read_varint(message, at)
        elif wire_type == 2:
            length, at = _read_varint(message, at)
            value, at = message[at:at + length], at + length
        elif wire_type in sizes:
            value, at = message[at:at + sizes[wire_type]], at + sizes[wire_type]
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        found.setdefault(number, []).append(value)
    return found


def unpacked_field(any_bytes: bytes, number: int) -> bytes:
    """Field `number` of the message packed in a protobuf Any (a ticket's
    statement_handle, an action result's prepared_statement_handle)."""
    return fields(fields(any_bytes)[2][0])[number][0]


def ticket_statement_query(statement_handle: bytes) -> bytes:
    return any_message("TicketStatementQuery", _field(1, statement_handle))


def get_tables(table_name_filter_pattern: str) -> bytes:
    return any_message("CommandGetTables", _field(3, table_name_filter_pattern.encode()))


def create_prepared_statement(sql: str) -> bytes:
    """The body of the CreatePreparedStatement action."""
    return any_message("ActionCreatePreparedStatementRequest", _field(1, sql.encode()))


def prepared_statement_query(handle: bytes) -> bytes:
    return any_message("CommandPreparedStatementQuery", _field(1, handle))
