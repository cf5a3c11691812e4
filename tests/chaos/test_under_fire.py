"""Under fire: a steady mixed load with webhooks while workers are SIGKILLed, Redis is SIGKILLed and
restarted on its append-only file, the image store refuses connections, a share of Karlo's answers fail, and
the API is SIGKILLed in the middle of a burst. Afterwards every accepted job succeeded, images were generated
once (but for workers killed between Karlo's answer and the spool) and none was discarded, no key is stuck,
no queued job went more than a few seconds without a live message, every webhook event arrived, and the
quota held. ``make chaos`` runs it alone; ``CHAOS_STORAGE_OUTAGE_SECONDS`` sets the storage outage (25 s in
``make chaos``, shorter in the full suite)."""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from karlo_core import keys
from karlo_core.broker import UNACKED_HASH, UNACKED_INDEX
from karlo_devstack.processes import wait_until
from karlo_devstack.services import sim_control, start_api, start_redis
from support.api import get_job
from support.receiver import Receiver
from support.stacks import BUCKET, AppStack, Services, base_env, s3_client, sim_stats
from support.tcp_proxy import TcpProxy
from support.webhooks import deliveries, rotate_secret

STORAGE_OUTAGE = float(os.environ.get("CHAOS_STORAGE_OUTAGE_SECONDS", "10"))
LOAD_SECONDS = 40.0
JOBS_PER_SECOND = 2.5
CONCURRENCY = 4
QUOTA_IMAGES, QUOTA_WINDOW = 60, 20.0
ORPHAN_SECONDS = 2.0
#: The longest a due, queued job may go without a message in the queue or held by a live worker.
LIVE_MESSAGE_BOUND = 10.0
JOB_ID = re.compile(r"'job_id': '([0-9a-z]{26})'")

ENV = {
    "KARLOQ_WORKER_CONCURRENCY": str(CONCURRENCY),
    "KARLOQ_JOB_LEASE_SECONDS": "10",
    "KARLOQ_SWEEP_INTERVAL_SECONDS": "0.5",
    "KARLOQ_ORPHAN_MESSAGE_SECONDS": str(ORPHAN_SECONDS),
    "KARLOQ_RETRY_BASE_SECONDS": "0.5",
    "KARLOQ_RETRY_MAX_SECONDS": "4",
    "KARLOQ_JOB_MAX_ATTEMPTS": "12",
    "KARLOQ_QUOTA_PER_MINUTE": str(QUOTA_IMAGES),
    "KARLOQ_QUOTA_MINUTE_WINDOW_SECONDS": str(QUOTA_WINDOW),
    "KARLOQ_QUOTA_WINDOW_GUARD_SECONDS": "0.5",
    "KARLOQ_IDEMPOTENCY_LEASE_SECONDS": "3",
    "KARLOQ_DISPATCH_CONFIRM_SECONDS": "3",
    "KARLOQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "KARLOQ_WEBHOOK_ALLOW_HTTP": "true",
    "KARLOQ_WEBHOOK_RETRY_SCHEDULE": "0.5s,1s,2s,3s,5s,5s,5s,5s,5s,5s,5s,5s",
    "KARLOQ_WEBHOOK_TIMEOUT_SECONDS": "3",
    "KARLOQ_WEBHOOK_DISPATCH_LEASE_SECONDS": "10",
    "KARLOQ_WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.3",
    "KARLOQ_MAX_ACTIVE_JOBS_PER_TENANT": "0",
}


@dataclass
class Figures:
    started: float = field(default_factory=time.monotonic)
    answers: Counter[str] = field(default_factory=Counter)
    jobs: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> job id
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    outage_answers: list[httpx.Response] = field(default_factory=list)
    worker_kills: int = 0
    longest_without_message: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str) -> None:
        print(f"  {time.monotonic() - self.started:6.1f}s  {what}", flush=True)


