"""karloq stands alone: it imports none of the service's packages, and the service never imports it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "clients" / "python" / "src" / "karloq"
SERVICE_PACKAGES = ("karlo_core", "karlo_api", "karlo_worker", "karlo_sim", "karlo_devstack", "karlo_deploy")
SERVICE_DIRS = ("shared", "services", "tools", "bench")


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_sdk_imports_no_service_package() -> None:
    found = {str(p.relative_to(ROOT)): _imported(p) & set(SERVICE_PACKAGES) for p in SDK.rglob("*.py")}
    assert found and not {path: names for path, names in found.items() if names}


def test_the_service_never_imports_the_sdk() -> None:
    importers = [
        str(p.relative_to(ROOT)) for d in SERVICE_DIRS for p in (ROOT / d).rglob("*.py") if "karloq" in _imported(p)
    ]
    assert importers == []
