"""Render ``deploy/k8s/prometheusrule.yaml`` (a PrometheusRule) from ``deploy/prometheus/alerts.yml``.

``python -m karlo_deploy.prometheusrule`` rewrites the file; a test fails while the two differ.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
TARGET = ROOT / "deploy" / "k8s" / "prometheusrule.yaml"
HEADER = (
    "# Generated from deploy/prometheus/alerts.yml by `python -m karlo_deploy.prometheusrule`; edit that file.\n"
    "# The Prometheus Operator picks it up when its ruleSelector matches these labels.\n"
)


class _BlockStyleDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as ``|`` blocks, as they are written in the rules file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStyleDumper.add_representer(str, _str)


def render(rules_text: str) -> str:
    rules: dict[str, Any] = yaml.safe_load(rules_text)
    resource = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "karlo-queue",
            "labels": {"app.kubernetes.io/name": "karlo-queue", "app.kubernetes.io/component": "alerts"},
        },
        "spec": {"groups": rules["groups"]},
    }
    body = yaml.dump(resource, Dumper=_BlockStyleDumper, sort_keys=False, width=120, allow_unicode=True)
    return HEADER + body


def main() -> int:
    TARGET.write_text(render(RULES.read_text()))
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
