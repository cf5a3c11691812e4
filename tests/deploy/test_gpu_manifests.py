"""The open Karlo overlay (deploy/k8s/gpu) hangs together: a GPU worker of the karlo-open queue that is ready
only once its weights are loaded, scaled on that queue's depth, with the weights on a volume it mounts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

from karlo_core import metrics
from karlo_core.backends.catalogue import KARLO_OPEN, backend_queue
from karlo_core.settings import Settings
from support.promql import metric_names

GPU = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "gpu"
DOCKERFILE = GPU.parents[2] / "Dockerfile"


def _documents() -> dict[str, dict[str, Any]]:
    """Every document of the overlay, by kind (one of each)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(GPU.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["kind"] not in found, f"two {doc['kind']} in the overlay"
            found[doc["kind"]] = doc
    return found


def _worker() -> dict[str, Any]:
    (container,) = _documents()["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _env() -> dict[str, str]:
    return {e["name"]: e["value"] for e in _worker()["env"]}


def test_the_overlay_adds_every_manifest_to_the_base() -> None:
    kustomization = _documents()["Kustomization"]
    on_disk = {p.name for p in GPU.glob("*.yaml")} - {"kustomization.yaml"}
    patches = {patch["path"] for patch in kustomization["patches"]}
    assert set(kustomization["resources"]) | patches == on_disk | {"../"}
    assert (GPU.parent / "kustomization.yaml").exists()


def test_the_gpu_worker_consumes_only_the_open_karlo_queue_with_known_settings() -> None:
    known = {f"KARLOQ_{name.upper()}" for name in Settings.model_fields}
    env = _env()
    assert set(env) <= known
    assert env["KARLOQ_WORKER_QUEUES"] == backend_queue(KARLO_OPEN)
    assert env["KARLOQ_OPEN_KARLO_DEVICE"] == "cuda"
    patch = _documents()["ConfigMap"]["data"]
    assert set(patch) <= known
    assert KARLO_OPEN in patch["KARLOQ_ENABLED_BACKENDS"].split(",")


def test_one_gpu_per_pod_on_tainted_gpu_nodes() -> None:
    spec = _documents()["Deployment"]["spec"]["template"]["spec"]
    resources = _worker()["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    # Long enough for a running job to finish when the pod is stopped.
    assert spec["terminationGracePeriodSeconds"] >= 300


def test_the_gpu_worker_is_locked_down_like_the_other_workers() -> None:
    """As deploy/k8s: no capability, no privilege escalation, the runtime's seccomp profile, a read-only root
    filesystem writing only to emptyDir scratch space, no service-account token; the weights only read."""
    pod = _documents()["Deployment"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = _worker()["securityContext"]
    assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in _worker()["volumeMounts"]:
        assert "emptyDir" in volumes[mount["name"]] or mount.get("readOnly") is True, mount
    assert "/tmp" in {m["mountPath"] for m in _worker()["volumeMounts"]}
    assert {"secretRef": {"name": "karlo-queue"}} in _worker()["envFrom"]
    assert "KARLOQ_REDIS_URL" not in _env()


def test_the_weights_come_from_the_volume_the_settings_name() -> None:
    documents = _documents()
    spec = documents["Deployment"]["spec"]["template"]["spec"]
    (models,) = [v for v in spec["volumes"] if v["name"] == "models"]
    assert models["persistentVolumeClaim"]["claimName"] == documents["PersistentVolumeClaim"]["metadata"]["name"]
    (mount,) = [m for m in _worker()["volumeMounts"] if m["name"] == "models"]
    assert mount["readOnly"] is True
    env = _env()
    for setting in ("KARLOQ_OPEN_KARLO_MODEL", "KARLOQ_OPEN_KARLO_VARIATIONS_MODEL"):
        assert env[setting].startswith(mount["mountPath"] + "/")


def test_ready_only_once_loaded() -> None:
    """The worker touches its heartbeat file only once its consumer runs, after the weights are loaded."""
    worker = _worker()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = worker[probe]["exec"]["command"]
        assert command[:2] == ["python", "-m"] and importlib.util.find_spec(command[2]) is not None
    assert worker["startupProbe"]["periodSeconds"] * worker["startupProbe"]["failureThreshold"] >= 300
    assert importlib.util.find_spec(worker["command"][2]) is not None


def test_keda_scales_the_gpu_workers_on_their_queue() -> None:
    documents = _documents()
    scaled = documents["ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == documents["Deployment"]["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    query = trigger["metadata"]["query"]
    assert metric_names(query) == {metrics.QUEUE_DEPTH.name}
    assert f'queue="{backend_queue(KARLO_OPEN)}"' in query
    assert scaled["spec"]["cooldownPeriod"] >= 300


def test_the_image_has_a_gpu_target_with_the_model_stack() -> None:
    text = DOCKERFILE.read_text()
    assert "AS gpu" in text and '".[model]"' in text
    assert text.rstrip().endswith('CMD ["python", "-m", "karlo_api"]'), "the default target stays the API image"
