"""Floe through the ADBC Flight SQL driver, as BI tools and notebooks use it."""

import decimal

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from adbc_driver_manager import AdbcStatusCode, Error as AdbcError
from floe_sql import run as query

GROUP_BY = (
    "SELECT species, avg(sepal_length) AS avg_sepal_length, avg(petal_length) AS avg_petal_length "
    "FROM default.flowers GROUP BY species ORDER BY avg_sepal_length DESC"
)




def status_of(excinfo) -> AdbcStatusCode:
    return excinfo.value.status_code


def test_group_by_puts_virginica_first(conn):
    table = query(conn, GROUP_BY)
    assert table.column_names == ["species", "avg_sepal_length", "avg_petal_length"]
    assert table.column("species").to_pylist() == ["virginica", "versicolor", "setosa"]
    assert table.column("avg_sepal_length").to_pylist()[0] == pytest.approx(6.588)
    assert table.schema.field("species").type == pa.string()  # Utf8 on the wire, not a view


def test_three_part_and_bare_names(conn):
    assert query(conn, "SELECT count(*) AS n FROM floe.default.flowers").column("n").to_pylist() == [150]
    # Bare names resolve in the session's schema, `default` unless set.
    assert query(conn, "SELECT count(*) AS n FROM flowers").column("n").to_pylist() == [150]


def test_qualified_columns_and_self_join(conn):
    table = query(
        conn,
        "SELECT a.species, count(*) AS n FROM default.flowers a JOIN default.flowers b "
        "ON a.species = b.species GROUP BY a.species ORDER BY a.species",
    )
    assert table.column("n").to_pylist() == [2500, 2500, 2500]
    table = query(conn, "SELECT default.flowers.species FROM default.flowers WHERE flowers.petal_width > 2.4")
    assert sorted(table.column("species").to_pylist()) == ["virginica"] * 3


def test_repeated_output_names_arrive_as_written(conn):
    # BI tools select the join key from both sides; SQL and Arrow allow the repeat.
    table = query(
        conn,
        "SELECT a.species, b.species, a.petal_width AS w, b.sepal_width AS w FROM default.flowers a "
        "JOIN default.flowers b ON a.species = b.species AND a.sepal_length = b.sepal_length "
        "WHERE a.petal_width > 2.4 AND b.petal_width > 2.4 ORDER BY 3, 4",
    )
    assert table.column_names == ["species", "species", "w", "w"]
    assert [column.to_pylist() for column in table.columns] == [
        ["virginica"] * 3, ["virginica"] * 3, [2.5, 2.5, 2.5], [3.3, 3.3, 3.6],
    ]
    # A table cannot hold them: CREATE TABLE … AS says which name to change, and creates nothing.
    with pytest.raises(AdbcError) as excinfo:
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE default.repeated AS SELECT species, species FROM default.flowers")
    assert status_of(excinfo) == AdbcStatusCode.INVALID_ARGUMENT
    assert "`species` appears more than once" in str(excinfo.value)
    with pytest.raises(AdbcError) as excinfo:
        query(conn, "SELECT * FROM default.repeated")
    assert status_of(excinfo) == AdbcStatusCode.NOT_FOUND


def test_a_subquery_item_is_named_as_written(conn):
    # Floe reads it from a joined CTE; its name is still the item's text, not that CTE's column.
    sql = ("SELECT a.species, (SELECT max(b.petal_width) FROM default.flowers b WHERE b.species = a.species) "
           "FROM default.flowers a GROUP BY a.species ORDER BY 1")
    table = query(conn, sql)
    assert table.column_names == ["species", "(SELECT max(b.petal_width) FROM default.flowers b WHERE b.species = a.species)"]
    assert table.column(1).to_pylist() == [0.6, 1.8, 2.5]
    table = query(conn, "SELECT a.species, (SELECT max(petal_width) FROM default.flowers) FROM default.flowers a LIMIT 1")
    assert table.column_names == ["species", "(SELECT max(petal_width) FROM default.flowers)"]


def test_large_result_streams_in_several_batches(conn):
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT a.sepal_length * b.sepal_width AS x FROM default.flowers a CROSS JOIN default.flowers b "
            "CROSS JOIN (SELECT 1 AS one FROM default.flowers LIMIT 20) c"
        )
        reader = cursor.fetch_record_batch()
        batches = list(reader)
    assert sum(batch.num_rows for batch in batches) == 150 * 150 * 20
    assert len(batches) > 1


