"""The Grafana dashboard: valid JSON, generated from its source, and every query reads catalogue metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from karlo_core import metrics
from karlo_deploy.dashboard import TARGET, render
from support.promql import metric_names, run_promtool


def _panels() -> list[dict[str, Any]]:
    dashboard = json.loads(TARGET.read_text())
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def test_the_dashboard_is_the_generated_one() -> None:
    assert TARGET.read_text() == render(), "run: python -m karlo_deploy.dashboard"


def test_every_panel_queries_metrics_of_the_catalogue() -> None:
    known = metrics.series_names()
    panels = _panels()
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = metric_names(target["expr"])
            assert used, f"{panel['title']}: {target['expr']}"
            assert used <= known, f"{panel['title']} reads unknown metrics {used - known}"


def test_the_dashboard_covers_quota_queue_jobs_upstream_api_and_webhooks() -> None:
    used = {name for panel in _panels() for target in panel["targets"] for name in metric_names(target["expr"])}
    wanted = {
        metrics.QUOTA_REMAINING.name,
        metrics.QUOTA_USED.name,
        metrics.QUEUE_DEPTH.name,
        metrics.JOBS_ACTIVE.name,
        metrics.WORKERS_LIVE.name,
        "karlo_queue_jobs_finished_total",
        "karlo_queue_job_end_to_end_seconds_bucket",
        "karlo_queue_job_quota_wait_seconds_bucket",
        "karlo_queue_upstream_calls_total",
        "karlo_queue_images_stored_total",
        "karlo_queue_api_requests_total",
        "karlo_queue_webhook_attempts_total",
        "karlo_queue_webhook_dead_letters_total",
    }
    assert wanted <= used, wanted - used


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    """Each query becomes a recording rule, so promtool's PromQL parser checks it."""
    exprs = [target["expr"] for panel in _panels() for target in panel["targets"]]
    rules = [{"record": f"karlo_queue:dashboard_query_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
