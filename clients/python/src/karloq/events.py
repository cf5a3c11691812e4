"""Server-sent event streams: every event of your jobs (``GET /v1/events``) or one job's
(``GET /v1/jobs/{id}/events``), as they happen.

A dropped connection is opened again with ``Last-Event-ID``, so an iteration neither misses nor repeats an
event; a ``reset`` event says some were no longer kept (re-read what you need). A job's stream ends after
its terminal event.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from karloq._drivers import AsyncDriver, Connection, SyncDriver
from karloq._ops import Call, QueryParam
from karloq.models import Batch, Job, ProgressEvent, ResetEvent

EVENT_STREAM = "text/event-stream"
#: Seconds a stream may stay silent beyond the client's timeout (the service sends a heartbeat every 15 s).
SILENCE_SECONDS = 60.0
PROGRESS_EVENT = "job.progress"
TERMINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.canceled"})


@dataclass(frozen=True)
class StreamEvent:
    """One event: ``id`` (send it as ``last_event_id`` to resume after it), its name, and its JSON data."""

    id: str | None
    event: str
    data: dict[str, Any]

    @property
    def job(self) -> Job | None:
        """The job as at the event (``job.*`` events but ``job.progress``), as its webhook shows it."""
        if self.event == PROGRESS_EVENT or not self.event.startswith("job."):
            return None
        return Job.model_validate(self.data)

    @property
    def progress(self) -> ProgressEvent | None:
        """For ``job.progress``: the job's denoising steps done of the total (a local backend's)."""
        return ProgressEvent.model_validate(self.data) if self.event == PROGRESS_EVENT else None

    @property
    def batch(self) -> Batch | None:
        """The batch, for ``batch.completed``."""
        return Batch.model_validate(self.data) if self.event == "batch.completed" else None

    @property
    def reset(self) -> ResetEvent | None:
        """For ``reset``: why events were missed (and, on a job's stream, the job as it is now)."""
        return ResetEvent.model_validate(self.data) if self.event == "reset" else None

    @property
    def ends_job(self) -> bool:
        return self.event in TERMINAL_EVENTS


class _Parser:
    """Lines in, events out (``text/event-stream``); a comment line (a heartbeat) gives None."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}

    def feed(self, line: str) -> StreamEvent | None:
        if line.startswith(":"):
            return None
        if line:
            name, _, value = line.partition(":")
            self._fields[name] = value.removeprefix(" ")
            return None
        fields, self._fields = self._fields, {}
        if "data" not in fields:
            return None
        return StreamEvent(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"]))


def _stream_call(path: str, params: Sequence[QueryParam], last_event_id: str | None) -> Call:
    headers = {"Accept": EVENT_STREAM} | ({"Last-Event-ID": last_event_id} if last_event_id else {})
    return Call("GET", path, params=list(params), headers=headers, extra_seconds=SILENCE_SECONDS)


def _request(
    connection: Connection, http: httpx.Client | httpx.AsyncClient, step: Call, deadline: float | None
) -> httpx.Request:
    """The stream's request; with a ``deadline``, a read waits no longer than the time left."""
    request = connection.request(http, step)
    if deadline is not None:
        left = max(deadline - time.monotonic(), 0.01)
        read = min(left, connection.timeout + SILENCE_SECONDS)
        request.extensions["timeout"] = httpx.Timeout(connection.timeout, read=read).as_dict()
    return request


def _ends(event: StreamEvent, ends_job: bool) -> bool:
    return ends_job and (event.ends_job or (event.event == "reset" and bool(event.data.get("job"))))


def follow(
    driver: SyncDriver,
    path: str,
    params: Sequence[QueryParam] = (),
    *,
    last_event_id: str | None = None,
    ends_job: bool = False,
    deadline: float | None = None,
) -> Iterator[StreamEvent]:
    """The stream's events, reconnecting after ``last_event_id`` as needed; stops at ``deadline``
    (``time.monotonic()``)."""
    connection, http = driver.connection, driver.http
    retry = 0
    while deadline is None or time.monotonic() < deadline:
        step = _stream_call(path, params, last_event_id)
        try:
            response = http.send(_request(connection, http, step, deadline), stream=True)
            try:
                if not response.is_success:
                    response.read()
                    time.sleep(connection.retry_delay(step, retry, response))  # raises when not retried
                    retry += 1
                    continue
                retry = 0
                parser = _Parser()
                for line in response.iter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        last_event_id = event.id or last_event_id
                        yield event
                        if _ends(event, ends_job):
                            return
                    if deadline is not None and time.monotonic() >= deadline:
                        return
            finally:
                response.close()
            if ends_job:
                return  # the service ended the job's stream
        except httpx.TransportError as exc:
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(connection.retry_delay(step, retry, exc))
            retry += 1


async def afollow(
    driver: AsyncDriver,
    path: str,
    params: Sequence[QueryParam] = (),
    *,
    last_event_id: str | None = None,
    ends_job: bool = False,
    deadline: float | None = None,
) -> AsyncIterator[StreamEvent]:
    """:func:`follow`, with ``await``."""
    connection, http = driver.connection, driver.http
    retry = 0
    while deadline is None or time.monotonic() < deadline:
        step = _stream_call(path, params, last_event_id)
        try:
            response = await http.send(_request(connection, http, step, deadline), stream=True)
            try:
                if not response.is_success:
                    await response.aread()
                    await asyncio.sleep(connection.retry_delay(step, retry, response))
                    retry += 1
                    continue
                retry = 0
                parser = _Parser()
                async for line in response.aiter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        last_event_id = event.id or last_event_id
                        yield event
                        if _ends(event, ends_job):
                            return
                    if deadline is not None and time.monotonic() >= deadline:
                        return
            finally:
                await response.aclose()
            if ends_job:
                return
        except httpx.TransportError as exc:
            if deadline is not None and time.monotonic() >= deadline:
                return
            await asyncio.sleep(connection.retry_delay(step, retry, exc))
            retry += 1


def event_params(
    event: str | Sequence[str] | None, kind: str | Sequence[str] | None, batch: str | None
) -> list[QueryParam]:
    params: list[QueryParam] = [("event", e) for e in ([event] if isinstance(event, str) else event or [])]
    params += [("kind", str(k)) for k in ([kind] if isinstance(kind, str) else kind or [])]
    return params + ([("batch", batch)] if batch else [])