def test_prepared_statement_with_positional_parameter(conn):
    literal = query(conn, "SELECT count(*) AS n FROM default.flowers WHERE sepal_length > 5.8")
    prepared = query(conn, "SELECT count(*) AS n FROM default.flowers WHERE sepal_length > ?", (5.8,))
    assert prepared.column("n").to_pylist() == literal.column("n").to_pylist()
    assert 0 < literal.column("n").to_pylist()[0] < 150


def test_prepared_statement_reused_with_different_values(conn):
    with conn.cursor() as cursor:
        sql = "SELECT count(*) AS n FROM default.flowers WHERE species = $1"
        counts = []
        for species in ["setosa", "virginica", "nope"]:
            cursor.execute(sql, (species,))
            counts.append(cursor.fetch_arrow_table().column("n").to_pylist()[0])
    assert counts == [50, 50, 0]


def test_get_objects_lists_catalog_schema_table_and_columns(conn):
    objects = conn.adbc_get_objects(depth="all", catalog_filter="floe").read_all().to_pylist()
    assert [c["catalog_name"] for c in objects] == ["floe"]
    schemas = {s["db_schema_name"]: s for s in objects[0]["catalog_db_schemas"]}
    tables = {t["table_name"]: t for t in schemas["default"]["db_schema_tables"]}
    flowers = tables["flowers"]
    assert flowers["table_type"] == "TABLE"
    columns = [c["column_name"] for c in flowers["table_columns"]]
    assert columns == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]


def test_get_objects_filters_with_patterns(conn):
    objects = conn.adbc_get_objects(depth="tables", db_schema_filter="def%", table_name_filter="flo_ers").read_all()
    names = [t["table_name"] for c in objects.to_pylist() for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]]
    assert names == ["flowers"]
    objects = conn.adbc_get_objects(depth="tables", table_name_filter="nothing%").read_all().to_pylist()
    assert [t for c in objects for s in c["catalog_db_schemas"] for t in (s["db_schema_tables"] or [])] == []


def test_table_schema_and_types(conn):
    schema = conn.adbc_get_table_schema("flowers", db_schema_filter="default")
    assert schema.names == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    assert schema.field("sepal_length").type == pa.float64()
    assert schema.field("species").type == pa.string()
    assert conn.adbc_get_table_types() == ["TABLE"]


def test_get_info_names_the_server(conn):
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "Floe"
    assert info["vendor_version"]


def test_session_schema_option_changes_bare_names(server, conn):
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("floe", uri=f"sqlite:///{server.data_dir}/catalog.db",
                         warehouse=f"file://{server.data_dir}/warehouse")
    catalog.create_namespace_if_not_exists("session_ns")
    table = catalog.create_table_if_not_exists("session_ns.little", schema=pa.schema([("v", pa.int64())]))
    if table.current_snapshot() is None:
        table.append(pa.table({"v": pa.array([1, 2, 3], pa.int64())}))
    assert conn.adbc_current_catalog == "floe"
    conn.adbc_current_catalog = "floe"
    with pytest.raises(AdbcError):
        conn.adbc_current_catalog = "no_such_catalog"
    conn.adbc_current_db_schema = "session_ns"
    assert conn.adbc_current_db_schema == "session_ns"
    assert query(conn, "SELECT sum(v) AS s FROM little").column("s").to_pylist() == [6]
    with pytest.raises(AdbcError):
        conn.adbc_current_db_schema = "no_such_schema"


