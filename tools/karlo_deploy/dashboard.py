"""Render ``deploy/grafana/karlo-queue.json``, the Grafana dashboard, from the panel list below.

``python -m karlo_deploy.dashboard`` rewrites the file; a test fails while the two differ, and checks that
every query names metrics of the catalogue. Gauges read from Redis are reported by every process alike, so
they are read with ``max``; counters are summed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "deploy" / "grafana" / "karlo-queue.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 8
    description: str = ""


def _p95(metric: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile(0.95, sum by ({group}) (rate({metric}_bucket[5m])))"


ROWS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    (
        "Quota",
        (
            Panel(
                "Quota left (share of each window)",
                (
                    (
                        "max by (window) (karlo_queue_quota_remaining_images)"
                        " / max by (window) (karlo_queue_quota_limit_images)",
                        "{{window}}",
                    ),
                ),
                unit="percentunit",
                kind="bargauge",
            ),
            Panel(
                "Quota used and limit",
                (
                    ("max by (window) (karlo_queue_quota_used_images)", "used {{window}}"),
                    ("max by (window) (karlo_queue_quota_limit_images)", "limit {{window}}"),
                ),
            ),
            Panel(
                "Quota reservations",
                (
                    ("sum by (outcome) (rate(karlo_queue_quota_reservations_total[5m]))", "{{outcome}}"),
                    ("max(karlo_queue_quota_upstream_blocked)", "Karlo says spent (-10)"),
                ),
                unit="ops",
            ),
        ),
    ),
    (
        "Queue and workers",
        (
            Panel(
                "Queue depth (what the autoscaler reads)",
                (
                    ("max by (queue) (karlo_queue_queue_depth)", "{{queue}}"),
                    ("max by (queue, state) (karlo_queue_queue_messages)", "{{queue}} {{state}}"),
                ),
            ),
            Panel("Active jobs by status", (("max by (status) (karlo_queue_jobs_active)", "{{status}}"),)),
            Panel(
                "Live workers and Redis",
                (
                    ("max(karlo_queue_workers_live)", "live workers"),
                    ("min(karlo_queue_state_up)", "Redis readable"),
                ),
                kind="stat",
            ),
        ),
    ),
    (
        "Jobs",
        (
            Panel(
                "Jobs accepted and finished",
                (
                    ("sum by (kind) (rate(karlo_queue_jobs_accepted_total[5m]))", "accepted {{kind}}"),
                    ("sum by (outcome) (rate(karlo_queue_jobs_finished_total[5m]))", "{{outcome}}"),
                ),
                unit="ops",
            ),
            Panel(
                "Job time, p95",
                (
                    (_p95("karlo_queue_job_queued_seconds"), "queued"),
                    (_p95("karlo_queue_job_quota_wait_seconds"), "waiting for quota"),
                    (_p95("karlo_queue_job_end_to_end_seconds"), "end to end"),
                ),
                unit="s",
            ),
            Panel(
                "Failed jobs share",
                (
                    (
                        'sum(rate(karlo_queue_jobs_finished_total{outcome="failed"}[10m]))'
                        " / sum(rate(karlo_queue_jobs_finished_total[10m]))",
                        "failed",
                    ),
                ),
                unit="percentunit",
            ),
        ),
    ),
    (
        "Karlo and storage",
        (
            Panel(
                "Karlo calls by outcome",
                (
                    (
                        "sum by (endpoint, outcome) (rate(karlo_queue_upstream_calls_total[5m]))",
                        "{{endpoint}} {{outcome}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                "Karlo errors by code",
                (('sum by (code) (rate(karlo_queue_upstream_calls_total{outcome!="ok"}[5m]))', "code {{code}}"),),
                unit="ops",
            ),
            Panel("Karlo call time, p95", ((_p95("karlo_queue_job_upstream_seconds", "kind"), "{{kind}}"),), unit="s"),
            Panel(
                "Images stored",
                (("sum by (format) (rate(karlo_queue_images_stored_total[5m]))", "{{format}}"),),
                unit="ops",
                width=12,
            ),
            Panel(
                "Image bytes stored",
                (("sum by (format) (rate(karlo_queue_image_bytes_stored_total[5m]))", "{{format}}"),),
                unit="Bps",
                width=12,
            ),
        ),
    ),
    (
        "Scheduling",
        (
            Panel(
                "Queued images by tenant",
                (("max by (backend, tenant) (karlo_queue_sched_queued_images)", "{{backend}} {{tenant}}"),),
                description="Images waiting in tenant queues: the top tenants by name, the rest as other",
            ),
            Panel(
                "Share received vs entitled",
                (
                    (
                        "sum by (backend, tenant) (rate(karlo_queue_sched_dispatched_images[5m]))"
                        " / ignoring(tenant) group_left"
                        " sum by (backend) (rate(karlo_queue_sched_dispatched_images[5m]))",
                        "received {{backend}} {{tenant}}",
                    ),
                    ("max by (backend, tenant) (karlo_queue_sched_entitled_share)", "entitled {{backend}} {{tenant}}"),
                ),
                unit="percentunit",
            ),
            Panel(
                "Time to start p95 by priority",
                ((_p95("karlo_queue_job_time_to_start_seconds", "priority"), "{{priority}}"),),
                unit="s",
            ),
        ),
    ),
    (
        "API",
        (
            Panel(
                "API requests by route and status",
                (("sum by (route, status) (rate(karlo_queue_api_requests_total[5m]))", "{{route}} {{status}}"),),
                unit="reqps",
                width=12,
            ),
            Panel(
                "API latency p95 by route",
                ((_p95("karlo_queue_api_request_duration_seconds", "route"), "{{route}}"),),
                unit="s",
                width=12,
            ),
        ),
    ),
    (
        "Webhooks",
        (
            Panel(
                "Webhook attempts",
                (("sum by (outcome) (rate(karlo_queue_webhook_attempts_total[5m]))", "{{outcome}}"),),
                unit="ops",
            ),
            Panel(
                "Webhook delivery lag, p95",
                ((_p95("karlo_queue_webhook_delivery_lag_seconds", "event"), "{{event}}"),),
                unit="s",
            ),
            Panel(
                "Webhook dead letters (1 h)",
                (("sum by (event) (increase(karlo_queue_webhook_dead_letters_total[1h]))", "{{event}}"),),
            ),
        ),
    ),
)


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(panel.queries)
        ],
    }


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for title, row in ROWS:
        row_panel = {"id": len(panels) + 1, "type": "row", "title": title, "collapsed": False, "panels": []}
        panels.append({**row_panel, "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y}})
        y += 1
        x = 0
        for panel in row:
            if x + panel.width > WIDTH:
                x, y = 0, y + 8
            panels.append(_panel(panel, len(panels) + 1, x, y))
            x += panel.width
        y += 8
    return {
        "uid": "karlo-queue",
        "title": "karlo-queue",
        "tags": ["karlo-queue"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
            ]
        },
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


def main() -> int:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
