"""The Helm chart renders offline (Helm's own Go SDK through helm-python-sdk,
no cluster and no helm binary) and every manifest validates against the
Kubernetes schemas (kubernetes-validate, strict), for the default values and
for the variants a deployment chooses between."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "floe"

VARIANTS = {
    "defaults": {},
    "ephemeral shuffle, proxy endpoints, scheduling": {
        "shuffle": {"type": "ephemeral", "ephemeral": {"storageClassName": "fast", "size": "10Gi"}},
        "coordinator": {"endpoints": "proxy", "advertiseAddress": "floe.example.com:50051",
                        "nodeSelector": {"pool": "control"}},
        "workers": {"replicas": 5, "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {
                            "matchLabels": {"app.kubernetes.io/component": "worker"}}}}]}}},
        "s3": {"endpoint": "http://garage.storage:3900", "pathStyle": True},
        "extraCatalogs": '[[catalogs]]\nname = "lake"\ntype = "rest"\nuri = "http://rest:8181"\n',
    },
}


def render(values: dict) -> list[dict]:
    import helm_python as helm

    chart = helm.Chart.load(CHART)
    rendered = chart.render(values, name="lake", namespace="data", is_install=True)
    documents = []
    for path, text in sorted(rendered.items()):
        documents += [doc for doc in yaml.safe_load_all(text) if doc]
    return documents


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_chart_renders_and_validates(variant, tmp_path):
    documents = render(VARIANTS[variant])
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in documents)
    assert "Deployment/lake-floe-coordinator" in kinds and "StatefulSet/lake-floe-worker" in kinds
    assert "Service/lake-floe" in kinds and "Service/lake-floe-workers" in kinds
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(yaml.safe_dump_all(documents))
    done = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.34.0", str(manifests)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr

    by_name = {d["metadata"]["name"]: d for d in documents}
    headless = by_name["lake-floe-workers"]
    assert headless["spec"]["clusterIP"] == "None"
    coordinator = by_name["lake-floe-coordinator"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in coordinator["env"]}
    assert env["FLOE_WORKER_DNS"]["value"] == "lake-floe-workers.data.svc.cluster.local:50051"
    assert "valueFrom" in env["FLOE_S3_SECRET_ACCESS_KEY"] and "valueFrom" in env["FLOE_TOKEN"]
    assert "valueFrom" in env["FLOE_TICKET_KEY"], "workers and coordinator share the ticket key from a Secret"
    assert env["FLOE_QUERY_MEMORY_MB"]["value"] == "1024", "queries run capped by default in the chart"
    assert env["FLOE_RESULTS_LOCATION"]["value"] == "s3://lake/results", "every replica serves every download link"
    assert coordinator["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert coordinator["readinessProbe"]["httpGet"]["path"] == "/readyz"
    worker = by_name["lake-floe-worker"]
    assert worker["spec"]["replicas"] == VARIANTS[variant].get("workers", {}).get("replicas", 3)
    worker_env = {e["name"]: e for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert worker_env["FLOE_COORDINATOR"]["value"] == "lake-floe:50051"
    volumes = {v["name"]: v for v in worker["spec"]["template"]["spec"]["volumes"]}
    expected_shuffle = VARIANTS[variant].get("shuffle", {}).get("type", "emptyDir")
    assert expected_shuffle in volumes["shuffle"]
