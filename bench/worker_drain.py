"""Draining a full queue: a worker against the floor of the same work without the queue, its CPU per job
against bare Celery's no-op task, and Redis round trips per job.

Real processes: redis-server, the Karlo simulator answering at once (zero latency), one worker (the thread
pool, ``KARLOQ_WORKER_CONCURRENCY`` threads) storing to a local directory, and a bare Celery worker with the
same settings, pool and concurrency whose task does nothing (:mod:`bench.celery_noop`). Each round runs three
cases in turn, so drift in machine load hits them alike:

- floor: the same simulator calls (one t2i call, then each image fetched from its link) and storage writes,
  made by as many threads of this process, without queue, job store or lease;
- queue: the same number of jobs queued while the worker is held still (SIGSTOP), then timed from its release
  until the last job finished; its CPU time (user + system) and Redis's ``INFO commandstats`` are read before
  and after;
- bare Celery: as many no-op tasks, queued and drained the same way, read the same way.

- submit: as many jobs submitted through the API (one ``POST /v1/jobs`` each, from as many threads of this
  process) while the worker runs, timed from the first submission until the last job finished.

Jobs are queued as the API accepts them: into their tenant's scheduler queue, their events into their tenant's
event stream, handed out by a dispatch step with their quota reservation (:class:`bench.queued_jobs.JobQueuer`).
Whichever worker is not being measured is held still meanwhile, so its idle chores do not count.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from pydantic import SecretStr

from bench import filesystem
from bench.celery_noop import NOOP_QUEUE, NOOP_TASK
from bench.cpu_shares import THIS_PROCESS, CpuShares, watching
from bench.queued_jobs import (
    Held,
    JobQueuer,
    calls_between,
    command_calls,
    failed_jobs,
    round_trips,
    wait_drained,
)
from bench.stack_env import local_stack_env
from karlo_core import keys, tenants
from karlo_core.job_inputs import GenerateParams
from karlo_core.karlo.client import KarloClient
from karlo_core.karlo.wire import T2I_PATH, t2i_body
from karlo_core.pooled_http import make_pool
from karlo_core.queue import make_celery
from karlo_core.settings import Settings
from karlo_core.storage import image_key
from karlo_core.storage.factory import make_storage
from karlo_devstack.processes import ManagedProcess, wait_until
from karlo_devstack.services import sim_control, start_api, start_redis, start_simulator, start_worker
from karlo_sim.config import DEFAULT_SIM_KEY

PARAMS = GenerateParams(prompt="a benchmark", width=384, height=384)
#: Every quota limit of the run: high enough that no job waits for quota.
QUOTA = 100_000_000
#: The names each process's CPU is reported under (:mod:`bench.cpu_shares`): the measured worker, the
#: simulator and redis-server.
MEASURED, SIMULATOR, REDIS = "worker", "simulator", "redis-server"


@dataclass(frozen=True)
class Drain:
    """One drain: its time, and (for a worker) the worker's CPU time and Redis's calls meanwhile; with the CPU
    of every process watched, where it was measured."""

    seconds: float
    cpu_seconds: float = 0.0
    calls: int = 0
    by_command: dict[str, int] = field(default_factory=dict)
    shares: CpuShares | None = None

    def less(self, command: str, count: int) -> Drain:
        """Without ``count`` calls of ``command`` (this benchmark's own polls)."""
        by_command = {**self.by_command, command: self.by_command.get(command, 0) - count}
        by_command = {name: calls for name, calls in by_command.items() if calls > 0}
        return Drain(self.seconds, self.cpu_seconds, sum(by_command.values()), by_command, self.shares)


def _floor(settings: Settings, jobs: int, concurrency: int, watched: Mapping[str, int] | None = None) -> Drain:
    """The simulator calls and storage writes of ``jobs`` jobs from ``concurrency`` threads, no queue; with the
    CPU of the ``watched`` processes (the simulator's, say) too."""
    storage = make_storage(settings)
    assert settings.kakao_rest_api_key is not None
    # The Karlo call and the image fetch over one httpcore pool, as the worker makes them (its Karlo client and
    # its guarded fetcher's transport), so the floor's calls cost what the worker's own do.
    with make_pool(max_connections=concurrency * 2) as http:
        karlo = KarloClient(
            http, base_url=settings.karlo_base_url, api_key=settings.kakao_rest_api_key, timeout=httpx.Timeout(30)
        )

        def one(index: int) -> None:
            result = karlo.infer(T2I_PATH, t2i_body(PARAMS))
            for number, image in enumerate(result.images):
                assert image.url is not None
                response = http.request(b"GET", image.url)
                assert response.status == 200, response.status
                storage.put(image_key(f"floor{index}", number, "webp"), response.content, "image/webp")

        found: list[CpuShares] = []
        start = time.perf_counter()
        with watching(watched or {}, found), ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(jobs)))
        seconds = time.perf_counter() - start
        return Drain(seconds, found[0].seconds_by_process[THIS_PROCESS], shares=found[0])


