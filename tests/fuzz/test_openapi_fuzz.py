"""Schemathesis against the served OpenAPI document, with every check: no server errors, no answer that
the document does not describe. Bounded and seeded here (a fixed seed keeps CI repeatable); ``make fuzz``
runs longer with fresh seeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.stacks import AppStack, Services, base_env

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = "20261125"


def schemathesis_command(api_url: str, api_key: str, *, max_examples: int, seed: str | None) -> list[str]:
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{api_url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {api_key}",
        "--max-examples",
        str(max_examples),
        # one worker: hypothesis describes its filters by parsing their source, and CPython 3.11's parser is not
        # safe to call from two threads at once ("AST constructor recursion depth mismatch")
        "--workers",
        "1",
        "--no-color",
    ]
    return command + (["--seed", seed] if seed else [])


def test_the_api_holds_to_its_openapi_document(services: Services, tmp_path: Path) -> None:
    stack = AppStack(Path(services.workdir) / "fuzz", base_env(services, "local")).start(workers=1)
    try:
        max_examples = int(os.environ.get("KARLOQ_FUZZ_EXAMPLES", "40"))
        seed = os.environ.get("KARLOQ_FUZZ_SEED", SEED) or None
        command = schemathesis_command(stack.api_url, stack.tenant.api_key, max_examples=max_examples, seed=seed)
        # in a scratch directory: schemathesis keeps a cache of what it found in its working directory
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
        assert " passed" in result.stdout
    finally:
        stack.stop()
