"""deploy/kubernetes/: every manifest validated offline against the Kubernetes schemas.

Core resources are checked by ``kubernetes-validate`` against the OpenAPI schemas of a
pinned Kubernetes release, which the package carries with it: the check runs with every
network connection refused. KEDA's ScaledObject is a custom resource those schemas do
not describe; it is checked against the fields KEDA documents for ``keda.sh/v1alpha1``
and held against the deployment it scales and the Redis lists kombu really writes. The
manifests are also held against the code they start, as ``test_compose`` does for
docker-compose.yml: real subcommands and options, real settings, real probe routes.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.test_compose import cli_group, option_names
from worker.queue_metrics import band_key, bands
from worker.settings import Settings

kubernetes_validate = pytest.importorskip("kubernetes_validate")

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "deploy" / "kubernetes"
#: The Kubernetes release the manifests are validated against.
KUBERNETES = "1.32.0"

#: The parts of KEDA's ScaledObject (keda.sh/v1alpha1) the manifests use, as KEDA's
#: documentation describes them; unknown fields are refused.
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {"name": {"type": "string"}, "kind": {"type": "string"},
                                   "apiVersion": {"type": "string"}}},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "triggers": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "required": ["type", "metadata"],
                        "properties": {
                            "type": {"enum": ["redis", "prometheus"]},
                            "metadata": {"type": "object",
                                         "additionalProperties": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
}


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    """Every resource of every manifest file (kustomizations aside), with its file."""
    found = []
    for path in sorted(FOLDER.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is not None:
                found.append((path, document))
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    found: list[dict[str, Any]] = spec["containers"]
    return found


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every outgoing connection of this process refused while the test runs."""
    def refuse(*_: object, **__: object) -> None:
        raise OSError("network access during an offline check")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def test_every_core_manifest_validates_offline_against_the_kubernetes_schemas(
    offline: None,
) -> None:
    checked = []
    for path, doc in manifests():
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        checked.append((path.name, doc["kind"]))
    kinds = {kind for _, kind in checked}
    assert kinds >= {"ConfigMap", "Secret", "Job", "Deployment", "Service",
                     "PodDisruptionBudget"}


def test_a_manifest_with_a_wrong_field_is_refused_offline(offline: None) -> None:
    (deployment,) = [doc for doc in of_kind("Deployment")
                     if doc["metadata"]["name"] == "adreview-api"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)
    unknown = yaml.safe_load(yaml.safe_dump(deployment))
    unknown["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, KUBERNETES, strict=True)


def test_each_kustomization_lists_every_manifest_of_its_folder() -> None:
    for kustomization in FOLDER.rglob("kustomization.yaml"):
        listed = set(yaml.safe_load(kustomization.read_text(encoding="utf-8"))["resources"])
        present = {p.name for p in kustomization.parent.glob("*.yaml")}
        assert listed <= present, f"{kustomization}: lists missing files"
        # The example Secret is for reading, never applied from the repository.
        assert present - listed - {"kustomization.yaml"} <= {"secret.example.yaml"}


def test_the_scaled_objects_scale_the_workers_on_the_lists_kombu_writes() -> None:
    deployments = {doc["metadata"]["name"]: doc for doc in of_kind("Deployment")}
    config = Settings()
    scaled = of_kind("ScaledObject")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled} == {
        "adreview-worker", "adreview-worker-gpu"}
    for obj in scaled:
        jsonschema.validate(obj, SCALED_OBJECT)
        target = deployments[obj["spec"]["scaleTargetRef"]["name"]]
        command = containers(target)[0]["command"]
        queue = command[command.index("--queues") + 1]
        lists = {t["metadata"]["listName"] for t in obj["spec"]["triggers"]
                 if t["type"] == "redis"}
        expected = {band_key(queue, step) for _, step in bands()}
        if queue == config.queue:  # the CPU queue: every priority band counts
            assert lists == expected
        else:
            assert lists <= expected and queue in lists
        assert obj["spec"]["minReplicaCount"] >= 1  # a worker is always there to sweep


def test_every_adreview_command_is_a_real_subcommand_with_real_options() -> None:
    group = cli_group()
    seen = set()
    for kind in ("Deployment", "Job"):
        for doc in of_kind(kind):
            for container in containers(doc):
                words = container.get("command") or []
                if words[:1] != ["adreview"]:
                    continue
                name = words[1]
                seen.add(name)
                assert name in group.commands, f"`adreview {name}` is not a command"
                known = option_names(group.commands[name])
                for word in words[2:]:
                    if word.startswith("-"):
                        assert word in known, f"`adreview {name}` has no option {word}"
    assert seen == {"serve", "worker", "migrate"}


def test_every_adreview_variable_is_a_settings_field() -> None:
    fields = {f"ADREVIEW_{name.upper()}" for name in Settings.model_fields}
    names = set()
    for doc in of_kind("ConfigMap"):
        names |= set(doc["data"])
    for doc in of_kind("Secret"):
        names |= set(doc["stringData"])
    for kind in ("Deployment", "Job"):
        for doc in of_kind(kind):
            for container in containers(doc):
                names |= {e["name"] for e in container.get("env", [])}
    adreview = {n for n in names if n.startswith("ADREVIEW_")}
    assert adreview, "no ADREVIEW_ setting in the manifests"
    assert adreview <= fields, sorted(adreview - fields)


def test_the_probes_ask_routes_and_files_the_code_serves() -> None:
    from worker.api.routes import operations

    routes = {getattr(r, "path", None) for r in operations.router.routes}
    (api,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "adreview-api"]
    probes = containers(api)[0]
    assert probes["livenessProbe"]["httpGet"]["path"] == "/health"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert {"/health", "/ready", "/metrics"} <= routes
    heartbeat_file = of_kind("ConfigMap")[0]["data"]["ADREVIEW_HEARTBEAT_FILE"]
    for doc in of_kind("Deployment"):
        if not doc["metadata"]["name"].startswith("adreview-worker"):
            continue
        command = containers(doc)[0]["livenessProbe"]["exec"]["command"]
        assert command[:3] == ["python", "-m", "worker.heartbeat"]
        assert command[3] == heartbeat_file
