"""The Arrow Flight SQL JDBC driver, which DBeaver, DataGrip and Tableau
load, against the real binary: the JUnit tests in tests/jdbc run by Maven
once per driver version against servers started here (plain, TLS with
tokens, users and grants, a cluster), and a sqlline session typed into tmux."""

import os

import pytest

from java_tools import classpath, junit
from terminal import Tmux

# 18.3.0 is the newest driver on Maven Central (arrow-java 19.0.0 published
# no JDBC driver) and what DBeaver bundles; 17.0.0 stands for older tools.
DRIVERS = ["18.3.0", "17.0.0"]
# A driver built from source into ~/.m2, e.g. FLOE_JDBC_EXTRA=19.0.0:flight-sql-jdbc-core.
EXTRA = [driver for driver in os.environ.get("FLOE_JDBC_EXTRA", "").split(",") if driver]


@pytest.mark.parametrize("driver", DRIVERS + EXTRA)
def test_jdbc_driver(client_servers, driver):
    result = junit(driver, client_servers["env"])
    problems = "\n\n".join(result["problems"]) or result["output"]
    assert result["returncode"] == 0 and result["failures"] == result["errors"] == 0, problems
    assert result["skipped"] == 0
    # Every test class ran: connect, queries, parameters, updates, metadata, cluster.
    assert result["tests"] >= 24, result
    for server in ("plain", "tls"):
        assert client_servers[server].alive(), client_servers[server].logs()


def test_sqlline_session(client_servers):
    """A person at sqlline: connect with a user and password over TLS, query, list tables, quit."""
    url = f"jdbc:arrow-flight-sql://{client_servers['tls'].address}/?useEncryption=true&tlsRootCerts={client_servers['ca']}"
    command = (f"java --add-opens=java.base/java.nio=ALL-UNNAMED -cp '{classpath(DRIVERS[0])}' sqlline.SqlLine "
               f"-u '{url}' -n dbeaver -p secret --maxWidth=200")
    console = Tmux("floe-sqlline", command)
    try:
        console.wait_for("0: jdbc:arrow-flight-sql:")
        console.type("SELECT species, count(*) AS n FROM default.flowers GROUP BY species ORDER BY species;")
        console.press("Enter")
        screen = console.wait_for("3 rows selected")
        for species in ("setosa", "versicolor", "virginica"):
            assert species in screen
        console.type("!tables")
        console.press("Enter")
        screen = console.wait_for("TABLE_SCHEM")
        assert "| flowers" in screen
        console.type("SELECT no_such_column FROM default.flowers;")
        console.press("Enter")
        console.wait_for("unable to find column")
        console.type("!quit")
        console.press("Enter")
    finally:
        console.close()
