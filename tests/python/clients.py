"""How the security tests call Floe: plain pyarrow.flight (optionally with a
bearer token), ADBC with a token or TLS options, and the audit lines the
server logs."""

import re

import pyarrow as pa
import pyarrow.flight as flight

from flight_sql_wire import statement_query

FLOWERS = "SELECT * FROM default.flowers"
COUNT = "SELECT count(*) AS n FROM default.flowers"

# 150³ = 3,375,000 rows: long enough to be caught mid-stream.
CROSS_JOIN = ("SELECT a.sepal_length * b.sepal_width * c.petal_length AS v "
              "FROM default.flowers a, default.flowers b, default.flowers c")


def bearer(token: str) -> flight.FlightCallOptions:
    return flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])


def flight_info(client: flight.FlightClient, sql: str = FLOWERS, options=None) -> flight.FlightInfo:
    return client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)), options)


def fetch(client: flight.FlightClient, info: flight.FlightInfo, options=None) -> pa.Table:
    return pa.concat_tables([client.do_get(endpoint.ticket, options).read_all() for endpoint in info.endpoints])


def flowers_count(client: flight.FlightClient, options=None) -> int:
    """The server still answers: count(*) of the demo table (150)."""
    return fetch(client, flight_info(client, COUNT, options), options).column("n")[0].as_py()


def drain(reader) -> int:
    """Reads a DoGet stream to its end; the rows it held."""
    rows = 0
    while True:
        try:
            rows += reader.read_chunk().data.num_rows
        except StopIteration:
            return rows


def adbc_connect(uri: str, token: str | None = None, **db_kwargs: str):
    import adbc_driver_flightsql.dbapi as flightsql

    if token:
        db_kwargs["adbc.flight.sql.authorization_header"] = f"Bearer {token}"
    return flightsql.connect(uri, autocommit=True, db_kwargs=db_kwargs)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def audit_records(logs: str) -> list[dict]:
    """The `floe::audit` lines of a server log as {field: value} (tracing's
    key=value format, quotes and colours removed)."""
    records = []
    for line in _ANSI.sub("", logs).splitlines():
        if "floe::audit" in line:
            tail = line.split("floe::audit", 1)[1]
            records.append({key: value.strip('"') for key, value in _FIELD.findall(tail)})
    return records
