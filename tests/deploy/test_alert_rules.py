"""The alert rules: promtool accepts them, its unit tests fire them, and the PrometheusRule matches them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from karlo_core.metrics import series_names
from karlo_deploy.prometheusrule import RULES, TARGET, render
from support.promql import metric_names, run_promtool

ROOT = Path(__file__).resolve().parents[2]
UNIT_TESTS = sorted((ROOT / "tests" / "promtool").glob("*.yml"))


def _rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules_file() -> None:
    result = run_promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_fire_the_alerts_on_synthetic_series() -> None:
    assert UNIT_TESTS
    result = run_promtool("test", "rules", *UNIT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    unit_tests = "\n".join(path.read_text() for path in UNIT_TESTS)
    assert "alertname: KarloQuotaNearlySpent" in unit_tests


def test_the_prometheusrule_holds_the_same_rules(tmp_path: Path) -> None:
    assert TARGET.read_text() == render(RULES.read_text()), "run: python -m karlo_deploy.prometheusrule"
    resource = yaml.safe_load(TARGET.read_text())
    assert (resource["apiVersion"], resource["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert resource["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump(resource["spec"]))
    result = run_promtool("check", "rules", spec)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_the_issue_asks_for_exists_and_reads_catalogue_metrics() -> None:
    rules = _rules(yaml.safe_load(RULES.read_text()))
    names = {rule["alert"] for rule in rules}
    assert {
        "KarloQuotaNearlySpent",
        "KarloJobsFailing",
        "KarloQueueGrowing",
        "KarloUpstreamErrors",
        "KarloWebhookDeadLetters",
        "KarloNoLiveWorkers",
    } <= names
    known = series_names()
    for rule in rules:
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= known, f"{rule['alert']} reads unknown metrics {used - known}"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
