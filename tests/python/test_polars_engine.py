"""`--polars-engine`: both of Polars' engines answer alike through a real
client (ADBC), and an unknown engine is refused at start-up with the choices."""

import subprocess

import adbc_driver_flightsql.dbapi as flightsql

from harness import FloeServer, floe_binary

QUERY = ("SELECT a.species, count(*) AS n, round(avg(b.petal_width), 4) AS w "
         "FROM default.flowers a JOIN default.flowers b ON a.species = b.species "
         "WHERE a.sepal_length > 5 GROUP BY a.species ORDER BY a.species")


def answer(server: FloeServer):
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(QUERY)
        return cursor.fetch_arrow_table().to_pylist()


def test_in_memory_engine_answers_as_the_streaming_one(tmp_path):
    answers = {}
    for engine in ("streaming", "in-memory"):
        server = FloeServer(tmp_path / engine, "--polars-engine", engine, "--no-scripts", env={"FLOE_LOG": "info,floe::exec=debug"})
        try:
            answers[engine] = answer(server)
        finally:
            server.stop()
        collected = "result collected in memory" in server.log_path.read_text(errors="replace")
        assert collected == (engine == "in-memory"), (engine, server.log_path.read_text(errors="replace")[-2000:])
    assert answers["streaming"] and answers["in-memory"] == answers["streaming"], answers


def test_an_unknown_engine_is_refused_with_the_choices(tmp_path):
    done = subprocess.run([floe_binary(), "serve", "--polars-engine", "fast", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "streaming" in done.stderr and "in-memory" in done.stderr, done.stderr
