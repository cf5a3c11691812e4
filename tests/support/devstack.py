"""``python -m karlo_devstack`` (what ``make run`` runs) as a child process, and what its banner says."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

READY_LINE = "Press Ctrl-C to stop."
REPO = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any karlo-queue setting, plus ``extra``: a newcomer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KARLOQ_", "KAKAO_"))}
    return {**env, **extra}


class RunningStack:
    """One ``make run`` (or the command given), in its own session, read until its banner is complete."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path = REPO) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                list(argv), stdout=log, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd, start_new_session=True
            )
        self.banner = self._wait_for_banner(timeout=180)

    def _wait_for_banner(self, *, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if READY_LINE in text:
                return text
            if self._proc.poll() is not None:
                raise AssertionError(f"the stack exited with {self._proc.returncode}:\n{text[-5000:]}")
            time.sleep(0.2)
        raise AssertionError(f"no banner within {timeout}s:\n{self.log_path.read_text(errors='replace')[-5000:]}")

    @property
    def exports(self) -> dict[str, str]:
        """The banner's ``export NAME=value`` lines, as pasted into a shell."""
        return dict(re.findall(r"^\s*export (KARLOQ_[A-Z_]+)=(\S+)$", self.banner, flags=re.MULTILINE))

    def stop(self) -> None:
        """Ctrl-C, as a developer stops it; the stack stops its own processes before it exits."""
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGINT)
        if not self._group_gone(timeout=60):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait(timeout=10)

    def _group_gone(self, *, timeout: float) -> bool:
        """Wait until no process of the group is left (``make`` may exit before the stack it ran)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._proc.poll()  # reaps the direct child, which would otherwise stay in the group as a zombie
            try:
                os.killpg(self._proc.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        return False


def devstack_command(workdir: Path) -> list[str]:
    return [sys.executable, "-m", "karlo_devstack", "--workdir", str(workdir)]
