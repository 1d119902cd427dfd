"""arrow-rs' `flight_sql_client` (the arrow-flight crate's CLI, installed by
.ci/run into ~/.cache/floe-tools): a statement, a prepared statement with
parameters converted to the types Floe reports, catalogs and tables, and
a token over TLS."""

import re
import subprocess

from harness import tool


def cli(server, *args: str, tls: bool = False, extra: tuple = ()) -> str:
    host, port = server.address.split(":")
    command = [tool("flight_sql_client"), "--host", host, "--port", port, *(("--tls",) if tls else ()), *extra, *args]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def cells(table: str) -> list[list[str]]:
    """The rows of a pretty-printed Arrow table."""
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("|")][1:]


def test_statements(client_servers):
    plain = client_servers["plain"]
    out = cli(plain, "statement-query", "SELECT species, count(*) AS n FROM default.flowers GROUP BY species ORDER BY species")
    assert cells(out) == [["setosa", "50"], ["versicolor", "50"], ["virginica", "50"]]
    literal = cells(cli(plain, "statement-query", "SELECT count(*) AS n FROM default.flowers WHERE sepal_length > 5.8"))
    bound = cells(cli(plain, "prepared-statement-query", "SELECT count(*) AS n FROM default.flowers WHERE sepal_length > $1",
                      "-p", "$1=5.8"))
    assert bound == literal and int(bound[0][0]) > 0
    # Each value is converted to the parameter's type as Floe reports it (here BIGINT and VARCHAR).
    typed = cells(cli(plain, "prepared-statement-query", "SELECT id FROM jdbc.types WHERE i = $1 AND s = $2",
                      "-p", "$1=42", "-p", "$2=héllo"))
    assert typed == [["1"]]


def test_metadata(client_servers):
    plain = client_servers["plain"]
    assert cells(cli(plain, "catalogs")) == [["floe"]]
    schemas = [row[1] for row in cells(cli(plain, "db-schemas", "floe"))]
    assert {"default", "jdbc", "big"} <= set(schemas)
    tables = cells(cli(plain, "tables", "floe", "--db-schema-filter", "jdbc", "--table-types", "TABLE"))
    assert ["floe", "jdbc", "types", "TABLE"] in tables
    assert cells(cli(plain, "table-types")) == [["TABLE"]]


def test_token_over_tls_is_refused_without_trust(client_servers):
    """The CLI trusts only public roots (webpki): Floe's test CA is refused, as it should be."""
    host, port = client_servers["tls"].address.split(":")
    run = subprocess.run([tool("flight_sql_client"), "--host", host, "--port", port, "--tls", "--token",
                          client_servers["env"]["FLOE_TOKEN"], "catalogs"], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and re.search(r"(?i)certificate|tls|transport", run.stdout + run.stderr)
