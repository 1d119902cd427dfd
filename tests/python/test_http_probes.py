"""Kubernetes probes over plain HTTP on the Flight port (HTTP/1.1 and gRPC
share it), with a real HTTP client: /healthz and /readyz need no
credentials, anything else on HTTP without them is a JSON 401, and gRPC on
the same port is unaffected."""

import pyarrow.flight as flight
import requests

from clients import bearer, flowers_count
from harness import Rustberg


def test_probes_are_open_and_other_http_needs_credentials(start_server):
    floe = start_server("--no-scripts", "--token", "secret")
    base = f"http://{floe.address}"
    health = requests.get(f"{base}/healthz", timeout=10)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = requests.get(f"{base}/readyz", timeout=10)
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    refused = requests.get(f"{base}/api/v1/catalogs", timeout=10)
    assert refused.status_code == 401 and refused.json() == {"error": "Unauthorized"}
    with flight.connect(floe.uri) as client:
        assert flowers_count(client, bearer("secret")) == 150
        try:
            flowers_count(client)
            raise AssertionError("gRPC without the token must be refused")
        except flight.FlightUnauthenticatedError:
            pass


def test_readiness_fails_while_a_catalog_does_not_answer(start_server, tmp_path):
    warehouse = tmp_path / "rest-warehouse"
    warehouse.mkdir()
    rustberg = Rustberg(tmp_path, f"file://{warehouse}")
    config = tmp_path / "catalogs.toml"
    config.write_text(f'[[catalogs]]\nname = "lake"\ntype = "rest"\nuri = "{rustberg.uri}"\nwarehouse = "file://{warehouse}"\n')
    floe = start_server("--no-scripts", "--config", str(config))
    base = f"http://{floe.address}"
    assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
    rustberg.stop()
    gone = requests.get(f"{base}/readyz", timeout=10)
    assert gone.status_code == 503, gone.text
    assert gone.json()["catalog"] == "lake" and gone.json()["status"] == "unavailable"
    assert requests.get(f"{base}/healthz", timeout=10).status_code == 200  # alive, just not ready
