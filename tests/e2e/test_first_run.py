"""The README's first run, executed as written: every block marked ``first-run``, in order, in a checkout of
its own (``make run``, the banner's exports pasted, a tenant from the admin CLI, a job with a webhook, the image
its link points at, the quota)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

from karlo_devstack.processes import free_port, port_open
from support.devstack import REPO, RunningStack, clean_env
from support.images import decode

#: ``<!-- first-run -->`` (or ``<!-- first-run: background -->`` for a step that keeps running) before a block.
MARKED_BLOCK = re.compile(r"<!-- first-run(?P<background>: background)? -->\s*```sh\n(?P<code>.*?)```", re.DOTALL)
READY = "Ctrl-C to stop"
RECEIVER_PORT = 9000


def first_run_blocks() -> list[tuple[bool, str]]:
    text = (REPO / "README.md").read_text()
    return [(bool(m.group("background")), m.group("code")) for m in MARKED_BLOCK.finditer(text)]


def checkout(home: Path) -> Path:
    """The checkout, linked entry by entry, except var/ (logs, Redis data, images): that is the test's own."""
    home.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in ("var", ".git"):
            (home / entry.name).symlink_to(entry)
    return home


def shell_script(exports: dict[str, str], blocks: list[tuple[bool, str]]) -> str:
    """One shell, as a developer's second terminal: the pasted exports, then each block; a background block
    is started with its output in a file, and the next step waits until it says it is ready."""
    lines = ["set -euo pipefail", *(f"export {name}={value}" for name, value in exports.items())]
    for index, (background, code) in enumerate(blocks):
        if background:
            log = f"background-{index}.log"
            lines += [
                f"(\n{code}) > {log} 2>&1 &",
                f"until grep -q '{READY}' {log}; do kill -0 $! || {{ cat {log}; exit 1; }}; sleep 0.2; done",
            ]
        else:
            lines.append(code)
    return "\n".join(lines)


def test_the_blocks_are_marked() -> None:
    blocks = first_run_blocks()
    assert blocks[0] == (True, "make run\n")
    assert sum(background for background, _ in blocks) == 2  # make run and the webhook receiver
    assert any("admin" in code and "create-tenant" in code for _, code in blocks)


def test_the_readme_first_run_works_as_written(tmp_path: Path) -> None:
    assert not port_open(RECEIVER_PORT), f"port {RECEIVER_PORT}, which the README's receiver uses, is taken"
    blocks = first_run_blocks()
    home = checkout(tmp_path / "checkout")
    env = clean_env(KARLOQ_API_PORT=str(free_port()))  # 8000 may be another stack's on a shared machine
    stack = RunningStack(["bash", "-c", blocks[0][1]], env=env, log_path=tmp_path / "make-run.log", cwd=home)
    try:
        exports = stack.exports
        assert sorted(exports) == ["KARLOQ_API_KEY", "KARLOQ_API_URL"], stack.banner
        shell = subprocess.Popen(
            ["bash", "-c", shell_script(exports, blocks[1:])],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = shell.communicate(timeout=240)
        finally:
            try:
                os.killpg(shell.pid, signal.SIGTERM)  # the receiver it left running
            except ProcessLookupError:
                pass
        assert shell.returncode == 0, f"{out}\n{err}"
    finally:
        stack.stop()

    assert '"status":"succeeded"' in out  # Prefer: wait answered with the finished job
    succeeded = json.loads((home / "var/run/webhooks/job.succeeded.json").read_text())
    link = succeeded["output"]["images"][0]["url"]
    assert link.startswith(exports["KARLOQ_API_URL"] + "/"), link
    assert decode((home / "lighthouse.webp").read_bytes()).format == "WEBP"
    quota = json.loads(out[out.rindex('{\n    "scopes"') :])
    day = next(w for w in quota["scopes"][0]["windows"] if w["window"] == "day")
    assert (quota["scopes"][0]["scope"], day["used"]) == ("karlo", 1)
