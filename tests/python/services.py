"""Real servers the tests start on loopback and stop: Garage (an S3
implementation) and rustberg (an Iceberg REST catalog), both built from
crates.io by .ci/run into ~/.cache/floe-tools."""

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

TOOLS = Path.home() / ".cache/floe-tools/bin"


def tool(name: str) -> str:
    for candidate in [os.environ.get(f"FLOE_{name.upper()}"), str(TOOLS / name), shutil.which(name)]:
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail(f"{name} is not installed: .ci/run installs it (cargo install {name} --root ~/.cache/floe-tools)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)


class Garage:
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
        self.log_path = root / "garage.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([tool("garage"), "-c", str(self.config), "server"],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.s3_port, self.process, self.log_path)
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

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


class Rustberg:
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
        self.log_path = root / "rustberg.log"
        self.log = open(self.log_path, "wb")
        auth = [] if api_key else ["--no-auth"]
        self.process = subprocess.Popen(
            [tool("rustberg"), "--config", str(config), "--dev", *auth, "--insecure-http",
             "--host", "127.0.0.1", "--port", str(self.port), "--warehouse", warehouse],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "RUSTBERG_TEST_KEY": api_key or ""})
        wait_for_port(self.port, self.process, self.log_path)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()
