"""GetSqlInfo, read with plain pyarrow.flight: every id of the Flight SQL
spec answers (the JDBC driver 18.x throws NullPointerException for a missing
one), and every conversion SQL_SUPPORTS_CONVERT claims really casts."""

import pyarrow.flight as flight
import pytest

from floe_sql import run
from flight_sql_wire import get_sql_info

# Every SqlInfo id of the Flight SQL protocol (FlightSql.proto, arrow 58).
SPEC_IDS = {*range(0, 12), 100, 101, *range(500, 577)}
SUPPORTS_CONVERT = 517
# One value of each SqlSupportsConvert type, a SQL type to cast to, and text each parses from.
SAMPLE = {0: "CAST(7 AS BIGINT)", 2: "TRUE", 4: "DATE '2024-02-29'", 5: "CAST(1.5 AS DECIMAL(10,2))",
          6: "CAST(1.5 AS FLOAT)", 7: "CAST(7 AS INTEGER)", 12: "CAST(1.5 AS NUMERIC(10,2))", 13: "CAST(1.5 AS REAL)",
          14: "CAST(7 AS SMALLINT)", 16: "CAST(DATE '2024-02-29' AS TIMESTAMP)", 17: "CAST(7 AS TINYINT)",
          18: "CAST('ab' AS VARBINARY)", 19: "'x'"}
TEXT = {0: "'7'", 2: "'true'", 4: "'2024-02-29'", 5: "'1.5'", 6: "'1.5'", 7: "'7'", 12: "'1.5'", 13: "'1.5'",
        14: "'7'", 16: "'2024-02-29T12:00:00'", 17: "'7'", 18: "'ab'", 19: "'x'"}
SQL_TYPE = {0: "BIGINT", 2: "BOOLEAN", 4: "DATE", 5: "DECIMAL(10,2)", 6: "FLOAT", 7: "INTEGER", 12: "NUMERIC(10,2)",
            13: "REAL", 14: "SMALLINT", 16: "TIMESTAMP", 17: "TINYINT", 18: "VARBINARY", 19: "VARCHAR"}


@pytest.fixture(scope="module")
def info(server) -> dict:
    with flight.connect(server.uri) as client:
        descriptor = flight.FlightDescriptor.for_command(get_sql_info())
        flight_info = client.get_flight_info(descriptor)
        table = client.do_get(flight_info.endpoints[0].ticket).read_all()
    return dict(zip(table.column("info_name").to_pylist(), table.column("value").to_pylist()))


def test_every_spec_id_answers(info):
    assert SPEC_IDS - set(info) == set()
    assert info[0] == "Floe"
    assert info[504] == '"'


def test_every_claimed_conversion_casts(info, conn):
    claimed = [(source, target) for source, targets in info[SUPPORTS_CONVERT] for target in targets]
    assert len(claimed) > 50
    for source, target in claimed:
        value = TEXT[target] if source == 19 else SAMPLE[source]
        run(conn, f"SELECT CAST({value} AS {SQL_TYPE[target]}) AS v")
