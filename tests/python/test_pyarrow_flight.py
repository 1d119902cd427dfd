"""Floe through plain pyarrow.flight: the raw Flight protocol."""

import itertools

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_sql_wire import (
    CANCEL_STATUS_CANCELLED,
    cancel_flight_info_request,
    get_catalogs,
    session_options_request,
    statement_query,
)


@pytest.fixture
def client(server):
    with flight.FlightClient(server.uri) as c:
        yield c


def run(client, sql: str, options=None) -> pa.Table:
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)), options)
    tables = [client.do_get(endpoint.ticket, options).read_all() for endpoint in info.endpoints]
    return pa.concat_tables(tables)


def test_query_over_plain_flight(client):
    table = run(client, "SELECT species, count(*) AS n FROM default.flowers GROUP BY species ORDER BY species")
    assert table.to_pydict() == {"species": ["setosa", "versicolor", "virginica"], "n": [50, 50, 50]}


def test_flight_info_schema_matches_the_stream(client):
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query("SELECT * FROM default.flowers")))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert info.schema == table.schema
    assert table.num_rows == 150


def test_retried_ticket_returns_the_same_answer(client):
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query("SELECT * FROM default.flowers")))
    first = client.do_get(info.endpoints[0].ticket).read_all()
    second = client.do_get(info.endpoints[0].ticket).read_all()
    assert first.equals(second)


def test_a_result_of_many_messages_arrives_whole(client):
    # Several Flight messages of ~2 MiB, each body sent as the IPC encoder made it.
    flowers = run(client, "SELECT sepal_length, sepal_width FROM default.flowers")
    table = run(
        client,
        "SELECT a.sepal_length * b.sepal_width AS x FROM default.flowers a CROSS JOIN default.flowers b "
        "CROSS JOIN (SELECT 1 AS one FROM default.flowers LIMIT 20) c",
    )
    lengths = flowers.column("sepal_length").to_pylist()
    widths = flowers.column("sepal_width").to_pylist()
    expected = sorted(length * width for length in lengths for width in widths for _ in range(20))
    assert sorted(table.column("x").to_pylist()) == expected
    assert table.nbytes > 3 * 2**20


def test_nulls_booleans_and_strings_survive_messages_cut_mid_byte(client):
    # Rows long enough that a batch splits into messages whose first row is not
    # on a byte of the validity and boolean bitmaps, and whose string offsets
    # do not start at 0.
    flowers = run(client, "SELECT sepal_length, sepal_width, species FROM default.flowers").to_pylist()
    suffix = " is a flower whose name is followed by enough words to make every row long" * 4
    table = run(
        client,
        "SELECT a.sepal_length > b.sepal_width * 2 AS longer, "
        "CASE WHEN a.sepal_width > 3.0 THEN a.species || '" + suffix + "' END AS described, "
        "CASE WHEN b.sepal_length < 5.0 THEN NULL ELSE CAST(a.sepal_length * 10 AS BIGINT) END AS tenths "
        "FROM default.flowers a CROSS JOIN default.flowers b CROSS JOIN (SELECT 1 AS one FROM default.flowers LIMIT 3) c",
    )
    expected = [
        (a["sepal_length"] > b["sepal_width"] * 2,
         a["species"] + suffix if a["sepal_width"] > 3.0 else None,
         None if b["sepal_length"] < 5.0 else int(a["sepal_length"] * 10))
        for a in flowers for b in flowers for _ in range(3)
    ]
    key = lambda row: (row[0], row[1] or "", -1 if row[2] is None else row[2], row[1] is None)
    got = list(zip(*(table.column(name).to_pylist() for name in ("longer", "described", "tenths"))))
    assert sorted(got, key=key) == sorted(expected, key=key)
    assert table.nbytes > 4 * 2**20 and table.column("described").null_count > 0
    sizes = [len(chunk) for chunk in table.column("longer").chunks]
    assert any(start % 8 for start in itertools.accumulate(sizes[:-1])), f"messages of {sizes} rows"


def test_an_error_while_running_reaches_the_client_with_its_code(client, server):
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(
        "SELECT CAST(species AS INTEGER) AS n FROM default.flowers")))
    with pytest.raises(pa.ArrowInvalid, match="conversion from `str` to `i32` failed"):
        client.do_get(info.endpoints[0].ticket).read_all()
    assert server.alive()
    assert run(client, "SELECT count(*) AS n FROM default.flowers").column("n").to_pylist() == [150]


def test_catalogs(client):
    info = client.get_flight_info(flight.FlightDescriptor.for_command(get_catalogs()))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.column("catalog_name").to_pylist() == ["floe"]
    assert table.schema.field("catalog_name").nullable is False


def test_garbage_ticket_is_invalid_argument(client, server):
    # pyarrow raises ArrowInvalid for gRPC INVALID_ARGUMENT.
    with pytest.raises(pa.ArrowInvalid):
        client.do_get(flight.Ticket(b"\x00garbage\xff")).read_all()
    with pytest.raises(pa.ArrowInvalid):
        client.get_flight_info(flight.FlightDescriptor.for_command(b"not a command at all"))
    assert server.alive()
    assert run(client, "SELECT count(*) AS n FROM default.flowers").column("n").to_pylist() == [150]


def test_list_actions_includes_session_and_cancel(client):
    names = {action.type for action in client.list_actions()}
    assert {"CreatePreparedStatement", "SetSessionOptions", "GetSessionOptions", "CloseSession", "CancelFlightInfo"} <= names


