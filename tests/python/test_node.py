"""Node.js: @lakehouse-rs/flight-sql-client with apache-arrow decoding its
results (tests/node), run by `node --test` against the client fixture's
plain server; `npm install` installs the locked packages (npm's cache is ~/.npm)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

NODE = Path(__file__).resolve().parents[1] / "node"


def test_node_client(client_servers):
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("Node.js and npm are not installed: .ci/run installs them (apt-get install nodejs npm)")
    if not (NODE / "node_modules" / "@lakehouse-rs" / "flight-sql-client").exists():
        install = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=NODE, capture_output=True, text=True, timeout=600)
        assert install.returncode == 0, install.stdout + install.stderr
    run = subprocess.run([npm, "test"], cwd=NODE, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "FLOE_ADDR": client_servers["plain"].address})
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert re.search(r"^# pass 4$", output, re.M), output[-2000:]
