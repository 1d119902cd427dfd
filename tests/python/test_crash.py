"""A server SIGKILLed in the middle of writes leaves every table at a committed
snapshot: no partial rows, still readable."""

import random
import signal
import threading
import time

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.flight as flight

from flight_sql_wire import statement_query
from harness import FloeServer, wait_for

BATCH = 20_000


def test_sigkill_mid_write_leaves_only_whole_commits(tmp_path):
    data_dir = tmp_path / "crashy"
    rng = random.Random(7)
    chunk = pa.table({"k": pa.array(range(BATCH), pa.int64()), "v": pa.array([1.0] * BATCH)})
    committed_at_least = 0
    for round_number in range(6):
        server = FloeServer(data_dir)
        with flightsql.connect(server.uri, autocommit=True) as conn:
            with conn.cursor() as cursor:
                cursor.execute("SELECT count(*) AS n FROM default.flowers")
                cursor.fetch_arrow_table()
                if round_number == 0:
                    cursor.adbc_ingest("crash_target", chunk, mode="create", db_schema_name="default")
                    committed_at_least = BATCH
                cursor.execute("SELECT count(*) AS n, sum(k) AS s FROM default.crash_target")
                counts = cursor.fetch_arrow_table().to_pydict()
        rows = counts["n"][0]
        # Every visible row belongs to a whole committed batch.
        assert rows % BATCH == 0 and rows >= committed_at_least, rows
        assert counts["s"][0] == (rows // BATCH) * sum(range(BATCH))
        committed_at_least = rows
        if round_number == 5:
            remove_what_the_kills_left(server, rows)
            server.stop()
            break

        stop = threading.Event()

        def keep_appending():
            try:
                with flightsql.connect(server.uri, autocommit=True) as writer_conn:
                    with writer_conn.cursor() as cursor:
                        while not stop.is_set():
                            cursor.adbc_ingest("crash_target", chunk, mode="append", db_schema_name="default")
            except Exception:
                pass  # the server is killed under us: expected

        writer = threading.Thread(target=keep_appending)
        writer.start()
        time.sleep(rng.uniform(0.2, 1.5))  # kill at a random moment of the write loop
        server.kill()
        stop.set()
        writer.join()
    # The writers did commit between kills, so the kills hit a live write loop.
    assert committed_at_least > BATCH


def remove_what_the_kills_left(server, rows: int):
    """Whatever the killed writes left is an orphan: the procedure removes it,
    after which the table's directory holds exactly the files it references."""
    future = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 300))
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CALL system.remove_orphan_files('default.crash_target', older_than => TIMESTAMP '{future}')")
        removed = cursor.fetch_arrow_table().to_pylist()[0]
        assert removed["deleted_files_count"] == removed["orphan_files_count"]
        cursor.execute('SELECT file_path FROM default."crash_target$files"')
        referenced = {path.removeprefix("file://") for path in cursor.fetch_arrow_table().column("file_path").to_pylist()}
        cursor.execute("SELECT count(*) AS n FROM default.crash_target")
        assert cursor.fetch_arrow_table().column("n")[0].as_py() == rows
    on_disk = {str(path) for path in (server.data_dir / "warehouse" / "default" / "crash_target" / "data").rglob("*.parquet")}
    assert on_disk == referenced


def test_sigterm_does_not_wait_forever_for_a_runaway_query(tmp_path):
    server = FloeServer(tmp_path / "runaway", "--shutdown-grace-seconds", "1")
    sql = ("SELECT sum(a.sepal_length * b.sepal_width * c.petal_length * d.petal_width * e.sepal_length) AS s "
           "FROM default.flowers a CROSS JOIN default.flowers b CROSS JOIN default.flowers c "
           "CROSS JOIN default.flowers d CROSS JOIN default.flowers e")
    received = []

    def runaway():
        try:
            with flight.FlightClient(server.uri) as flight_client:
                info = flight_client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)))
                reader = flight_client.do_get(info.endpoints[0].ticket)
                # DoGet sends the result's schema first, as the server starts computing the rows.
                received.append(reader.schema)
                reader.read_all()
        except Exception:
            pass  # the server goes away under it

    client = threading.Thread(target=runaway, daemon=True)
    client.start()
    assert wait_for(lambda: received, 60), f"the query did not start:\n{server.logs()}"
    assert received[0].names == ["s"] and server.alive()
    stopped_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=20)
    assert time.monotonic() - stopped_at < 20
    assert "shutting down" in server.logs()
    server.stop()
    client.join(timeout=20)