class Fire:
    """The stack under test and the means to hurt it."""

    def __init__(self, services: Services, workdir: Path) -> None:
        self.services = services
        self.workdir = workdir
        self.redis_proc, redis_url = start_redis(workdir, persist=True)
        self.redis_port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
        self.storage = TcpProxy(int(services.s3_url.rsplit(":", 1)[1])).start()
        env = base_env(services, "s3", KARLOQ_REDIS_URL=redis_url, KARLOQ_S3_ENDPOINT_URL=self.storage.url, **ENV)
        self.stack = AppStack(workdir, env).start(workers=2)
        self.api_port = int(self.stack.api_url.rsplit(":", 1)[1])
        self.tenant = self.stack.tenant
        self.figures = Figures()

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.stack.redis_url, decode_responses=True, socket_timeout=5)

    def submit(self, key: str, body: dict[str, Any]) -> httpx.Response | None:
        headers = {**self.tenant.headers, "Idempotency-Key": key}
        try:
            response = httpx.post(f"{self.tenant.api_url}/v1/jobs", json=body, headers=headers, timeout=30)
        except httpx.HTTPError:
            with self.figures.lock:
                self.figures.answers["no answer"] += 1
            return None
        with self.figures.lock:
            self.figures.answers[str(response.status_code)] += 1
            if response.status_code == 202:
                self.figures.jobs[key] = response.json()["id"]
        return response

    def submit_until_accepted(self, key: str, body: dict[str, Any], *, deadline: float) -> None:
        """A well-behaved client: retries with the same key after 503s, conflicts and dropped connections."""
        with self.figures.lock:
            self.figures.bodies[key] = body
        while time.monotonic() < deadline:
            response = self.submit(key, body)
            if response is not None and response.status_code == 202:
                return
            time.sleep(float(response.headers.get("Retry-After", 1)) if response is not None else 1.0)
        raise AssertionError(f"{key} was never accepted")

    def kill_worker(self, index: int) -> None:
        worker = self.stack.workers[index]
        worker.kill()
        self.figures.worker_kills += 1
        self.figures.note(f"SIGKILL {worker.name}")
        time.sleep(1)
        worker.start()  # as `make run` or a Deployment does

    def kill_redis(self) -> None:
        self.redis_proc.kill()
        self.figures.note("SIGKILL redis")
        time.sleep(0.5)
        answer = self.submit("outage-probe", _body(0, "probe"))
        assert answer is not None
        self.figures.outage_answers.append(answer)
        ready = httpx.get(f"{self.tenant.api_url}/readyz", timeout=10)
        assert ready.status_code == 503, ready.text
        time.sleep(2.5)
        self.redis_proc, _ = start_redis(self.workdir, self.redis_port, persist=True)
        self.figures.note("redis restarted on its append-only file")

    def storage_outage(self) -> None:
        self.storage.refuse()
        self.figures.note(f"image store refuses connections for {STORAGE_OUTAGE:.0f}s")
        time.sleep(STORAGE_OUTAGE)
        self.storage.start()
        self.figures.note("image store back")

    def kill_api_mid_burst(self) -> None:
        deadline = time.monotonic() + 60
        keys_ = [f"burst-{i}" for i in range(10)]
        with ThreadPoolExecutor(len(keys_)) as pool:
            futures = [
                pool.submit(self.submit_until_accepted, key, _body(i, "burst"), deadline=deadline)
                for i, key in enumerate(keys_)
            ]
            time.sleep(0.3)
            assert self.stack.api is not None
            self.stack.api.kill()
            self.figures.note("SIGKILL api mid-burst")
            time.sleep(1)
            self.stack.api, _ = start_api(self.workdir, self.stack.env, name="api-again", port=self.api_port)
            self.figures.note("api restarted")
            for future in futures:
                future.result()

    def stop(self) -> None:
        self.stack.stop()
        self.storage.stop()
        self.redis_proc.stop()


def _body(index: int, tag: str, webhook: str | None = None) -> dict[str, Any]:
    """Mixed jobs: sizes, sample counts and formats vary; ``webhook`` adds a webhook."""
    rng = random.Random(f"{tag}-{index}")
    size = rng.choice([384, 512, 640])
    params = {"width": size, "height": size, "samples": rng.choice([1, 2]), "image_format": rng.choice(["png", "webp"])}
    body: dict[str, Any] = {"input": {"prompt": f"{tag} {index}: a lighthouse", **params}}
    if webhook:
        body["webhook"] = {"url": webhook}
    return body


