"""Reading server-sent event streams of the API under test, over the real wire."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from support.api import Caller


@dataclass(frozen=True)
class Sse:
    event: str
    data: dict[str, Any]
    id: str | None


def parse_sse(lines: Iterator[str]) -> Iterator[Sse | None]:
    """Events from a stream's lines; None for each heartbeat comment."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            yield None
        elif line == "":
            if "event" in fields or "data" in fields:
                yield Sse(fields.get("event", "message"), json.loads(fields.get("data", "{}")), fields.get("id"))
            fields = {}
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def stream_url(caller: Caller, path: str = "/v1/events") -> str:
    return f"{caller.api_url}{path}"


@dataclass
class Listener:
    """A stream read on a thread, collecting its events until stopped or the server ends it."""

    caller: Caller
    path: str = "/v1/events"
    params: dict[str, Any] = field(default_factory=dict)
    last_event_id: str | None = None
    events: list[Sse] = field(default_factory=list)
    heartbeats: int = 0
    status_code: int | None = None
    ended: bool = False
    _opened: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Listener:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "the stream did not open"
        return self

    def _read(self) -> None:
        headers = dict(self.caller.headers)
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        timeout = httpx.Timeout(10, read=60)
        try:
            with httpx.stream(
                "GET", stream_url(self.caller, self.path), headers=headers, params=self.params, timeout=timeout
            ) as response:
                self.status_code = response.status_code
                self._opened.set()
                if response.status_code != 200:
                    return
                for item in parse_sse(response.iter_lines()):
                    if self._stop.is_set():
                        return
                    if item is None:
                        self.heartbeats += 1
                    else:
                        self.events.append(item)
            self.ended = True
        finally:
            self._opened.set()

    def stop(self) -> None:
        """Cut the stream (the connection closes at the next line the server sends)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wait_for(self, predicate: Any, *, timeout: float = 60, what: str = "events") -> list[Sse]:
        deadline = time.monotonic() + timeout
        while not predicate(self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {[(e.event, e.id) for e in self.events]}")
            time.sleep(0.05)
        return list(self.events)

    def wait_ended(self, timeout: float = 60) -> None:
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        assert self.ended, f"the stream did not end: {[(e.event, e.id) for e in self.events]}"


def of_job(events: list[Sse], job_id: str) -> list[Sse]:
    return [e for e in events if e.data.get("id") == job_id]


def finished(job_ids: set[str]) -> Any:
    """A predicate: every job in ``job_ids`` has its terminal event among the events."""
    terminal = {"job.succeeded", "job.failed", "job.canceled"}

    def done(events: list[Sse]) -> bool:
        return job_ids <= {e.data.get("id") for e in events if e.event in terminal}

    return done
