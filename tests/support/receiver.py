"""A real webhook receiver process for tests (see ``receiver_server.py``), and its remote control."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

from karlo_devstack.processes import ManagedProcess, free_port, http_ok

SERVER = Path(__file__).with_name("receiver_server.py")


class Receiver:
    """Starts, stops (goes "down") and scripts the receiver process; reads what it recorded."""

    def __init__(self, workdir: Path, name: str = "receiver") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}-{self.port}.jsonl"
        self._name = name
        self._workdir = workdir
        self._proc: ManagedProcess | None = None

    def start(self) -> Receiver:
        argv = [sys.executable, str(SERVER), str(self.port), str(self.log_path)]
        log = self._workdir / "logs" / f"{self._name}-{self.port}.log"
        self._proc = ManagedProcess(self._name, argv, log_path=log).start()
        self._proc.wait_ready(lambda: http_ok(f"{self.url}/_received"), timeout=15)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def script(self, path: str = "*", **rule: Any) -> None:
        httpx.post(f"{self.url}/_control", json={"path": path, **rule}, timeout=5).raise_for_status()

    def received(self, path: str | None = None) -> list[dict[str, Any]]:
        text = self.log_path.read_text() if self.log_path.exists() else ""
        records = [json.loads(line) for line in text.splitlines()]
        return [r for r in records if path is None or r["path"] == path]

    def hook(self, path: str = "/hook") -> str:
        return f"{self.url}{path}"
