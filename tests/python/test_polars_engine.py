"""`--polars-engine`: both of Polars' engines answer alike through a real
client (ADBC), queries over small inputs run in memory unless every query is
to stream, and an unknown engine is refused at start-up with the choices."""

import subprocess

import adbc_driver_flightsql.dbapi as flightsql

from harness import FloeServer, floe_binary

# Three references to 150 rows: 450³ rows at most, beyond what runs in memory unasked.
QUERY = ("SELECT a.species, count(*) AS n, round(avg(b.petal_width), 4) AS w "
         "FROM default.flowers a JOIN default.flowers b ON a.species = b.species JOIN default.flowers c ON c.species = b.species "
         "WHERE a.sepal_length > 5 GROUP BY a.species ORDER BY a.species")
SMALL = "SELECT species, count(*) AS n FROM default.flowers GROUP BY species ORDER BY species"


def answer(server: FloeServer, sql: str = QUERY):
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table().to_pylist()


def collected_in_memory(server: FloeServer) -> int:
    return server.log_path.read_text(errors="replace").count("result collected in memory")


def test_in_memory_engine_answers_as_the_streaming_one(tmp_path):
    answers = {}
    for engine in ("streaming", "in-memory"):
        server = FloeServer(tmp_path / engine, "--polars-engine", engine, "--no-scripts", env={"FLOE_LOG": "info,floe::exec=debug"})
        try:
            answers[engine] = answer(server)
        finally:
            server.stop()
        assert (collected_in_memory(server) > 0) == (engine == "in-memory"), (engine, server.log_path.read_text(errors="replace")[-2000:])
    assert answers["streaming"] and answers["in-memory"] == answers["streaming"], answers


def test_small_inputs_run_in_memory_under_the_streaming_engine(tmp_path):
    server = FloeServer(tmp_path, "--no-scripts", env={"FLOE_LOG": "info,floe::exec=debug"})
    try:
        assert answer(server, SMALL) == [{"species": s, "n": 50} for s in ("setosa", "versicolor", "virginica")]
        assert collected_in_memory(server) == 1
        assert answer(server, QUERY) and collected_in_memory(server) == 1  # streamed
    finally:
        server.stop()


def test_streaming_streams_small_inputs_too(tmp_path):
    server = FloeServer(tmp_path, "--polars-engine", "streaming", "--no-scripts", env={"FLOE_LOG": "info,floe::exec=debug"})
    try:
        assert answer(server, SMALL) == [{"species": s, "n": 50} for s in ("setosa", "versicolor", "virginica")]
        assert collected_in_memory(server) == 0, server.log_path.read_text(errors="replace")[-2000:]
    finally:
        server.stop()


def test_an_unknown_engine_is_refused_with_the_choices(tmp_path):
    done = subprocess.run([floe_binary(), "serve", "--polars-engine", "fast", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert all(choice in done.stderr for choice in ("auto", "streaming", "in-memory")), done.stderr