def _steady_load(fire: Fire, receiver: Receiver, stop: threading.Event) -> None:
    deadline = time.monotonic() + LOAD_SECONDS + 90
    with ThreadPoolExecutor(8) as pool:
        index = 0
        while not stop.is_set():
            body = _body(index, "load", receiver.hook("/load"))
            pool.submit(fire.submit_until_accepted, f"load-{index}", body, deadline=deadline)
            index += 1
            stop.wait(1 / JOBS_PER_SECOND)


class LiveMessageWatch(threading.Thread):
    """Samples Redis: for each queued job that is due, is there a message for it in the queue, or one taken
    by a worker less than the orphan bound ago? Keeps the longest stretch without one."""

    def __init__(self, fire: Fire) -> None:
        super().__init__(daemon=True)
        self._fire = fire
        self._stop_event = threading.Event()
        self._since: dict[str, float] = {}

    def run(self) -> None:
        with self._fire.redis() as client:
            while not self._stop_event.wait(0.5):
                try:
                    self._sample(client)
                except redis.RedisError:
                    continue  # Redis is down: its messages are on disk; the stretch goes on

    def _sample(self, client: redis.Redis) -> None:
        now = time.time()
        with client.pipeline(transaction=True) as pipe:
            pipe.lrange("jobs", 0, -1)
            pipe.hgetall(UNACKED_HASH)
            pipe.zrange(UNACKED_INDEX, 0, -1, withscores=True)
            pipe.zrange(keys.job_deadlines(), 0, -1)
            waiting, unacked, delivered, active = pipe.execute()
        live = {m.group(1) for raw in waiting for m in [JOB_ID.search(raw)] if m}
        fresh = {tag for tag, at in delivered if at > now - ORPHAN_SECONDS}
        live |= {m.group(1) for tag, raw in unacked.items() if tag in fresh for m in [JOB_ID.search(raw)] if m}
        with client.pipeline(transaction=False) as pipe:
            for job_id in active:
                pipe.hmget(keys.job(job_id), "status", "run_after")
            states = pipe.execute()
        for job_id, (status, run_after) in zip(active, states, strict=True):
            due = status in ("queued", "waiting_for_quota") and float(run_after or 0) <= now
            if not due or job_id in live:
                self._since.pop(job_id, None)
                continue
            since = self._since.setdefault(job_id, now)
            self._fire.figures.longest_without_message = max(self._fire.figures.longest_without_message, now - since)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@pytest.mark.timeout(600)
def test_everything_holds_under_fire(services: Services) -> None:
    fire = Fire(services, services.workdir / "under-fire")
    receiver = Receiver(services.workdir, name="fire-receiver").start()
    figures = fire.figures
    try:
        rotate_secret(fire.stack)
        sim_control(
            services.sim_url,
            latency_ms=300,
            quota={"per_window": QUOTA_IMAGES, "window_seconds": QUOTA_WINDOW},
            random_faults={"ratio": 0.2},
        )
        watch = LiveMessageWatch(fire)
        watch.start()
        stop_load = threading.Event()
        load = threading.Thread(target=_steady_load, args=(fire, receiver, stop_load))
        load.start()
        _timeline(
            figures,
            [
                (4, lambda: fire.kill_worker(0)),
                (9, fire.kill_redis),
                (16, fire.storage_outage),
                (17 + STORAGE_OUTAGE, fire.kill_api_mid_burst),
                (23 + STORAGE_OUTAGE, lambda: fire.kill_worker(1)),
            ],
        )
        wait_until(lambda: time.monotonic() - figures.started > LOAD_SECONDS, timeout=600, what="the load")
        stop_load.set()
        load.join()
        figures.note(f"load over: {len(figures.jobs)} jobs accepted")
        jobs = _all_finished(fire, figures)
        watch.stop()
        figures.note("every job finished")
        _check_everything(fire, receiver, figures, jobs)
    finally:
        receiver.stop()
        fire.stop()


def _timeline(figures: Figures, events: list[tuple[float, Callable[[], None]]]) -> None:
    for at, action in events:
        time.sleep(max(0.0, at - (time.monotonic() - figures.started)))
        action()