def test_unknown_session_option_is_reported(client):
    results = list(client.do_action(flight.Action("SetSessionOptions", session_options_request({"colour": "blue"}))))
    # SetSessionOptionsResult.errors has one entry, for `colour`.
    assert b"colour" in results[0].body.to_pybytes()


def test_token_auth_over_plain_flight(start_server):
    secured = start_server("--token", "t0ken")
    with flight.FlightClient(secured.uri) as anonymous:
        with pytest.raises(flight.FlightUnauthenticatedError):
            run(anonymous, "SELECT count(*) AS n FROM default.flowers")
        with pytest.raises(flight.FlightUnauthenticatedError):
            list(anonymous.list_actions())
        options = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer t0ken")])
        assert run(anonymous, "SELECT count(*) AS n FROM default.flowers", options).column("n").to_pylist() == [150]


def test_basic_auth_handshake_returns_a_bearer_token(start_server):
    secured = start_server("--user", "ana:pa55")
    with flight.FlightClient(secured.uri) as c:
        header = c.authenticate_basic_token("ana", "pa55")
        options = flight.FlightCallOptions(headers=[header])
        assert run(c, "SELECT count(*) AS n FROM default.flowers", options).column("n").to_pylist() == [150]
        with pytest.raises(flight.FlightUnauthenticatedError):
            c.authenticate_basic_token("ana", "nope")


def test_refuses_to_serve_beyond_loopback_without_credentials(tmp_path):
    import subprocess

    from harness import floe_binary

    done = subprocess.run(
        [floe_binary(), "serve", "--listen", "0.0.0.0:0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "without credentials" in done.stderr


def test_cancel_flight_info_stops_a_running_query(client, server):
    sql = ("SELECT a.sepal_length + b.sepal_width + c.petal_length AS x FROM default.flowers a "
           "CROSS JOIN default.flowers b CROSS JOIN default.flowers c")
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)))
    reader = client.do_get(info.endpoints[0].ticket)
    first = reader.read_chunk()
    assert first.data.num_rows > 0
    action = flight.Action("CancelFlightInfo", cancel_flight_info_request(info.serialize()))
    assert [r.body.to_pybytes() for r in client.do_action(action)] == [CANCEL_STATUS_CANCELLED]
    rows = first.data.num_rows
    with pytest.raises(flight.FlightCancelledError):
        while True:
            rows += reader.read_chunk().data.num_rows
    assert rows < 150 ** 3
    assert run(client, "SELECT count(*) AS n FROM default.flowers").column("n").to_pylist() == [150]


def test_sql_info_tells_the_truth_about_writes(client):
    from flight_sql_wire import any_message, _field, _varint

    # CommandGetSqlInfo{info: [FLIGHT_SQL_SERVER_READ_ONLY=3, FLIGHT_SQL_SERVER_BULK_INGESTION=10]}
    command = any_message("CommandGetSqlInfo", _varint(1 << 3 | 0) + _varint(3) + _varint(1 << 3 | 0) + _varint(10))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    answers = dict(zip(table.column("info_name").to_pylist(), table.column("value").to_pylist()))
    assert answers == {3: False, 10: True}


def test_get_schema_describes_queries_without_running_them(server):
    """GetSchema (arrow-flight's Flight SQL dispatch leaves it unimplemented):
    a query's result schema; a statement that writes is refused, not run."""
    from flight_sql_wire import create_prepared_statement, prepared_statement_query, statement_query, unpacked_field

    with flight.connect(server.uri) as client:
        # A prepared query whose parameter is not bound cannot plan: the schema it was created with.
        action = flight.Action("CreatePreparedStatement", create_prepared_statement(
            "SELECT species FROM default.flowers WHERE species LIKE ?"))
        handle = unpacked_field(list(client.do_action(action))[0].body.to_pybytes(), 1)
        unbound = client.get_schema(flight.FlightDescriptor.for_command(prepared_statement_query(handle)))
        assert unbound.schema.names == ["species"]
        described = client.get_schema(flight.FlightDescriptor.for_command(
            statement_query("SELECT species, count(*) AS n FROM default.flowers GROUP BY species")))
        assert described.schema.names == ["species", "n"]
        with pytest.raises(pa.ArrowInvalid, match="GetSchema describes queries"):
            client.get_schema(flight.FlightDescriptor.for_command(statement_query("CREATE TABLE default.never (k BIGINT)")))
        tables = client.do_get(client.get_flight_info(flight.FlightDescriptor.for_command(
            statement_query("SELECT count(*) AS n FROM floe.information_schema.tables WHERE table_name = 'never'"))).endpoints[0].ticket)
        assert tables.read_all().column("n").to_pylist() == [0]


def test_a_parameter_inside_a_cte_is_typed_by_the_ctes_around_it(server):
    """A prepared statement's parameter schema (what JDBC binds by) for a `?`
    in a CTE's own query: typed by what it is compared with there, which may
    be another CTE or, in a recursive one, the CTE itself."""
    from flight_sql_wire import create_prepared_statement, unpacked_field

    with flight.connect(server.uri) as client:
        def parameter_types(sql):
            action = flight.Action("CreatePreparedStatement", create_prepared_statement(sql))
            body = list(client.do_action(action))[0].body.to_pybytes()
            return [field.type for field in pa.ipc.read_schema(pa.py_buffer(unpacked_field(body, 3)))]

        assert parameter_types("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < ?) "
                               "SELECT n FROM r") == [pa.int64()]
        assert parameter_types("WITH a AS (SELECT sepal_length AS x FROM default.flowers), "
                               "b AS (SELECT x FROM a WHERE x > ?) SELECT count(*) AS c FROM b") == [pa.float64()]
