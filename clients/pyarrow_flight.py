"""Query Floe with plain pyarrow.flight (pip install pyarrow).

pyarrow has no Flight SQL bindings, but a query is just a FlightDescriptor whose
command is a protobuf `Any` wrapping `CommandStatementQuery`; encoding it takes
a few lines.
"""

import pyarrow.flight as flight


def _field(number: int, payload: bytes) -> bytes:
    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    return varint(number << 3 | 2) + varint(len(payload)) + payload


def statement_query(sql: str) -> bytes:
    type_url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    return _field(1, type_url) + _field(2, _field(1, sql.encode()))


client = flight.FlightClient("grpc://127.0.0.1:50051")
info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(
    "SELECT species, count(*) AS n FROM default.flowers GROUP BY species"
)))
for endpoint in info.endpoints:
    print(client.do_get(endpoint.ticket).read_all())