def _all_finished(fire: Fire, figures: Figures) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}
    pending = set(figures.jobs.values())

    def finished() -> bool:
        for job_id in list(pending):
            job = get_job(fire.tenant, job_id)
            if job["status"] in ("succeeded", "failed", "canceled"):
                jobs[job_id] = job
                pending.discard(job_id)
        return not pending

    try:
        wait_until(finished, timeout=300, what="every job to finish", interval=1)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {sorted(pending)} never finished") from None
    return jobs


def _check_everything(fire: Fire, receiver: Receiver, figures: Figures, jobs: dict[str, dict[str, Any]]) -> None:
    stats = sim_stats(fire.services.sim_url)
    stored = sum(len(job["output"]["images"]) for job in jobs.values() if job["status"] == "succeeded")
    generated = int(stats["images_generated"])  # type: ignore[call-overload]
    in_bucket = sum(_objects(fire, job_id) for job_id in jobs)
    statuses = Counter(job["status"] for job in jobs.values())
    attempts = Counter(job["attempts"] for job in jobs.values())
    print(
        f"\nunder fire: {len(jobs)} jobs accepted, {dict(statuses)}; attempts {dict(sorted(attempts.items()))}\n"
        f"  answers to submissions: {dict(figures.answers)}; during the Redis outage: "
        f"{[r.status_code for r in figures.outage_answers]}\n"
        f"  Karlo: {stats['calls']} calls, {stats['random_faults_answered']} injected faults, {generated} images "
        f"generated; {stored} stored ({in_bucket} objects); {generated - stored} generated twice "
        f"({figures.worker_kills} worker kills of {CONCURRENCY} threads)\n"
        f"  longest a due queued job went without a live message: {figures.longest_without_message:.1f}s\n"
        f"  quota refused by Karlo: {stats['quota']['refused']}"  # type: ignore[index]
    )
    assert statuses == {"succeeded": len(jobs)}, [j for j in jobs.values() if j["status"] != "succeeded"]
    assert "500" not in figures.answers
    for answer in figures.outage_answers:
        assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["retry-after"]) > 0
    assert in_bucket == stored, "an image was lost between the store and the record"
    assert 0 <= generated - stored <= figures.worker_kills * CONCURRENCY * 2, "images generated and thrown away"
    assert figures.longest_without_message <= LIVE_MESSAGE_BOUND
    assert stats["quota"]["refused"] == 0  # type: ignore[index]
    _check_quota_windows(stats)
    _check_keys(fire, figures)
    _check_webhooks(fire, receiver, jobs)


def _objects(fire: Fire, job_id: str) -> int:
    listing = s3_client(fire.services.s3_url).list_objects_v2(Bucket=BUCKET, Prefix=f"images/jobs/{job_id}/")
    return int(listing.get("KeyCount", 0))


def _check_quota_windows(stats: dict[str, Any]) -> None:
    calls = [(entry["counted"], entry["images"]) for entry in stats["log"]]
    for start, _ in calls:
        assert sum(n for t, n in calls if start <= t < start + QUOTA_WINDOW) <= QUOTA_IMAGES


def _check_keys(fire: Fire, figures: Figures) -> None:
    """No key is stuck: every one used answers with its one job, at once."""
    for key, body in figures.bodies.items():
        again = fire.submit(key, body)
        assert again is not None and again.status_code == 202, (key, again and again.text)
        assert again.json()["id"] == figures.jobs[key]


def _check_webhooks(fire: Fire, receiver: Receiver, jobs: dict[str, dict[str, Any]]) -> None:
    """Every event of every job with a webhook was delivered, and the receiver answered 200 to it."""
    hooked = [job_id for job_id, job in jobs.items() if job.get("webhook")]
    expected: dict[str, str] = {}

    def all_delivered() -> bool:
        expected.clear()
        for job_id in hooked:
            found = deliveries(fire.tenant, job_id)
            if any(d["status"] != "delivered" for d in found):
                return False
            expected.update({d["id"]: d["event"] for d in found})
        return True

    wait_until(all_delivered, timeout=120, what="every webhook delivery", interval=2)
    answered = {r["headers"]["webhook-id"] for r in receiver.received("/load") if r["answered"] == 200}
    assert set(expected) <= answered
    print(f"  webhooks: {len(expected)} events of {len(hooked)} jobs delivered")
