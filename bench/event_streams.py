"""Events delivered to many open server-sent event streams, what they cost in Redis connections and memory.

Real processes: redis-server and one API process. A client opens N streams (``GET /v1/events``, plain
sockets, counting events as they arrive) and the bench process then writes a burst of job events through
the job store's own scripts (jobs created and canceled in two pipelined round trips: ``job.queued`` and
``job.canceled`` each), timing until every stream has received every event. The baseline is the same burst
delivered to one stream, measured first in the same run. Redis connections are counted with
``CLIENT LIST``, the API's memory is its resident set size.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import redis

from karlo_api.event_hub import CLIENT_NAME
from karlo_core import tenants
from karlo_core.ids import new_job_id
from karlo_core.job_inputs import GenerateParams
from karlo_core.jobs import Job, JobKind, JobStatus
from karlo_core.jobstore import EventRetention, JobStore
from karlo_devstack.processes import ManagedProcess
from karlo_devstack.services import start_api, start_redis

RETENTION = EventRetention(max_events=100_000, max_age_seconds=86_400)


class _Stream:
    """One open stream on a raw socket, counting the events it has received."""

    def __init__(self) -> None:
        self.events = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, host: str, port: int, key: str) -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        request = f"GET /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n"
        self.writer.write(request.encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        self._task = asyncio.create_task(self._count())

    async def _count(self) -> None:
        assert self.reader is not None
        tail = b""
        while chunk := await self.reader.read(65536):
            data = tail + chunk
            self.events += data.count(b"\nevent: job.")
            tail = data[-16:]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.writer is not None:
            self.writer.close()


def _burst(client: redis.Redis, store: JobStore, tenant: str, jobs: int) -> int:
    """Write ``2 * jobs`` events through the job scripts, pipelined (so the writer is not what is timed)."""
    batch = [
        Job(new_job_id(), JobKind.GENERATE, JobStatus.QUEUED, GenerateParams(prompt="p"), time.time(), tenant=tenant)
        for _ in range(jobs)
    ]
    with client.pipeline(transaction=False) as pipe:
        store.queue_creates(pipe, batch, dispatch_grace=3600, events=RETENTION)
        pipe.execute()
    store.cancel_many([job.id for job in batch])
    return 2 * jobs


async def _deliver(streams: list[_Stream], client: redis.Redis, store: JobStore, tenant: str, jobs: int) -> float:
    """Seconds from the first event written until every stream has every event of the burst."""
    before = [s.events for s in streams]
    start = time.perf_counter()
    expected = await asyncio.to_thread(_burst, client, store, tenant, jobs)
    while any(s.events - b < expected for s, b in zip(streams, before, strict=True)):
        await asyncio.sleep(0.005)
    return time.perf_counter() - start


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _connections(client: redis.Redis) -> tuple[int, int]:
    """(every client connection less the bench's own, those of the API's event hub)."""
    clients = client.client_list()
    return len(clients) - 1, sum(1 for c in clients if c.get("name") == CLIENT_NAME)


async def _measure(
    api_url: str,
    key: str,
    store: JobStore,
    tenant: str,
    client: redis.Redis,
    api_pid: int,
    *,
    streams: int,
    jobs: int,
    rounds: int,
) -> list[str]:
    host, port = api_url.removeprefix("http://").split(":")
    idle_connections, idle_rss = _connections(client), _rss_mib(api_pid)
    one = _Stream()
    await one.open(host, int(port), key)
    await _deliver([one], client, store, tenant, 10)  # warm-up: the reader task and its connection exist now
    baseline = [await _deliver([one], client, store, tenant, jobs) for _ in range(rounds)]
    many = [_Stream() for _ in range(streams)]
    for i in range(0, streams, 100):
        await asyncio.gather(*(s.open(host, int(port), key) for s in many[i : i + 100]))
    await _deliver(many, client, store, tenant, 10)
    open_connections, open_rss = _connections(client), _rss_mib(api_pid)
    seconds = {"1 stream (baseline)": baseline, f"{streams} streams": []}
    for _ in range(rounds):
        seconds[f"{streams} streams"].append(await _deliver([one, *many], client, store, tenant, jobs))
    await asyncio.gather(*(s.close() for s in [one, *many]))
    events = 2 * jobs
    base = events / statistics.median(seconds["1 stream (baseline)"])
    lines = [
        "| case | events written per second, all delivered (median) | events delivered per second | relative |",
        "|---|---:|---:|---:|",
    ]
    for name, values, fan_out in (
        ("1 stream (baseline)", seconds["1 stream (baseline)"], 1),
        (f"{streams + 1} streams", seconds[f"{streams} streams"], streams + 1),
    ):
        rate = events / statistics.median(values)
        lines.append(f"| {name} | {rate:,.0f} | {rate * fan_out:,.0f} | {rate / base:.2f} |")
    lines += [
        "",
        "| | API's Redis connections | of which the event hub's | API resident memory (MiB) |",
        "|---|---:|---:|---:|",
        f"| API idle, no stream open | {idle_connections[0]} | {idle_connections[1]} | {idle_rss:.1f} |",
        f"| {streams + 1} streams open | {open_connections[0]} | {open_connections[1]} | {open_rss:.1f} |",
    ]
    return lines


def run(workdir: Path, *, streams: int, jobs: int, rounds: int) -> str:
    processes: list[ManagedProcess] = []
    try:
        redis_proc, redis_url = start_redis(workdir, persist=False)
        processes.append(redis_proc)
        env = {
            "KARLOQ_REDIS_URL": redis_url,
            "KARLOQ_STORAGE_URL": f"file://{workdir / 'storage'}",
            "KARLOQ_EVENT_STREAMS_PER_TENANT": str(streams + 10),
            "KARLOQ_LOG_LEVEL": "WARNING",
        }
        api_proc, api_url = start_api(workdir, env)
        processes.append(api_proc)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        issued = tenants.issue_key(client, tenants.create_tenant(client, "bench"))
        store = JobStore(client)
        lines = asyncio.run(
            _measure(
                api_url,
                issued.secret_key,
                store,
                issued.tenant_id,
                client,
                api_proc.pid,
                streams=streams,
                jobs=jobs,
                rounds=rounds,
            )
        )
        client.close()
        return "\n".join(lines)
    finally:
        for proc in reversed(processes):
            proc.stop()