@pytest.mark.parametrize(
    "sql, status, words",
    [
        ("SELEC species FROM default.flowers", AdbcStatusCode.INVALID_ARGUMENT, "syntax"),
        ("SELECT * FROM default.no_such_table", AdbcStatusCode.NOT_FOUND, "no_such_table"),
        ("SELECT no_such_column FROM default.flowers", AdbcStatusCode.INVALID_ARGUMENT, "no_such_column"),
        ("SELECT * FROM read_csv('/etc/passwd')", AdbcStatusCode.INVALID_ARGUMENT, "table function"),
        ("SELECT * FROM read_parquet('/etc/passwd')", AdbcStatusCode.INVALID_ARGUMENT, "table function"),
        ("SELECT * FROM default.flowers WHERE sepal_length > ?", AdbcStatusCode.INVALID_ARGUMENT, "parameter"),
        # Past BIGINT's range, through Floe's checked product and through a count computed in HUGEINT.
        ("SELECT CAST(sepal_length * 10 AS BIGINT) * 922337203685477580 AS x FROM default.flowers",
         AdbcStatusCode.INVALID_ARGUMENT, "integer overflow"),
        ("SELECT count(*) * 9223372036854775807 AS n FROM default.flowers", AdbcStatusCode.INVALID_ARGUMENT, "integer overflow"),
    ],
)
def test_bad_input_gets_a_clear_error_and_the_server_keeps_serving(conn, sql, status, words):
    with pytest.raises(AdbcError) as excinfo:
        query(conn, sql)
    assert status_of(excinfo) == status
    assert words in str(excinfo.value).lower()
    assert query(conn, "SELECT count(*) AS n FROM default.flowers").column("n").to_pylist() == [150]


def test_a_hugeint_arrives_as_a_decimal_past_bigint(conn):
    table = query(conn, "SELECT CAST(count(*) AS HUGEINT) * 9223372036854775807 AS h FROM default.flowers")
    assert table.schema.field("h").type == pa.decimal128(38, 0)
    assert table.column("h").to_pylist() == [decimal.Decimal(150 * 9223372036854775807)]


def test_wrong_parameter_count_in_a_prepared_statement(conn):
    with pytest.raises(AdbcError) as excinfo:
        query(conn, "SELECT count(*) FROM default.flowers WHERE sepal_length > ? AND species = ?", (5.0,))
    assert status_of(excinfo) == AdbcStatusCode.INVALID_ARGUMENT
    assert "2 parameter(s) but 1" in str(excinfo.value)


def test_unsupported_row_level_forms_are_refused_and_change_nothing(conn):
    for sql in ["UPDATE default.flowers AS f SET species = 'x'",
                "DELETE FROM default.flowers USING default.flowers AS g WHERE sepal_length > 5"]:
        with pytest.raises(AdbcError) as excinfo:
            with conn.cursor() as cursor:
                cursor.execute(sql)
        assert status_of(excinfo) == AdbcStatusCode.NOT_IMPLEMENTED
    assert query(conn, "SELECT count(DISTINCT species) AS n FROM default.flowers").column("n").to_pylist() == [3]


def test_token_auth(start_server):
    secured = start_server("--token", "s3cret")
    # The driver may talk to the server while connecting, so the failure can come from either step.
    with pytest.raises(AdbcError) as excinfo:
        with flightsql.connect(secured.uri, autocommit=True) as anonymous:
            query(anonymous, "SELECT count(*) AS n FROM default.flowers")
    assert status_of(excinfo) == AdbcStatusCode.UNAUTHENTICATED
    with pytest.raises(AdbcError) as excinfo:
        with flightsql.connect(secured.uri, autocommit=True) as anonymous:
            anonymous.adbc_get_objects(depth="catalogs").read_all()
    assert status_of(excinfo) == AdbcStatusCode.UNAUTHENTICATED
    with pytest.raises(AdbcError) as excinfo:
        with flightsql.connect(secured.uri, autocommit=True, db_kwargs={"adbc.flight.sql.authorization_header": "Bearer wrong"}) as bad:
            query(bad, "SELECT count(*) AS n FROM default.flowers")
    assert status_of(excinfo) == AdbcStatusCode.UNAUTHENTICATED
    with flightsql.connect(secured.uri, autocommit=True, db_kwargs={"adbc.flight.sql.authorization_header": "Bearer s3cret"}) as ok:
        assert query(ok, "SELECT count(*) AS n FROM default.flowers").column("n").to_pylist() == [150]


def test_user_password_auth(start_server):
    secured = start_server("--user", "ana:pa55")
    with flightsql.connect(secured.uri, autocommit=True, db_kwargs={"username": "ana", "password": "pa55"}) as ok:
        assert query(ok, "SELECT count(*) AS n FROM default.flowers").column("n").to_pylist() == [150]
    with pytest.raises(AdbcError) as excinfo:
        with flightsql.connect(secured.uri, autocommit=True, db_kwargs={"username": "ana", "password": "wrong"}) as bad:
            query(bad, "SELECT count(*) AS n FROM default.flowers")
    assert status_of(excinfo) == AdbcStatusCode.UNAUTHENTICATED


