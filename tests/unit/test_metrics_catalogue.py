"""The metric catalogue follows Prometheus naming: prefix, base units, ``_total`` counters, bounded labels."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from karlo_core import metrics

UNITS = ("_seconds", "_bytes", "_images")
ALLOWED_LABELS = {"route", "method", "status", "kind", "outcome", "endpoint", "code", "format", "window", "queue"}
ALLOWED_LABELS |= {"state", "event", "backend"}


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


def test_labels_are_bounded_and_never_a_tenant() -> None:
    labels = {name for instrument in metrics.INSTRUMENTS for name in instrument._labelnames}
    labels |= {name for spec in metrics.STATE_GAUGES for name in spec.labels}
    assert labels <= ALLOWED_LABELS, labels - ALLOWED_LABELS
    assert not {"tenant", "job_id", "path"} & labels


def test_quota_gauges_carry_their_unit() -> None:
    quota = [spec for spec in metrics.STATE_GAUGES if "_quota_" in spec.name]
    assert all(spec.name.endswith(UNITS) or spec.name.endswith("_blocked") for spec in quota)
