"""One reader of the event streams per API process, fanning events out to the open streams in it.

An open stream holds no thread and no Redis connection of its own: it is a :class:`Subscription`, an
in-process queue. The hub blocks on the live stream (one connection, ``XREAD BLOCK``), where every event
leaves a short note (its tenant stream and entry id); for the tenants with open streams here it then reads the
new entries of their streams in one ``XREAD`` and gives each subscription what its tenant got. Reading
history (a stream's start, a resume with ``Last-Event-ID``) borrows one of a few pooled connections for a
command, waiting for one when all are busy, so the connections do not grow with the streams.

The same reader wakes ``Prefer: wait`` requests: :meth:`EventHub.watch_job` follows one job's tenant until
the job's terminal event passes, with no stream (and no subscription slot) of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from karlo_core import keys
from karlo_core.event_stream import StreamEvent, entry_order, parse_entry, previous_id
from karlo_core.jobs import Job
from karlo_core.metrics import EVENT_STREAMS_OPEN

log = logging.getLogger(__name__)

#: Events a subscription may have waiting; a stream that falls further behind reads them from Redis instead.
QUEUE_LIMIT = 1000
#: Entries read per history command.
PAGE = 500
#: Redis connections of the hub: one blocks on the live stream, the rest serve history reads in turn.
POOL_SIZE = 8
#: How the hub's connections name themselves (``CLIENT LIST``).
CLIENT_NAME = "karloq-event-hub"
#: The longest a job watch waits for the reader to have its place in the live stream (Redis down at start).
READY_SECONDS = 1.0


@dataclass(frozen=True)
class Framed:
    """An event and its wire form (rendered once, however many streams send it)."""

    event: StreamEvent
    frame: str


@dataclass(eq=False)
class Subscription:
    tenant: str
    queue: asyncio.Queue[Framed] = field(default_factory=asyncio.Queue)
    #: Set when events were dropped because the queue was full: the stream re-reads them from Redis.
    lagged: bool = False

    def offer(self, item: Framed) -> None:
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.lagged = True
            return
        self.queue.put_nowait(item)


class TooManyStreams(Exception):
    """The tenant already has as many streams open here as it may."""


class EventHub:
    def __init__(self, redis_url: str, *, per_tenant: int, block_ms: int = 5000) -> None:
        self._redis_url = redis_url
        #: How an event is written to a stream; set once the API's state exists.
        self.render: Callable[[StreamEvent], str] = _unset_renderer
        self._per_tenant = per_tenant
        self._block_ms = block_ms
        self._client: aioredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscribers: dict[str, set[Subscription]] = {}
        #: The last entry handed out, per tenant stream with subscribers or watched jobs.
        self._cursors: dict[str, str] = {}
        #: Job id -> the futures of the requests waiting for its end (the job as its terminal event shows it).
        self._job_watches: dict[str, set[asyncio.Future[Job | None]]] = {}
        #: Tenant -> how many of its jobs are watched.
        self._watched_tenants: dict[str, int] = {}
        #: Set once the reader knows where the live stream stands: every event after that reaches it.
        self._ready = asyncio.Event()

    # --- subscriptions ---------------------------------------------------------------------------------
    def has_room(self, tenant: str) -> bool:
        return self.open_streams(tenant) < self._per_tenant

    def subscribe(self, tenant: str) -> Subscription:
        if not self.has_room(tenant):
            raise TooManyStreams(tenant)
        subscribers = self._subscribers.setdefault(tenant, set())
        self._ensure_running()
        subscription = Subscription(tenant)
        subscribers.add(subscription)
        EVENT_STREAMS_OPEN.inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.tenant, set())
        if subscription in subscribers:
            subscribers.discard(subscription)
            EVENT_STREAMS_OPEN.dec()
        if not subscribers:
            self._subscribers.pop(subscription.tenant, None)
            self._drop_cursor(subscription.tenant)

    def open_streams(self, tenant: str) -> int:
        return len(self._subscribers.get(tenant, ()))

    def _drop_cursor(self, tenant: str) -> None:
        if tenant not in self._subscribers and tenant not in self._watched_tenants:
            self._cursors.pop(keys.tenant_events(tenant), None)

    # --- one job's end -------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def watch_job(self, tenant: str, job_id: str) -> AsyncIterator[asyncio.Future[Job | None]]:
        """A future done when the job's terminal event passes (its result: the job as the event shows it).

        On entry the reader already follows the live stream, so a caller that reads the job after entering
        misses nothing: an end before that read shows in the read, an end after it sets the future.
        """
        future: asyncio.Future[Job | None] = asyncio.get_running_loop().create_future()
        self._job_watches.setdefault(job_id, set()).add(future)
        self._watched_tenants[tenant] = self._watched_tenants.get(tenant, 0) + 1
        try:
            self._ensure_running()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), READY_SECONDS)
            yield future
        finally:
            watches = self._job_watches.get(job_id, set())
            watches.discard(future)
            if not watches:
                self._job_watches.pop(job_id, None)
            self._watched_tenants[tenant] -= 1
            if not self._watched_tenants[tenant]:
                del self._watched_tenants[tenant]
                self._drop_cursor(tenant)

    # --- history ---------------------------------------------------------------------------------------
    async def read_after(self, tenant: str, after: str, *, count: int = PAGE) -> list[Framed]:
        """Up to ``count`` kept events of the tenant after the entry id ``after``, oldest first."""
        entries = await self.client.xrange(keys.tenant_events(tenant), min=f"({after}", count=count)
        return [self._framed(parse_entry(entry_id, fields)) for entry_id, fields in _entries(entries)]

    async def missed_before_kept(self, tenant: str, after: str) -> str | None:
        """When events after ``after`` may have been trimmed away already: the id just before the oldest kept
        event, from where the reader carries on after a reset; None when nothing after ``after`` was lost.

        Trimming drops the oldest entries, so any dropped after ``after`` means ``after`` lies below the oldest
        kept entry's predecessor (a caller that had read exactly up to the last dropped one is reset too).
        """
        try:
            info = await self.client.xinfo_stream(keys.tenant_events(tenant))
        except aioredis.ResponseError:
            return None  # no stream: nothing was ever trimmed from it
        if int(info.get("entries-added", 0)) <= int(info.get("length", 0)):
            return None
        first = info.get("first-entry")
        oldest = previous_id(str(first[0])) if first else str(info.get("last-generated-id", "0-0"))
        return oldest if entry_order(after) < entry_order(oldest) else None

    async def last_id(self, tenant: str) -> str:
        newest = await self.client.xrevrange(keys.tenant_events(tenant), count=1)
        return str(newest[0][0]) if newest else "0-0"

    # --- the reader --------------------------------------------------------------------------------------
    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            pool = aioredis.BlockingConnectionPool.from_url(
                self._redis_url,
                max_connections=POOL_SIZE,
                timeout=10,
                client_name=CLIENT_NAME,
                decode_responses=True,
                socket_connect_timeout=5,
                health_check_interval=30,
            )
            self._client = aioredis.Redis(connection_pool=pool)
        return self._client

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="karloq-event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        cursor: str | None = None
        while True:
            try:
                if cursor is None:
                    newest = await self.client.xrevrange(keys.events_live(), count=1)
                    cursor = str(newest[0][0]) if newest else "0-0"
                    self._ready.set()
                reply = await self.client.xread({keys.events_live(): cursor}, block=self._block_ms, count=PAGE)
                notes: list[tuple[str, str]] = []
                for _, entries in _streams(reply):
                    for entry_id, fields in entries:
                        cursor = entry_id
                        notes.append((fields["stream"], fields["id"]))
                await self._fan_out(notes)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                log.warning("event hub lost Redis; retrying", exc_info=True)
                await asyncio.sleep(1)
            except Exception:
                # an entry it cannot read is skipped (cursors already passed it); the reader keeps going
                log.exception("event hub failed to hand out events")
                await asyncio.sleep(1)

    async def _fan_out(self, notes: list[tuple[str, str]]) -> None:
        followed = [*self._subscribers, *self._watched_tenants]
        tenants = {keys.tenant_events(tenant): tenant for tenant in followed}
        for stream, entry_id in notes:
            if stream in tenants:
                # A tenant newly followed here starts from its first note; earlier events are its streams' history.
                self._cursors.setdefault(stream, previous_id(entry_id))
        wanted = {stream: cursor for stream, cursor in self._cursors.items() if stream in tenants}
        if not notes or not wanted:
            return
        reply = await self.client.xread(dict(wanted))  # type: ignore[arg-type]  # redis-py's key types are invariant
        for stream, entries in _streams(reply):
            subscribers = self._subscribers.get(tenants[stream], set())
            for entry_id, fields in entries:
                self._cursors[stream] = entry_id
                event = parse_entry(entry_id, fields)
                if event.ends_job:
                    self._end_watches(event)
                if subscribers:
                    framed = self._framed(event)
                    for subscription in list(subscribers):
                        subscription.offer(framed)

    def _end_watches(self, event: StreamEvent) -> None:
        for future in self._job_watches.get(event.job_id, ()):
            if not future.done():
                future.set_result(event.job)

    def _framed(self, event: StreamEvent) -> Framed:
        return Framed(event, self.render(event))


Entry = tuple[str, dict[str, str]]


def _entries(reply: Any) -> list[Entry]:
    """XRANGE's reply, typed (the client decodes responses to str)."""
    return [(str(entry_id), dict(fields)) for entry_id, fields in reply or []]


def _streams(reply: Any) -> list[tuple[str, list[Entry]]]:
    """XREAD's reply, typed."""
    return [(str(stream), _entries(entries)) for stream, entries in reply or []]


def _unset_renderer(event: StreamEvent) -> str:
    raise RuntimeError("EventHub.render was not set")
