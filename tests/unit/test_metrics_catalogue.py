"""The metric catalogue follows Prometheus naming: prefix, base units, ``_total`` counters, bounded labels."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from karlo_core import metrics

UNITS = ("_seconds", "_bytes", "_images")
ALLOWED_LABELS = {"route", "method", "status", "kind", "outcome", "endpoint", "code", "format", "window", "queue"}
ALLOWED_LABELS |= {"state", "event", "backend", "priority"}
#: The scheduler's gauges name tenants, bounded: the top ones by queued images, the rest as "other".
TENANT_GAUGES = {metrics.SCHED_QUEUED_IMAGES, metrics.SCHED_DISPATCHED_IMAGES, metrics.SCHED_ENTITLED_SHARE}


def test_names_have_the_prefix_and_counters_end_in_total() -> None:
    for instrument in metrics.INSTRUMENTS:
        (family,) = instrument.describe()
        assert family.name.startswith("karlo_queue_")
        if isinstance(instrument, Counter):
            assert instrument._name + "_total" in metrics.series_names()
        if isinstance(instrument, Histogram):
            assert family.name.endswith("_seconds"), family.name
    for spec in metrics.STATE_GAUGES:
        assert spec.name.startswith("karlo_queue_")
        assert not spec.name.endswith("_total")


def test_labels_are_bounded_and_a_tenant_only_on_the_bounded_scheduler_gauges() -> None:
    labels = {name for instrument in metrics.INSTRUMENTS for name in instrument._labelnames}
    labels |= {name for spec in metrics.STATE_GAUGES if spec not in TENANT_GAUGES for name in spec.labels}
    assert labels <= ALLOWED_LABELS, labels - ALLOWED_LABELS
    assert not {"tenant", "job_id", "path"} & labels
    assert all(spec.labels == ("backend", "tenant") for spec in TENANT_GAUGES)


def test_quota_gauges_carry_their_unit() -> None:
    quota = [spec for spec in metrics.STATE_GAUGES if "_quota_" in spec.name]
    assert all(spec.name.endswith(UNITS) or spec.name.endswith("_blocked") for spec in quota)