@contextmanager
def _reading(
    client: redis.Redis, pid: int, result: list[Drain], watched: Mapping[str, int] | None = None
) -> Iterator[None]:
    """Time, CPU of ``pid`` (and of the ``watched`` processes) and Redis calls (less this benchmark's own) over
    the block, added to ``result``."""
    calls = command_calls(client)
    found: list[CpuShares] = []
    start = time.perf_counter()
    with watching({MEASURED: pid, **(watched or {})}, found):
        yield
    seconds = time.perf_counter() - start
    spent = calls_between(calls, command_calls(client))
    spent.pop("info", None)  # the reading's own
    result.append(Drain(seconds, found[0].seconds_by_process[MEASURED], sum(spent.values()), spent, found[0]))


def _queue_round(
    client: redis.Redis,
    queuer: JobQueuer,
    worker: ManagedProcess,
    jobs: int,
    watched: Mapping[str, int] | None = None,
) -> Drain:
    with Held(worker.pid):
        ids = queuer.queue(PARAMS, jobs)
    found: list[Drain] = []
    with _reading(client, worker.pid, found, watched):
        polls = wait_drained(client)
    if failed_jobs(queuer.store, ids):
        raise RuntimeError(f"{failed_jobs(queuer.store, ids)} of {jobs} jobs did not succeed; see {worker.log_path}")
    return found[0].less("zcard", polls)


def _queue_round_trips(
    client: redis.Redis, settings: Settings, queuer: JobQueuer, worker: ManagedProcess, jobs: int
) -> Counter[str]:
    """Round trips by command of a drain of ``jobs`` jobs (not timed), less this benchmark's own polls."""
    with Held(worker.pid):
        queuer.queue(PARAMS, jobs)
    with round_trips(settings.redis_url) as counts:
        polls = wait_drained(client)
    counts["zcard"] -= polls
    return counts


def _submit_round(api: httpx.Client, client: redis.Redis, queuer: JobQueuer, jobs: int, concurrency: int) -> Drain:
    """Seconds from the first ``POST /v1/jobs`` of ``jobs`` (from ``concurrency`` threads) until all finished."""
    body = {"input": {"prompt": PARAMS.prompt, "width": PARAMS.width, "height": PARAMS.height}}

    def submit(_: int) -> str:
        job_id: str = api.post("/v1/jobs", json=body).raise_for_status().json()["id"]
        return job_id

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        ids = list(pool.map(submit, range(jobs)))

    def finished() -> bool:  # no job active, then every one of these finished (not waiting in a tenant queue)
        if int(client.zcard(keys.job_deadlines())):
            return False
        return all(job is not None and job.status.is_terminal for job in queuer.store.get_many(ids))

    wait_until(finished, timeout=600, what="the submitted jobs to finish", interval=0.01)
    seconds = time.perf_counter() - start
    if failed_jobs(queuer.store, ids):
        raise RuntimeError(f"{failed_jobs(queuer.store, ids)} of {jobs} submitted jobs did not succeed")
    return Drain(seconds)


