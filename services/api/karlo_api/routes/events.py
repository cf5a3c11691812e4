"""Server-sent event streams: ``GET /v1/jobs/{id}/events`` (one job) and ``GET /v1/events`` (all of a tenant's).

Events come from the tenant's event stream, which the job transition scripts write in the same atomic step as
the webhook outbox. Every event carries its stream id; ``Last-Event-ID`` resumes right after it, or with a
``reset`` event first when events after it were already dropped. Idle streams get heartbeat comments.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from karlo_api.deps import ApiState, OwnJobDep, StateDep, TenantDep
from karlo_api.event_frames import frame
from karlo_api.event_hub import PAGE, EventHub, Framed, Subscription, TooManyStreams
from karlo_api.problems import Problem, invalid_input, problems_for
from karlo_api.routes.jobs import _view as view_of
from karlo_api.timeouts import mark_committed
from karlo_core.event_stream import ENTRY_ID, STREAM_EVENTS, StreamEvent, entry_order, id_at, previous_id
from karlo_core.jobs import JobKind
from karlo_core.metrics import EVENTS_SENT

router = APIRouter(tags=["events"])

EVENT_STREAM = "text/event-stream"
#: How long before its creation a job's events are looked for, for clocks that disagree a little.
CLOCK_SLACK_SECONDS = 60.0
HEARTBEAT = ": heartbeat\n\n"
#: Events waiting for a stream that are written to it at once.
WRITE_BATCH = 100

StreamEventName = Literal[
    "job.queued",
    "job.started",
    "job.waiting_for_quota",
    "job.progress",
    "job.succeeded",
    "job.failed",
    "job.canceled",
    "batch.completed",
]
assert set(StreamEventName.__args__) == set(STREAM_EVENTS)  # type: ignore[attr-defined]

LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=41,
        description="Resume after this event id (`<ms>-<seq>`), as EventSource sends it when it reconnects",
    ),
]


class ResetEvent(BaseModel):
    """The data of a ``reset`` event: events after the caller's ``Last-Event-ID`` are no longer kept."""

    reason: str = Field(description="Why: the events missed were older than what is kept")
    job: dict[str, Any] | None = Field(
        default=None, description="On a job's stream, when its last events are gone: the job as it is now"
    )


#: One event of a stream, as its fields (`id:`, `event:`, `data:`) read.
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": r"^\d+-\d+$", "description": "Send as `Last-Event-ID` to resume after it"},
        "event": {"type": "string", "enum": [*STREAM_EVENTS, "reset"], "description": "What happened"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": (
                "JSON: a `JobView`, a `ProgressEvent` for `job.progress`, a `BatchView` for `batch.completed`, "
                "a `ResetEvent` for `reset`"
            ),
        },
    },
}


def _stream_doc(what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": (
                f"{what}, as `text/event-stream`: each event has an `id:` (`<ms>-<seq>`), an `event:` name "
                "(`job.queued`, `job.started`, `job.waiting_for_quota`, `job.progress`, `job.succeeded`, `job.failed`, "
                "`job.canceled`, `batch.completed`, or `reset`) and a `data:` line: the job as `GET /v1/jobs/{id}` "
                "shows it at the event (the body its webhook carries), a `ProgressEvent` for `job.progress` (a "
                "local backend's denoising steps: at most one per step change and per second, always the last "
                "step; streams only, no webhook), the batch for `batch.completed`, a `ResetEvent` for `reset`. "
                "Lines starting with `:` are heartbeats."
            ),
            "content": {EVENT_STREAM: {"schema": SSE_EVENT_SCHEMA}},
        },
        **problems_for(401, 404, 422, 429, 503),
    }


def _resume_point(last_event_id: str | None) -> str | None:
    if last_event_id is None:
        return None
    if not ENTRY_ID.match(last_event_id):
        raise invalid_input(
            [{"field": "Last-Event-ID", "rule": "event_id", "message": "must be an event id, <ms>-<seq>"}]
        )
    return last_event_id


def _refuse_if_full(state: ApiState, tenant: str) -> None:
    if not state.events.has_room(tenant):
        limit = state.settings.event_streams_per_tenant
        raise Problem(
            429,
            "too-many-streams",
            "Too many event streams open",
            f"at most {limit} event streams may be open at once; close one first",
            headers={"Retry-After": "10"},
        )


def _response(request: Request, body: AsyncIterator[str]) -> StreamingResponse:
    mark_committed(request)  # a stream lasts as long as the caller wants: the request timeout does not apply
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type=EVENT_STREAM, headers=headers)


