"""The Kubernetes manifests hang together: names, labels, ports, commands and settings all exist."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from karlo_core.queue import Queue
from karlo_core.settings import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
DOCKERFILE = K8S.parents[1] / "Dockerfile"


def _documents() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _documents() if doc["kind"] == kind]


def _setting_names() -> set[str]:
    names = {f"KARLOQ_{name.upper()}" for name in Settings.model_fields}
    return names | {"KAKAO_REST_API_KEY"}


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers


def _module_of(command: list[str]) -> str:
    assert command[:2] == ["python", "-m"], command
    return command[2]


def test_the_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    (kustomization,) = _of_kind("Kustomization")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("deployment", _of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_deployments_run_real_modules_with_known_settings(deployment: dict[str, Any]) -> None:
    template = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    (configmap,) = _of_kind("ConfigMap")
    (secret,) = _of_kind("Secret")
    for container in _containers(deployment):
        assert importlib.util.find_spec(_module_of(container["command"])) is not None
        probe = container["livenessProbe"]
        if "exec" in probe:
            assert importlib.util.find_spec(_module_of(probe["exec"]["command"])) is not None
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        assert set(env) | set(configmap["data"]) | set(secret["stringData"]) <= _setting_names()
        for queue in env.get("KARLOQ_WORKER_QUEUES", "jobs").split(","):
            Queue(queue)


def test_generation_workers_outlive_a_karlo_call_when_stopping() -> None:
    (worker,) = [d for d in _of_kind("Deployment") if d["metadata"]["name"] == "karlo-queue-worker"]
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > Settings.model_fields["karlo_read_timeout_seconds"].default


def test_scaling_and_scraping_point_at_what_exists() -> None:
    deployments = {d["metadata"]["name"]: d for d in _of_kind("Deployment")}
    (scaled,) = _of_kind("ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] in deployments
    ports = {p["name"] for d in deployments.values() for c in _containers(d) for p in c.get("ports", [])}
    (monitor,) = _of_kind("PodMonitor")
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} <= ports
    (service,) = _of_kind("Service")
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_the_image_runs_unprivileged_and_starts_the_api() -> None:
    text = DOCKERFILE.read_text()
    assert "USER 10001" in text
    assert 'CMD ["python", "-m", "karlo_api"]' in text


def _pod_and_containers(deployment: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod, [*pod.get("initContainers", []), *pod["containers"]]


@pytest.mark.parametrize("deployment", _of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_every_container_is_locked_down(deployment: dict[str, Any]) -> None:
    """No capability, no privilege escalation, the runtime's seccomp profile, a read-only root filesystem
    with emptyDir volumes wherever it writes (at least /tmp), and no service-account token."""
    pod, containers = _pod_and_containers(deployment)
    assert pod.get("automountServiceAccountToken") is False
    pod_context = pod["securityContext"]
    assert pod_context["runAsNonRoot"] is True and pod_context["runAsUser"] != 0
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for container in containers:
        context = container["securityContext"]
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile"))
        assert seccomp == {"type": "RuntimeDefault"}, container["name"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert not context["capabilities"].get("add")
        assert context.get("privileged") is not True
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, "Python and the worker's heartbeat write to /tmp"
        for name in mounts.values():
            assert "emptyDir" in volumes[name], f"{name} is writable scratch space, not a host path"


def test_redis_is_reached_with_a_password_kept_in_the_secret() -> None:
    (configmap,) = _of_kind("ConfigMap")
    (secret,) = _of_kind("Secret")
    assert "KARLOQ_REDIS_URL" not in configmap["data"]
    assert "KARLOQ_BROKER_URL" not in configmap["data"]
    url = urlsplit(secret["stringData"]["KARLOQ_REDIS_URL"])
    assert url.scheme in ("redis", "rediss") and url.password
    for deployment in _of_kind("Deployment"):
        for container in _pod_and_containers(deployment)[1]:
            refs = [e.get("secretRef", {}).get("name") for e in container.get("envFrom", [])]
            assert secret["metadata"]["name"] in refs, container["name"]
            assert all(e["name"] != "KARLOQ_REDIS_URL" for e in container.get("env", []))


def test_worker_exporters_are_reachable_by_the_pod_monitor() -> None:
    """The exporter listens on the pod's interfaces, on the port every worker container names ``metrics``."""
    (configmap,) = _of_kind("ConfigMap")
    (monitor,) = _of_kind("PodMonitor")
    data = configmap["data"]
    assert data["KARLOQ_WORKER_METRICS_HOST"] == "0.0.0.0"
    endpoints = monitor["spec"]["podMetricsEndpoints"]
    assert {"port": "metrics", "path": "/metrics"} in [{k: e.get(k) for k in ("port", "path")} for e in endpoints]
    workers = [d for d in _of_kind("Deployment") if "karlo_worker" in _containers(d)[0]["command"]]
    assert workers
    for deployment in workers:
        (container,) = _containers(deployment)
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        port = int(env.get("KARLOQ_WORKER_METRICS_PORT", data["KARLOQ_WORKER_METRICS_PORT"]))
        assert {"name": "metrics", "containerPort": port} in container["ports"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
