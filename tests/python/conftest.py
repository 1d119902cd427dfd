"""Starts the real `floe` binary on port 0 and hands tests its address.

The server writes its bound address to --addr-file once it accepts
connections, so tests wait on that file rather than sleeping.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def floe_binary() -> str:
    explicit = os.environ.get("FLOE_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "release" / "floe")


class FloeServer:
    def __init__(self, data_dir: Path, *extra_args: str, env: dict | None = None, command: str = "serve"):
        self.data_dir = data_dir
        addr_file = data_dir / "addr"
        self.log = open(data_dir / "server.log", "wb")
        self.process = subprocess.Popen(
            [floe_binary(), command, "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
             "--addr-file", str(addr_file), *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 60
        while not addr_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"floe exited early:\n{self.logs()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"floe did not start in time:\n{self.logs()}")
            time.sleep(0.02)
        self.address = addr_file.read_text().strip()
        self.uri = f"grpc://{self.address}"

    def logs(self) -> str:
        self.log.flush()
        return (self.data_dir / "server.log").read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    floe = FloeServer(tmp_path_factory.mktemp("floe"))
    yield floe
    assert floe.alive(), f"server died during the tests:\n{floe.logs()}"
    floe.stop()


@pytest.fixture
def start_server(tmp_path):
    """Starts extra servers (e.g. with credentials) for one test."""
    started = []

    def start(*args: str) -> FloeServer:
        data_dir = tmp_path / f"floe{len(started)}"
        data_dir.mkdir()
        floe = FloeServer(data_dir, *args)
        started.append(floe)
        return floe

    yield start
    for floe in started:
        floe.stop()


@pytest.fixture
def conn(server):
    import adbc_driver_flightsql.dbapi as flightsql

    with flightsql.connect(server.uri, db_kwargs={
        "adbc.flight.sql.rpc.with_cookie_middleware": "true",
    }, autocommit=True) as connection:
        yield connection
