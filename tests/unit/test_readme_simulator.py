"""The README's simulator section names every simulator setting and control field."""

from __future__ import annotations

import subprocess
from pathlib import Path

from karlo_sim.app import SimControl
from karlo_sim.config import SimSettings
from karlo_sim.faults import FaultSpec
from karlo_sim.quota import QuotaSpec
from support.stacks import Services, sim_stats

README = Path(__file__).resolve().parents[2] / "README.md"


def simulator_section() -> str:
    text = README.read_text()
    start = text.index("## The Karlo simulator")
    return text[start : text.index("\n## ", start + 1)]


def test_every_simulator_setting_is_documented() -> None:
    section = simulator_section()
    missing = [name for name in SimSettings.model_fields if f"KARLO_SIM_{name.upper()}" not in section]
    assert missing == []


def test_every_control_field_is_documented() -> None:
    section = simulator_section()
    fields = [*SimControl.model_fields, *FaultSpec.model_fields, *QuotaSpec.model_fields]
    assert [name for name in fields if f"`{name}`" not in section] == []
    for path in ("/_sim/control", "/_sim/stats", "/_sim/reset"):
        assert path in section


def test_the_control_examples_work_as_written(services: Services, tmp_path: Path) -> None:
    """The section's shell block, run as written against the test simulator (found as make run leaves it)."""
    section = simulator_section()
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    (tmp_path / "var" / "run").mkdir(parents=True)
    (tmp_path / "var" / "run" / "stack.env").write_text(f"KARLOQ_KARLO_BASE_URL={services.sim_url}\n")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert '"faults_pending":4' in result.stdout  # 3 times -7, then the hang
    assert '"faults_pending": 1' in result.stdout  # the stats call: the 502 replaced them
    assert result.stdout.rstrip().endswith('{"status":"reset"}')
    assert sim_stats(services.sim_url)["faults_pending"] == 0