def test_results_arrive_intact_under_each_ipc_compression(server):
    import adbc_driver_flightsql.dbapi as flightsql

    def fetch(codec):
        with flightsql.connect(server.uri, autocommit=True,
                               db_kwargs={"adbc.flight.sql.rpc.with_cookie_middleware": "true"}) as conn:
            if codec:
                conn.adbc_connection.set_options(**{"adbc.flight.sql.session.option.compression": codec})
                assert conn.adbc_connection.get_option("adbc.flight.sql.session.option.compression") == codec
            with conn.cursor() as cursor:
                cursor.execute("SELECT * FROM default.flowers ORDER BY sepal_length, sepal_width, petal_length, species")
                return cursor.fetch_arrow_table()

    plain = fetch(None)
    assert plain.num_rows == 150
    for codec in ("lz4", "zstd"):
        assert fetch(codec).equals(plain)


def test_an_unknown_compression_is_refused(server):
    import adbc_driver_flightsql.dbapi as flightsql

    with flightsql.connect(server.uri, autocommit=True,
                           db_kwargs={"adbc.flight.sql.rpc.with_cookie_middleware": "true"}) as conn:
        with pytest.raises(Exception) as excinfo:
            conn.adbc_connection.set_options(**{"adbc.flight.sql.session.option.compression": "gzip"})
        assert "compression" in str(excinfo.value)


def test_empty_tables_ingest_with_one_empty_batch_and_say_so_without(conn):
    """ADBC's driver sends no DoPut message for data without batches; the
    server explains the workaround, which creates the empty table."""
    schema = pa.schema([("k", pa.int64()), ("v", pa.string())])
    with pytest.raises(AdbcError) as refused, conn.cursor() as cursor:
        cursor.adbc_ingest("empty_none", pa.table({"k": pa.array([], pa.int64()), "v": pa.array([], pa.string())}),
                           mode="create", db_schema_name="default")
    assert "empty batch" in str(refused.value)
    with conn.cursor() as cursor:
        reader = pa.RecordBatchReader.from_batches(schema, [pa.RecordBatch.from_pylist([], schema)])
        assert cursor.adbc_ingest("empty_one", reader, mode="create", db_schema_name="default") == 0
    assert query(conn, "SELECT count(*) AS n FROM default.empty_one").column("n").to_pylist() == [0]


def test_incremental_execution_polls_flight_info(conn):
    """ADBC's incremental execution (PollFlightInfo): Floe plans a statement
    whole, so the first poll returns every partition with full progress and
    the next returns none."""
    with conn.cursor() as cursor:
        cursor.adbc_statement.set_options(**{"adbc.statement.exec.incremental": "true"})
        sql = "SELECT species, count(*) AS n FROM default.flowers GROUP BY species"
        partitions, schema = cursor.adbc_execute_partitions(sql)
        assert len(partitions) == 1 and schema.names == ["species", "n"]
        progress = cursor.adbc_statement.get_option_float("adbc.statement.exec.progress")
        assert progress == cursor.adbc_statement.get_option_float("adbc.statement.exec.max_progress") == 1.0
        assert cursor.adbc_execute_partitions(sql)[0] == []
        cursor.adbc_read_partition(partitions[0])
        assert sorted(cursor.fetch_arrow_table().column("n").to_pylist()) == [50, 50, 50]


def test_window_frames_over_ties_match_duckdb(server, conn):
    """Peer frames and RANGE frames by value over iris' many tied lengths,
    through ADBC, against DuckDB reading the same Iceberg table."""
    from floe_sql import canonical

    windows = (
        "SELECT species, sepal_length, petal_width, "
        "sum(petal_width) OVER (PARTITION BY species ORDER BY sepal_length) AS running, "
        "count(*) OVER (PARTITION BY species ORDER BY sepal_length RANGE BETWEEN 0.25 PRECEDING AND 0.25 FOLLOWING) AS near, "
        "avg(petal_width) OVER (ORDER BY sepal_length DESC RANGE BETWEEN CURRENT ROW AND 0.5 FOLLOWING) AS shorter, "
        "max(petal_width) OVER (PARTITION BY species ORDER BY petal_width RANGE 0.1 PRECEDING) AS widest_near "
        "FROM {table}"
    )
    got, expected, _ = floe_and_duckdb(server, conn, windows)
    assert got.num_rows == 150
    assert canonical(got) == canonical(expected)


