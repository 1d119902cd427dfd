"""Floe on an Iceberg SQL catalog in a real PostgreSQL server (`--catalog-uri postgres://…`)."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pytest


def _as_postgres(command):
    # PostgreSQL refuses to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def postgres():
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    assert binaries, "PostgreSQL is not installed (.ci/run installs the `postgresql` package)"
    bin_dir = binaries[-1]
    # Not pytest's tmp_path: its parents are private to root, which the
    # `postgres` user cannot traverse.
    data = Path(tempfile.mkdtemp(prefix="floe-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([f"{bin_dir}/initdb", "-D", str(data), "-A", "trust", "-U", "floe"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([f"{bin_dir}/pg_ctl", "-D", str(data), "-w", "-l", str(data / "log"),
                                 "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    yield f"postgres://floe@127.0.0.1:{port}/postgres"
    subprocess.run(_as_postgres([f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
    shutil.rmtree(data, ignore_errors=True)


def test_demo_table_served_from_a_postgres_catalog(postgres, start_server):
    server = start_server("--catalog-uri", postgres)
    with flightsql.connect(server.uri, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) AS n FROM floe.default.flowers")
            assert cursor.fetch_arrow_table().column("n").to_pylist() == [150]
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        tables = [t["table_name"] for c in objects for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]]
        assert tables == ["flowers"]
        # Overwrite commits swap the table pointer in PostgreSQL atomically.
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE default.pg_copy AS SELECT * FROM default.flowers")
            cursor.fetch_arrow_table()
            cursor.execute("INSERT OVERWRITE default.pg_copy SELECT * FROM default.flowers WHERE species = 'setosa'")
            assert cursor.fetch_arrow_table().column("rows_affected").to_pylist() == [50]
            cursor.execute("SELECT count(*) AS n FROM default.pg_copy")
            assert cursor.fetch_arrow_table().column("n").to_pylist() == [50]
    # The catalog lives in PostgreSQL, not in a SQLite file in the data dir.
    assert not (server.data_dir / "catalog.db").exists()