def _noop_round_trips(client: redis.Redis, settings: Settings, worker: ManagedProcess, tasks: int) -> Counter[str]:
    """Round trips by command of a drain of ``tasks`` no-op tasks (not timed), less this benchmark's own."""
    _send_noops(settings, worker, tasks)
    with round_trips(settings.redis_url) as counts:
        polls = _wait_noops(client)
    counts["llen"] -= polls
    counts["hlen"] -= polls
    return counts


def _noop_round(client: redis.Redis, settings: Settings, worker: ManagedProcess, tasks: int) -> Drain:
    _send_noops(settings, worker, tasks)
    found: list[Drain] = []
    with _reading(client, worker.pid, found):
        polls = _wait_noops(client)
    return found[0].less("llen", polls).less("hlen", polls)


def _send_noops(settings: Settings, worker: ManagedProcess, tasks: int) -> None:
    celery = make_celery(settings, "bench")
    with Held(worker.pid):
        for _ in range(tasks):
            celery.send_task(NOOP_TASK, queue=NOOP_QUEUE)


def _wait_noops(client: redis.Redis) -> int:
    """Wait until no task is queued or unacknowledged; how many polls it took (LLEN and HLEN each)."""
    polls = 0

    def drained() -> bool:
        nonlocal polls
        polls += 1
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(NOOP_QUEUE)
            pipe.hlen("unacked")
            queued, unacked = pipe.execute()
        return int(queued) + int(unacked) == 0

    wait_until(drained, timeout=120, what="the no-op tasks to drain", interval=0.01)
    return polls


def _start_noop(workdir: Path, env: dict[str, str], concurrency: int) -> ManagedProcess:
    argv = [sys.executable, "-m", "celery", "-A", "bench.celery_noop", "worker", "--pool=threads"]
    argv += [f"--concurrency={concurrency}", f"--queues={NOOP_QUEUE}", "--without-gossip", "--without-mingle"]
    argv += ["--loglevel=WARNING"]
    log_path = workdir / "logs" / "noop.log"
    proc = ManagedProcess("celery-noop", argv, log_path=log_path, env=env).start()
    celery = make_celery(Settings(redis_url=env["KARLOQ_REDIS_URL"]), "bench")
    for _ in range(concurrency):  # ready once it has drained these (held still before, its start can stall)
        celery.send_task(NOOP_TASK, queue=NOOP_QUEUE)
    with redis.Redis.from_url(env["KARLOQ_REDIS_URL"]) as client:
        _wait_noops(client)
    return proc


def drain_env(workdir: Path, redis_url: str, sim_url: str, concurrency: int) -> tuple[dict[str, str], Settings]:
    """The workers' environment (no quota limit in reach, ``concurrency`` threads, the jobs queue, a local
    store), and the same settings for this process (its floor writes to a store of its own)."""
    env = local_stack_env(workdir, redis_url, sim_url, quota=QUOTA) | {
        "KARLOQ_WORKER_CONCURRENCY": str(concurrency),
        "KARLOQ_WORKER_QUEUES": "jobs",
    }
    settings = Settings(
        redis_url=redis_url,
        kakao_rest_api_key=SecretStr(DEFAULT_SIM_KEY),
        karlo_base_url=sim_url,
        storage_url=f"file://{workdir / 'floor-storage'}",
        max_active_jobs_per_tenant=0,
        quota_per_minute=QUOTA,
        quota_per_day=QUOTA,
        quota_per_month=QUOTA,
    )
    return env, settings


def start_drain_stack(
    workdir: Path, processes: list[ManagedProcess], concurrency: int
) -> tuple[str, dict[str, str], Settings]:
    """A private redis-server and the simulator answering at once (added to ``processes``); the Redis URL, the
    workers' environment and this process's settings (:func:`drain_env`)."""
    redis_proc, redis_url = start_redis(workdir, persist=False)
    processes.append(redis_proc)
    sim_proc, sim_url = start_simulator(workdir, {"KARLO_SIM_API_KEY": DEFAULT_SIM_KEY})
    processes.append(sim_proc)
    sim_control(sim_url, latency_ms=0)
    env, settings = drain_env(workdir, redis_url, sim_url, concurrency)
    return redis_url, env, settings


