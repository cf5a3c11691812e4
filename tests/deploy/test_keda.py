"""The KEDA ScaledObject scales workers on the queue depth metric of the catalogue."""

from __future__ import annotations

from pathlib import Path

import yaml

from karlo_core import metrics
from support.promql import metric_names

SCALED_OBJECT = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "keda-scaledobject.yaml"


def test_workers_scale_on_queue_depth() -> None:
    resource = yaml.safe_load(SCALED_OBJECT.read_text())
    assert (resource["apiVersion"], resource["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    (trigger,) = resource["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert metric_names(trigger["metadata"]["query"]) == {metrics.QUEUE_DEPTH.name}
    assert resource["spec"]["cooldownPeriod"] >= 300