@router.get("/v1/events", response_class=StreamingResponse, responses=_stream_doc("Every event of your jobs"))
async def tenant_events(
    request: Request,
    state: StateDep,
    tenant: TenantDep,
    event: Annotated[list[StreamEventName] | None, Query(description="Only these events")] = None,
    kind: Annotated[list[JobKind] | None, Query(description="Only jobs of these kinds")] = None,
    batch: Annotated[
        str | None, Query(min_length=26, max_length=26, pattern="^[0-9a-z]{26}$", description="Only this batch's")
    ] = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """Follow all your jobs' events as they happen; with `Last-Event-ID`, first what came after that event."""
    resume = _resume_point(last_event_id)
    events, kinds = set(event or ()), {k.value for k in kind or ()}

    def wanted(item: StreamEvent) -> bool:
        return (
            (not events or item.event in events)
            and (not kinds or item.kind in kinds)
            and (batch is None or item.batch_id == batch)
        )

    _refuse_if_full(state, tenant)
    follower = _Follower(state, tenant, wanted, ends=False)
    # "From now on" is fixed before the answer starts: an event the caller causes once it sees the answer is after it.
    start = None if resume else await state.events.last_id(tenant)
    return _response(request, follower.run(resume, start=start))


@router.get("/v1/jobs/{job_id}/events", response_class=StreamingResponse, responses=_stream_doc("The job's events"))
async def job_events(
    job_id: str,
    job: OwnJobDep,
    request: Request,
    state: StateDep,
    tenant: TenantDep,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """Follow one job from its creation (or after `Last-Event-ID`); the stream ends after its terminal event."""
    resume = _resume_point(last_event_id)
    # ``job`` is read before the stream subscribes: a job already finished then has its terminal event in the history.
    _refuse_if_full(state, tenant)
    follower = _Follower(state, tenant, lambda item: item.job_id == job_id and item.batch is None, ends=True)
    gone = None
    if job.status.is_terminal:
        current = view_of(state, job).model_dump(mode="json")
        gone = ResetEvent(reason="the job's last events are no longer kept", job=current)
    start = previous_id(id_at(job.created_at - CLOCK_SLACK_SECONDS))
    return _response(request, follower.run(resume, start=start, if_no_end=gone))


class _Follower:
    """One open stream: history after its start point, then live events, deduplicated by id."""

    def __init__(self, state: ApiState, tenant: str, wanted: Callable[[StreamEvent], bool], *, ends: bool) -> None:
        self._hub: EventHub = state.events
        self._tenant = tenant
        self._wanted = wanted
        self._ends = ends
        self._heartbeat = state.settings.event_heartbeat_seconds
        self._subscription: Subscription | None = None
        self.last = "0-0"
        self.ended = False

    async def run(
        self, resume: str | None, *, start: str | None = None, if_no_end: ResetEvent | None = None
    ) -> AsyncIterator[str]:
        """Events after ``resume`` (else after ``start``); first a ``reset`` event when events after ``resume``
        were lost. The subscription is taken here, so a body never started holds none."""
        try:
            self._subscription = self._hub.subscribe(self._tenant)
        except TooManyStreams:
            return  # others opened streams since the route checked: this one ends at once
        try:
            # Subscribed before reading history: whatever happens from here on reaches the queue too.
            self.last = resume or start or "0-0"
            reset = await self._hub.missed_before_kept(self._tenant, resume) if resume else None
            if reset is not None:
                missed = ResetEvent(reason="events after Last-Event-ID are no longer kept")
                yield frame("reset", missed.model_dump_json(), reset)
                self.last = reset
            async for chunk in self._history():
                yield chunk
            if self.ended:
                return
            if if_no_end is not None:
                # the job had finished before the stream began, yet its terminal event is no longer kept
                yield frame("reset", if_no_end.model_dump_json(), None)
                return
            async for chunk in self._live(self._subscription):
                yield chunk
                if self.ended:
                    return
        finally:
            self._hub.unsubscribe(self._subscription)

    async def _history(self) -> AsyncIterator[str]:
        while not self.ended:
            page = await self._hub.read_after(self._tenant, self.last, count=PAGE)
            for item in page:
                chunk = self._send(item)
                if chunk:
                    yield chunk
                if self.ended:
                    return
            if len(page) < PAGE:
                return

    async def _live(self, subscription: Subscription) -> AsyncIterator[str]:
        queue = subscription.queue
        while True:
            if subscription.lagged:
                subscription.lagged = False
                while not queue.empty():
                    queue.get_nowait()
                async for chunk in self._history():
                    yield chunk
                if self.ended:
                    return
            try:
                items = [await asyncio.wait_for(queue.get(), self._heartbeat)]
            except TimeoutError:
                yield HEARTBEAT
                continue
            while not queue.empty() and len(items) < WRITE_BATCH:
                items.append(queue.get_nowait())
            chunk = self._send_all(items)
            if chunk:
                yield chunk
            if self.ended:
                return

    def _send_all(self, items: list[Framed]) -> str:
        """What has piled up, as one write (up to the stream's end)."""
        chunk = ""
        for item in items:
            chunk += self._send(item) or ""
            if self.ended:
                break
        return chunk

    def _send(self, item: Framed) -> str | None:
        """The frame to send for ``item``, or None (already sent, or filtered out)."""
        if entry_order(item.event.id) <= entry_order(self.last):
            return None
        self.last = item.event.id
        if not self._wanted(item.event):
            return None
        EVENTS_SENT.labels(item.event.event).inc()
        self.ended = self._ends and item.event.ends_job
        return item.frame
