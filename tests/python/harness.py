"""The one place the Python tests and the benchmarks start what they run
against: the real `floe` binary (one server, or a coordinator with workers)
and the services some tests need beside it: Garage (an S3 implementation)
and rustberg (an Iceberg REST catalog), both built from crates.io by
.ci/run into ~/.cache/floe-tools.

Floe listens on port 0 and writes its bound address to --addr-file once it
accepts connections, so callers poll that file rather than sleep. The
benchmarks import this module through bench/common.py, which puts
tests/python on sys.path.
"""

import atexit
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight

import floe_wire
from flight_sql_wire import session_options_request, statement_query

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path.home() / ".cache/floe-tools/bin"


def floe_binary() -> str:
    """$FLOE_BIN, else release/floe under the first of $CARGO_TARGET_DIR,
    ~/.cache/floe-target (where .ci/run builds) and ./target that has one."""
    explicit = os.environ.get("FLOE_BIN")
    if explicit:
        return explicit
    targets = [os.environ.get("CARGO_TARGET_DIR"), Path.home() / ".cache/floe-target", ROOT / "target"]
    binaries = [Path(target) / "release" / "floe" for target in targets if target]
    return str(next((binary for binary in binaries if binary.exists()), binaries[0]))


def wait_for(ready, seconds: float, process: subprocess.Popen | None = None, interval: float = 0.05) -> bool:
    """Polls `ready()` until it holds (True); False once `process` has exited
    or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while not ready():
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


# Every process the harness starts, so none outlives the interpreter (a
# fixture that failed half-way, an interrupted benchmark).
_STARTED: list[subprocess.Popen] = []


@atexit.register
def _stop_leftovers():
    for process in _STARTED:
        if process.poll() is None:
            process.kill()


def _session_value(conn, key: str) -> str | None:
    """A session option as the server reports it. ADBC's get_option reads
    string options only; for a boolean one its error names the value."""
    try:
        return conn.adbc_connection.get_option(key)
    except Exception as err:
        name = key.rsplit(".", 1)[-1]
        found = re.search(rf"session option {re.escape(name)}=(\S+) is not a string", str(err))
        return found.group(1) if found else None


def set_session(conn, **options: str):
    """Sets Flight SQL session options on an ADBC connection and checks that
    the client sends them back. ADBC's Go cookie middleware now and then
    drops a Set-Cookie (about once in 60 new connections here: the next
    call goes out without the session), so a setting that did not stick
    is made again."""
    keys = {f"adbc.flight.sql.session.option.{name}": value for name, value in options.items()}
    for _ in range(5):
        conn.adbc_connection.set_options(**keys)
        if wait_for(lambda: all(_session_value(conn, k) == v for k, v in keys.items()), 1, interval=0.005):
            return
    raise RuntimeError(f"session options {options} never came back from the server")


class FloeServer:
    """`floe serve` (or `floe worker`) on 127.0.0.1, port 0, with its data in
    `data_dir`; the address file and the log (stdout and stderr) go in
    `run_dir`, by default `data_dir` too."""

    def __init__(self, data_dir: Path, *extra_args: str, env: dict | None = None, command: str = "serve",
                 run_dir: Path | None = None, binary: str | None = None):
        self.data_dir = Path(data_dir)
        run_dir = Path(run_dir or data_dir)
        for directory in (self.data_dir, run_dir):
            directory.mkdir(parents=True, exist_ok=True)
        addr_file = run_dir / "addr"
        addr_file.unlink(missing_ok=True)  # a killed server's, in a directory used again
        self.log_path = run_dir / "server.log"
        self.log = open(self.log_path, "wb")
        # The observatory's default port (3001) would clash between the servers
        # tests start side by side: it is off unless a test asks for it.
        # (A `binary` given is another build, e.g. a benchmark's baseline: its own flags only.)
        observatory = () if "--http-listen" in extra_args or binary else ("--http-listen", "off")
        self.process = subprocess.Popen(
            [binary or floe_binary(), command, "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir),
             "--addr-file", str(addr_file), *observatory, *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        _STARTED.append(self.process)
        if not wait_for(addr_file.exists, 60, self.process, interval=0.02):
            exited = not self.alive()
            self.stop()
            raise RuntimeError(f"floe {'exited early' if exited else 'did not start in time'}:\n{self.logs()}")
        self.address = addr_file.read_text().strip()
        self.uri = f"grpc://{self.address}"

    def logs(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self):
        """SIGTERM, and SIGKILL if it has not exited 20 s later."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def kill(self):
        """SIGKILL: a crash, with no shutdown at all."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.log.close()


# Test timings: a worker is dropped 4 s after its last heartbeat and a
# partition re-runs elsewhere after 5 s; any joined table over 1000 bytes is
# shuffled, so the small test tables exercise shuffles.
QUICK = ("--heartbeat-timeout-seconds", "4", "--partition-timeout-seconds", "5", "--broadcast-limit-bytes", "1000")


class Cluster:
    """A coordinator (`floe serve --cluster`) and `workers` `floe worker`
    processes sharing its SQLite catalog and warehouse, none running scripts.
    `shared` flags go to every node, `coordinator` flags to the coordinator
    alone. With `token` every node requires it, and this helper's calls
    (ADBC and pyarrow alike) send it."""

    def __init__(self, root: Path, *shared: str, workers: int = 3, coordinator: tuple = (),
                 env: dict | None = None, token: str | None = None):
        self.root, self.token = Path(root), token
        # One ticket key for every node: workers open the tickets the coordinator seals.
        self.env = {"FLOE_TICKET_KEY": secrets.token_hex(16), **(env or {})}
        self.shared = ("--no-scripts", *(("--token", token) if token else ()), *shared)
        headers = [(b"authorization", f"Bearer {token}".encode())] if token else None
        self.options = flight.FlightCallOptions(headers=headers)
        self.coordinator = FloeServer(self.root / "coordinator", "--cluster", *coordinator, *self.shared, env=self.env)
        self.workers: list[FloeServer] = []
        try:
            for index in range(workers):
                self.workers.append(self.start_worker(index))
            if workers:
                self.wait_for_workers(workers)
        except BaseException:
            self.stop()
            raise

    def start_worker(self, index: int) -> FloeServer:
        """A worker heart-beating each second, in a directory of its own."""
        data = self.coordinator.data_dir
        return FloeServer(self.root / f"worker{index}-{time.monotonic_ns()}", "--coordinator", self.coordinator.address,
                          "--heartbeat-seconds", "1", "--catalog-uri", str(data / "catalog.db"),
                          "--warehouse", str(data / "warehouse"), *self.shared, env=self.env, command="worker")

    def live_workers(self) -> list[str]:
        with flight.connect(self.coordinator.uri) as client:
            results = list(client.do_action(flight.Action("floe.cluster.workers", b""), self.options))
        return json.loads(results[0].body.to_pybytes())["workers"]

    def wait_for_workers(self, count: int, seconds: float = 30):
        if not wait_for(lambda: len(self.live_workers()) == count, seconds, interval=0.1):
            raise RuntimeError(f"live workers {self.live_workers()}, not {count}, after {seconds}s")

    def connect(self, distributed: bool, schema: str | None = None, timeout: float | None = None):
        """An ADBC Flight SQL connection whose session runs queries distributed, or not."""
        import adbc_driver_flightsql.dbapi as flightsql

        db_kwargs = {"adbc.flight.sql.rpc.with_cookie_middleware": "true"}
        if self.token:
            db_kwargs["adbc.flight.sql.authorization_header"] = f"Bearer {self.token}"
        if timeout:
            db_kwargs.update({f"adbc.flight.sql.rpc.timeout_seconds.{call}": str(timeout) for call in ("query", "fetch")})
        conn = flightsql.connect(self.coordinator.uri, autocommit=True, db_kwargs=db_kwargs)
        set_session(conn, distributed=str(distributed).lower(), **({"schema": schema} if schema else {}))
        return conn

    def session(self, distributed: bool = True, schema: str | None = None,
                user_agent: str | None = None) -> flight.FlightClient:
        """A plain pyarrow Flight client on the coordinator whose session (kept
        by cookie, as Flight SQL clients keep it) has these options."""
        generic = [("grpc.primary_user_agent", user_agent)] if user_agent else []
        client = flight.connect(self.coordinator.uri, middleware=[Cookies()], generic_options=generic)
        settings = {"distributed": str(distributed).lower(), **({"schema": schema} if schema else {})}
        list(client.do_action(flight.Action("SetSessionOptions", session_options_request(settings)), self.options))
        return client

    def flight_info(self, sql: str, distributed: bool = True, schema: str | None = None,
                    user_agent: str | None = None) -> flight.FlightInfo:
        """GetFlightInfo of `sql`: its endpoints say where the rows come from."""
        with self.session(distributed, schema, user_agent) as client:
            return client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)), self.options)

    def fetch(self, info: flight.FlightInfo) -> pa.Table:
        """Every endpoint of `info`, fetched from the coordinator."""
        with flight.connect(self.coordinator.uri) as client:
            return pa.concat_tables([client.do_get(endpoint.ticket, self.options).read_all()
                                     for endpoint in info.endpoints])

    def floe_run(self, sql: str, schema: str | None = None, **request) -> dict:
        """The JSON answer of the `floe.run` action for `sql` with "distributed":
        true; its `compute` says how the query ran (placement, shuffles, reruns)."""
        body = json.dumps({"mode": "query", "query": sql, "distributed": True, **request}).encode()
        with self.session(True, schema) as client:
            results = list(client.do_action(flight.Action("floe.run", body), self.options))
        return json.loads(results[0].body.to_pybytes())

    def answer_rows(self, answer: dict) -> pa.Table:
        """The rows of a `floe.run` answer (DoGet of its ticket)."""
        with flight.connect(self.coordinator.uri) as client:
            return client.do_get(flight.Ticket(base64.b64decode(answer["ticket"])), self.options).read_all()

    def stop(self):
        for worker in self.workers:
            worker.stop()
        self.coordinator.stop()


def spread_kind(info: flight.FlightInfo) -> str:
    """Where a FlightInfo's rows come from: "workers" (each partition's
    endpoint is on a worker), "coordinator" (it combines the partitions) or
    "one node"."""
    if all(endpoint.locations for endpoint in info.endpoints) and len(info.endpoints) > 1:
        return "workers"
    if floe_wire.ticket_kind(info.endpoints[0].ticket.ticket) == floe_wire.DISTRIBUTED:
        return "coordinator"
    return "one node"


class Cookies(flight.ClientMiddlewareFactory):
    """Sends back the session cookie the server set."""

    def __init__(self):
        self.cookie = None

    def start_call(self, info):
        jar = self

        class Middleware(flight.ClientMiddleware):
            def sending_headers(self):
                return {"cookie": jar.cookie} if jar.cookie else {}

            def received_headers(self, headers):
                for value in headers.get("set-cookie", []):
                    jar.cookie = value.split(";")[0]

        return Middleware()


def tool(name: str) -> str:
    for candidate in [os.environ.get(f"FLOE_{name.upper()}"), str(TOOLS / name), shutil.which(name)]:
        if candidate and Path(candidate).exists():
            return candidate
    import pytest

    pytest.fail(f"{name} is not installed: .ci/run installs it (cargo install {name} --root ~/.cache/floe-tools)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 30):
    if not wait_for(lambda: port_open(port), seconds, process):
        raise RuntimeError(f"nothing listens on port {port}:\n{log.read_text(errors='replace')}")


class Service:
    """A server process started by `launch`, its output in `log_path`."""

    def launch(self, args: list[str], log_path: Path, port: int, env: dict | None = None, seconds: float = 30):
        """Starts `args` and waits until `port` accepts connections."""
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {})})
        _STARTED.append(self.process)
        wait_for_port(port, self.process, log_path, seconds)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


class Garage(Service):
    """A one-node Garage cluster with one bucket and one key."""

    region = "garage"
    bucket = "lake"

    def __init__(self, root: Path):
        self.root = root
        self.s3_port, rpc_port, admin_port = free_port(), free_port(), free_port()
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"
        self.key_id = "GK" + secrets.token_hex(12)
        self.secret = secrets.token_hex(32)
        self.config = root / "garage.toml"
        self.config.write_text(f"""
