"""Helpers for checking PromQL held in deploy/ files: the metric names it reads, and promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

METRIC = re.compile(r"\bkarlo_queue_[a-z0-9_]+\b")


def metric_names(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


def promtool() -> str:
    """The promtool binary (Debian's prometheus package, installed by `make install`)."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (scripts/system-deps.sh installs Debian's prometheus)")
    return found


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, timeout=60, check=False)