def run(workdir: Path, *, jobs: int, rounds: int, concurrency: int = 8) -> str:
    processes: list[ManagedProcess] = []
    try:
        redis_url, env, settings = start_drain_stack(workdir, processes, concurrency)
        api_proc, api_url = start_api(workdir, env)
        processes.append(api_proc)
        worker = start_worker(workdir, env, name="worker")
        processes.append(worker)
        noop = _start_noop(workdir, env, concurrency)
        processes.append(noop)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        queuer = JobQueuer(settings)
        watched = _stack_pids(processes)
        key = tenants.issue_key(client, tenants.create_tenant(client, "bench")).secret_key
        limits = httpx.Limits(max_connections=concurrency)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=api_url, headers=headers, timeout=30, limits=limits) as api:
            floor: list[Drain] = []
            queued: list[Drain] = []
            bare: list[Drain] = []
            submitted: list[Drain] = []
            with Held(noop.pid):
                _queue_round(client, queuer, worker, concurrency)  # warm-up
                _submit_round(api, client, queuer, concurrency, concurrency)
            for _ in range(rounds):
                with Held(worker.pid), Held(noop.pid):
                    floor.append(_floor(settings, jobs, concurrency, watched))
                with Held(noop.pid):
                    queued.append(_queue_round(client, queuer, worker, jobs, watched))
                with Held(worker.pid):
                    bare.append(_noop_round(client, settings, noop, jobs))
                with Held(noop.pid):
                    submitted.append(_submit_round(api, client, queuer, jobs, concurrency))
        with Held(noop.pid):
            trips = _queue_round_trips(client, settings, queuer, worker, jobs)
        with Held(worker.pid):
            bare_trips = _noop_round_trips(client, settings, noop, jobs)
        table = _table(jobs, concurrency, floor, queued, bare, submitted, filesystem.describe(workdir))
        return "\n\n".join([table, _cpu_table(jobs, floor, queued, bare), _trips_table(jobs, trips, bare_trips)])
    finally:
        for proc in reversed(processes):
            proc.stop()


def _stack_pids(processes: list[ManagedProcess]) -> dict[str, int]:
    """The simulator's and redis-server's process ids, by the names their CPU is reported under."""
    names = {"karlo-sim": SIMULATOR, "redis": REDIS}  # a redis-server's process is named "redis:PORT"
    pids = {}
    for proc in processes:
        kind = proc.name.split(":")[0]
        if kind in names:
            pids[names[kind]] = proc.pid
    return pids


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _table(
    jobs: int,
    concurrency: int,
    floor: list[Drain],
    queued: list[Drain],
    bare: list[Drain],
    submitted: list[Drain],
    fs: str,
) -> str:
    rate = [f.seconds / q.seconds for f, q in zip(floor, queued, strict=True)]
    submit_rate = [f.seconds / s.seconds for f, s in zip(floor, submitted, strict=True)]
    cpu = [q.cpu_seconds / b.cpu_seconds for q, b in zip(queued, bare, strict=True)]
    calls = [q.calls / jobs for q in queued]
    bare_calls = [b.calls / jobs for b in bare]
    lines = [
        f"{jobs} jobs per round, {concurrency} threads; median of {len(queued)} rounds (lowest-highest). Working "
        f"directory (spool, stores) on {fs}: set TMPDIR to move it.",
        "",
        "| figure | queue | baseline | ratio |",
        "|---|---:|---:|---:|",
        f"| jobs per second vs the floor | {_median(jobs / q.seconds for q in queued):,.1f} | "
        f"{_median(jobs / f.seconds for f in floor):,.1f} | {_spread(rate)} |",
        f"| jobs per second, submit (API) to all finished, vs the floor | "
        f"{_median(jobs / s.seconds for s in submitted):,.1f} | "
        f"{_median(jobs / f.seconds for f in floor):,.1f} | {_spread(submit_rate)} |",
        f"| worker CPU ms per job vs bare Celery no-op | {_median(q.cpu_seconds * 1000 / jobs for q in queued):.2f} | "
        f"{_median(b.cpu_seconds * 1000 / jobs for b in bare):.2f} | {_spread(cpu)} |",
        f"| worker CPU ms per job vs the floor's (this process, the same calls and writes) | "
        f"{_median(q.cpu_seconds * 1000 / jobs for q in queued):.2f} | "
        f"{_median(f.cpu_seconds * 1000 / jobs for f in floor):.2f} | "
        f"{_spread([q.cpu_seconds / f.cpu_seconds for f, q in zip(floor, queued, strict=True)])} |",
        f"| Redis commands run per job, scripts' own included (INFO commandstats) | "
        f"{statistics.median(calls):.1f} | {statistics.median(bare_calls):.1f} | "
        f"{statistics.median(calls) / statistics.median(bare_calls):.2f} |",
    ]
    return "\n".join(lines)


