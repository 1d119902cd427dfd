"""Maven runs of the JUnit module in tests/jdbc (the Flight SQL JDBC driver)
and its classpath for sqlline."""

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

JDBC = Path(__file__).resolve().parents[1] / "jdbc"


def maven(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    if shutil.which("mvn") is None:
        pytest.fail("Maven is not installed: .ci/run installs it (apt-get install maven)")
    return subprocess.run(["mvn", "-B", "-q", *args], cwd=JDBC, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def junit(driver: str, env: dict) -> dict:
    """Runs the JUnit tests with `driver` (`version`, or `version:artifact`
    for a driver in the local Maven repository); returns counts and failures."""
    version, _, artifact = driver.partition(":")
    reports = JDBC / "target" / "surefire-reports"
    shutil.rmtree(reports, ignore_errors=True)
    run = maven(f"-Ddriver.version={version}", f"-Ddriver.artifact={artifact or 'flight-sql-jdbc-driver'}", "test", env=env)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "problems": []}
    for report in sorted(reports.glob("TEST-*.xml")):
        suite = ET.parse(report).getroot()
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] += int(suite.get(key, "0"))
        for case in suite.iter("testcase"):
            for problem in [*case.findall("failure"), *case.findall("error")]:
                totals["problems"].append(f"{case.get('classname')}.{case.get('name')}: {problem.get('message')}\n"
                                          f"{(problem.text or '')[:1500]}")
    totals["output"] = (run.stdout + run.stderr)[-4000:]
    totals["returncode"] = run.returncode
    return totals


def classpath(driver_version: str) -> str:
    out = JDBC / "target" / f"classpath-{driver_version}.txt"
    run = maven(f"-Ddriver.version={driver_version}", "dependency:build-classpath", "-Dmdep.includeScope=test",
                f"-Dmdep.outputFile={out}")
    assert run.returncode == 0, run.stdout + run.stderr
    return out.read_text().strip()