def test_groups_rows_frames_and_windows_in_subqueries_match_duckdb(server, conn):
    """GROUPS frames, ROWS frames past 64 rows and to the partition's end, and
    a peer frame inside an IN subquery (moved into a CTE so it ends at the last
    peer), through ADBC, against DuckDB reading the same Iceberg table. Rows
    are ordered by every column, so rows tied in the order are identical."""
    from floe_sql import canonical

    order = "sepal_length, sepal_width, petal_length, petal_width, species"
    windows = (
        "SELECT species, sepal_length, sepal_width, petal_length, petal_width, "
        "sum(petal_width) OVER (PARTITION BY species ORDER BY sepal_length GROUPS BETWEEN 2 PRECEDING AND 1 FOLLOWING) AS near_groups, "
        f"sum(petal_length) OVER (ORDER BY {order} ROWS BETWEEN 90 PRECEDING AND 10 FOLLOWING) AS wide, "
        f"count(*) OVER (ORDER BY {order} ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS rest "
        "FROM {table} WHERE sepal_length IN (SELECT max(sepal_length) OVER (ORDER BY petal_width) FROM {table})"
    )
    got, expected, _ = floe_and_duckdb(server, conn, windows)
    assert got.num_rows == expected.num_rows > 20
    assert canonical(got) == canonical(expected)


def floe_and_duckdb(server, conn, template: str):
    """`template`'s answer from Floe over default.flowers and from DuckDB
    reading the same Iceberg table (`{table}` names it), and that DuckDB."""
    from readers import duckdb_with_extensions, pyiceberg_catalog

    got = query(conn, template.format(table="default.flowers"))
    location = pyiceberg_catalog(server).load_table("default.flowers").metadata_location.removeprefix("file://")
    duck = duckdb_with_extensions()
    return got, duck.execute(template.format(table=f"iceberg_scan('{location}')")).to_arrow_table(), duck


def test_text_extremes_constant_keys_and_typed_values_match_duckdb(server, conn):
    """Running and sliding minima and maxima of text, windows over constant
    keys (ORDER BY NULL, PARTITION BY 'a'), a ROWS frame reaching past every
    partition, and a VALUES list of DATE cells, through ADBC, against DuckDB
    reading the same Iceberg table. Orders are total, so no answer hangs on
    how ties fall."""
    from floe_sql import canonical

    order = "sepal_length, sepal_width, petal_length, petal_width, species"
    windows = (
        "SELECT species, sepal_length, sepal_width, petal_length, petal_width, "
        f"min(species) OVER (ORDER BY {order} DESC) AS least_after, "
        f"max(species) OVER (ORDER BY {order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS greatest_before, "
        f"min(species) OVER (ORDER BY petal_width, {order} ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS near, "
        "sum(petal_length) OVER (PARTITION BY 'a' ORDER BY NULL) AS everything, "
        "rank() OVER (PARTITION BY species ORDER BY 1) AS first, "
        f"count(*) OVER (PARTITION BY species ORDER BY {order} ROWS BETWEEN CURRENT ROW AND 9223372036854775807 FOLLOWING) AS rest "
        "FROM {table}"
    )
    got, expected, duck = floe_and_duckdb(server, conn, windows)
    assert got.num_rows == expected.num_rows == 150
    assert canonical(got) == canonical(expected)
    days = "SELECT id, day + 1 AS next FROM (VALUES (1, DATE '2024-02-28'), (2, CAST('2024-12-31' AS DATE)), (3, NULL)) AS v(id, day) ORDER BY id"
    assert canonical(query(conn, days)) == canonical(duck.execute(days).to_arrow_table())


def test_a_frame_that_starts_after_it_ends_is_refused_by_name(conn):
    with pytest.raises(AdbcError) as excinfo:
        query(conn, "SELECT sum(petal_width) OVER (ORDER BY sepal_length ROWS BETWEEN 1 FOLLOWING AND 1 PRECEDING) FROM default.flowers")
    assert status_of(excinfo) == AdbcStatusCode.INVALID_ARGUMENT
    assert "starts at a following row" in str(excinfo.value)