def _cpu_table(jobs: int, floor: list[Drain], queued: list[Drain], bare: list[Drain]) -> str:
    """Where the CPU of the floor and of the queue went, per job, with the two figures it explains: the drain
    rate the CPU allows once every core is busy, and the least CPU a worker making the floor's calls through
    Celery can spend."""
    floor_shares = [f.shares for f in floor if f.shares is not None]
    queue_shares = [q.shares for q in queued if q.shares is not None]

    def ms(shares: list[CpuShares], name: str) -> str:
        return f"{_median(s.seconds_by_process.get(name, 0.0) * 1000 / jobs for s in shares):.2f}"

    def total(shares: list[CpuShares]) -> str:
        return f"{_median(s.total() * 1000 / jobs for s in shares):.2f}"

    allowed = [f.total() / q.total() for f, q in zip(floor_shares, queue_shares, strict=True)]
    least = [(f.cpu_seconds + b.cpu_seconds) / b.cpu_seconds for f, b in zip(floor, bare, strict=True)]
    return "\n".join(
        [
            "CPU ms per job by process, median of the rounds (/proc):",
            "",
            "| process | floor | queue |",
            "|---|---:|---:|",
            f"| simulator (drawing, HTTP) | {ms(floor_shares, SIMULATOR)} | {ms(queue_shares, SIMULATOR)} |",
            f"| the calls and writes: the floor's threads (this process), the worker | "
            f"{ms(floor_shares, THIS_PROCESS)} | {ms(queue_shares, MEASURED)} |",
            f"| redis-server | {ms(floor_shares, REDIS)} | {ms(queue_shares, REDIS)} |",
            f"| this benchmark's polls | | {ms(queue_shares, THIS_PROCESS)} |",
            f"| all | {total(floor_shares)} | {total(queue_shares)} |",
            f"| machine's cores busy, on average | {_median(s.busy_cores for s in floor_shares):.2f} | "
            f"{_median(s.busy_cores for s in queue_shares):.2f} |",
            "",
            f"With every core busy in both, the drain rate the CPU allows (all of the floor's CPU per job over all of "
            f"the queue's): {_spread(allowed)}. The least a worker making the floor's calls and writes through "
            f"Celery spends (the floor's CPU per job plus bare Celery's per no-op task), over the no-op's: "
            f"{_spread(least)}.",
        ]
    )


def _trips_table(jobs: int, trips: Counter[str], bare: Counter[str]) -> str:
    """Round trips per job (MONITOR: commands clients sent; what scripts run inside Redis is not one)."""
    total, bare_total = sum(trips.values()) / jobs, sum(bare.values()) / jobs
    return "\n".join(
        [
            f"Redis commands sent per job (MONITOR, one extra round; a MULTI...EXEC block or a pipeline is one round "
            f"trip): {total:.2f}; bare Celery {bare_total:.2f} ({total - bare_total:+.2f}).",
            "",
            "Worker's, by command: " + _per_job(trips, jobs),
            "",
            "Bare Celery's, by command: " + _per_job(bare, jobs),
        ]
    )


def _per_job(counts: Counter[str], jobs: int) -> str:
    return ", ".join(f"{name} {count / jobs:.2f}" for name, count in counts.most_common() if count > 0)


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))
