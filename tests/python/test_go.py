"""Go clients (tests/go): the database/sql Flight SQL driver Grafana and usql
build on, Grafana's own call sequence, and the ADBC Go driver, run by
`go test` against the servers the client fixture starts."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

GO = Path(__file__).resolve().parents[1] / "go"
TESTS = ["TestDatabaseSQLQueries", "TestDatabaseSQLParameters", "TestDatabaseSQLTypes", "TestDatabaseSQLExec",
         "TestGrafanaCallSequence", "TestGrafanaGetsOneEndpointFromACluster", "TestPollFlightInfoAndSubstrait",
         "TestADBCGoDriver"]


def test_go_clients(client_servers):
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        pytest.fail("Go is not installed: the machine image provides /usr/local/go")
    run = subprocess.run([go, "test", "-count=1", "-v", "./..."], cwd=GO, capture_output=True, text=True, timeout=1200,
                         env={**os.environ, **client_servers["env"]})
    output = run.stdout + run.stderr
    passed = set(re.findall(r"^--- PASS: (\w+)", output, re.M))
    assert run.returncode == 0, output[-6000:]
    assert passed == set(TESTS), output[-3000:]