metadata_dir = "{root / 'meta'}"
data_dir = "{root / 'data'}"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secrets.token_hex(32)}"
[s3_api]
s3_region = "{self.region}"
api_bind_addr = "127.0.0.1:{self.s3_port}"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
admin_token = "{secrets.token_hex(16)}"
""")
        self.launch([tool("garage"), "-c", str(self.config), "server"], root / "garage.log", self.s3_port)
        node = self.cli("node", "id", "-q").strip().split("@")[0]
        self.cli("layout", "assign", "-z", "dc1", "-c", "1G", node)
        self.cli("layout", "apply", "--version", "1")
        self.cli("key", "import", "--yes", "-n", "floe", self.key_id, self.secret)
        self.cli("bucket", "create", self.bucket)
        self.cli("bucket", "allow", "--read", "--write", "--owner", self.bucket, "--key", "floe")

    def cli(self, *args: str) -> str:
        done = subprocess.run([tool("garage"), "-c", str(self.config), *args], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"garage {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def iceberg_props(self) -> dict:
        """FileIO properties pyiceberg and rustberg take."""
        return {"s3.endpoint": self.endpoint, "s3.region": self.region, "s3.access-key-id": self.key_id,
                "s3.secret-access-key": self.secret, "s3.path-style-access": "true",
                "s3.force-virtual-addressing": "false"}

    def filesystem(self):
        from pyarrow import fs

        return fs.S3FileSystem(access_key=self.key_id, secret_key=self.secret, region=self.region,
                               endpoint_override=self.endpoint, scheme="http")

    def objects(self, prefix: str) -> list[str]:
        from pyarrow import fs

        selector = fs.FileSelector(f"{self.bucket}/{prefix}", recursive=True, allow_not_found=True)
        return [info.path for info in self.filesystem().get_file_info(selector) if info.type == fs.FileType.File]


class Rustberg(Service):
    """rustberg with an embedded catalog database and a warehouse that may be on S3."""

    def __init__(self, root: Path, warehouse: str, storage: dict | None = None, api_key: str | None = None):
        """With `api_key` the catalog requires it (`Authorization: Bearer <key>`)."""
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.warehouse = warehouse
        config = root / "rustberg.toml"
        lines = ["[storage]", f'catalog_url = "file://{root / "catalog.redb"}"', f'warehouse_location = "{warehouse}"']
        if storage:
            lines.append("[storage.properties]")
            lines += [f'"{key}" = "{value}"' for key, value in storage.items()]
        if api_key:
            lines += ["[[server.auth.api_keys]]", 'name = "floe"', 'tenant = "default"',
                      'roles = ["reader", "writer"]', 'key_env = "RUSTBERG_TEST_KEY"']
        config.write_text("\n".join(lines) + "\n")
        auth = [] if api_key else ["--no-auth"]
        self.launch([tool("rustberg"), "--config", str(config), "--dev", *auth, "--insecure-http",
                     "--host", "127.0.0.1", "--port", str(self.port), "--warehouse", warehouse],
                    root / "rustberg.log", self.port, env={"RUSTBERG_TEST_KEY": api_key or ""})
