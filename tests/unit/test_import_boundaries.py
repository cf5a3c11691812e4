"""The import contracts in .importlinter hold for the code as it is, and break on a module that crosses one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
PACKAGES = {
    "karlo_core": "shared/karlo_core",
    "karlo_api": "services/api/karlo_api",
    "karlo_worker": "services/worker/karlo_worker",
    "karlo_sim": "services/karlo_sim/karlo_sim",
    "karlo_devstack": "tools/karlo_devstack",
    "karlo_deploy": "tools/karlo_deploy",
    "karloq": "clients/python/src/karloq",
}


def _lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else dict(os.environ)
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _copy_of_the_tree(tmp_path: Path) -> Path:
    """Every root package under one folder, with the contracts beside it."""
    source = tmp_path / "src"
    for name, path in PACKAGES.items():
        shutil.copytree(ROOT / path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return source


def test_the_code_keeps_every_contract() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_a_core_module_importing_the_api_breaks_the_build(tmp_path: Path) -> None:
    source = _copy_of_the_tree(tmp_path)
    (source / "karlo_core" / "crossing.py").write_text("from karlo_api import problems\n")
    result = _lint_imports(tmp_path, source)
    assert result.returncode != 0
    assert "The core never imports the API, worker, simulator, tools or client BROKEN" in result.stdout
    assert "karlo_core.crossing -> karlo_api.problems" in result.stdout


def test_the_api_importing_the_worker_breaks_the_build(tmp_path: Path) -> None:
    source = _copy_of_the_tree(tmp_path)
    (source / "karlo_api" / "crossing.py").write_text("import karlo_worker.pipeline\n")
    result = _lint_imports(tmp_path, source)
    assert result.returncode != 0
    assert "The API and the worker never import each other BROKEN" in result.stdout


def test_the_simulator_importing_the_core_breaks_the_build(tmp_path: Path) -> None:
    source = _copy_of_the_tree(tmp_path)
    (source / "karlo_sim" / "crossing.py").write_text("from karlo_core.karlo import rules\n")
    result = _lint_imports(tmp_path, source)
    assert result.returncode != 0
    assert "The simulator imports none of the service's packages BROKEN" in result.stdout
