"""Images Karlo made are never thrown away because the image store is down: the worker keeps them (in memory
and in its spool) and retries the store until it returns; Karlo is called once per job. Only a long
deadline makes the job fail, and even then Karlo is not asked again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from karlo_devstack.processes import ManagedProcess, wait_until
from karlo_devstack.services import sim_control, start_moto
from support.api import get_job, submit, wait_for_status, wait_until_terminal
from support.stacks import BUCKET, AppStack, Services, base_env, s3_client, sim_stats

BODY = {"input": {"prompt": "kept through the outage", "width": 384, "height": 384, "samples": 2}}


@dataclass
class OwnS3:
    """An S3 server of the test's own, so stopping it disturbs no other test."""

    workdir: Path
    proc: ManagedProcess
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.proc.kill()

    def start(self) -> None:
        self.proc, _ = start_moto(self.workdir, self.port)
        s3_client(self.url).create_bucket(Bucket=BUCKET)  # moto starts empty


@pytest.fixture
def own_s3(services: Services) -> Iterator[OwnS3]:
    workdir = services.workdir / "own-s3"
    proc, url = start_moto(workdir)
    s3_client(url).create_bucket(Bucket=BUCKET)
    s3 = OwnS3(workdir, proc, url)
    yield s3
    s3.proc.stop()


def _stack(services: Services, s3: OwnS3, name: str, **extra: str) -> AppStack:
    env = base_env(services, "s3", KARLOQ_S3_ENDPOINT_URL=s3.url, **extra)
    return AppStack(services.workdir / name, env)


def _stored_objects(s3: OwnS3, job_id: str) -> int:
    listing = s3_client(s3.url).list_objects_v2(Bucket=BUCKET, Prefix=f"images/jobs/{job_id}/")
    return int(listing.get("KeyCount", 0))


def test_jobs_wait_out_a_storage_outage_and_karlo_is_called_once(services: Services, own_s3: OwnS3) -> None:
    stack = _stack(services, own_s3, "storage-outage", KARLOQ_WORKER_CONCURRENCY="4").start(workers=1)
    try:
        sim_control(services.sim_url, latency_ms=500)
        ids = [submit(stack, BODY).json()["id"] for _ in range(4)]
        own_s3.stop()
        time.sleep(8)  # Karlo answers every job meanwhile; its images wait in the worker
        assert {get_job(stack, job_id)["status"] for job_id in ids} == {"running"}
        own_s3.start()

        jobs = [wait_until_terminal(stack, job_id, timeout=90) for job_id in ids]
        assert {job["status"] for job in jobs} == {"succeeded"}, jobs
        assert all(job["attempts"] == 1 for job in jobs)
        stats = sim_stats(services.sim_url)
        assert stats["calls"] == {"t2i": len(ids)}
        assert stats["images_generated"] == 2 * len(ids) == sum(_stored_objects(own_s3, j) for j in ids)
        spool = stack.workdir / "spool"
        wait_until(lambda: not any(spool.iterdir()), timeout=10, what="the spool to be emptied")
    finally:
        stack.stop()


def test_a_worker_killed_during_the_outage_leaves_its_images_to_the_next(services: Services, own_s3: OwnS3) -> None:
    stack = _stack(services, own_s3, "storage-outage-kill", KARLOQ_JOB_LEASE_SECONDS="2").start(workers=1)
    try:
        own_s3.stop()
        job_id = submit(stack, BODY).json()["id"]
        doomed = stack.workers[0]
        wait_until(lambda: "image store unavailable" in doomed.log_path.read_text(), timeout=30, what="a put")
        doomed.kill()
        own_s3.start()
        stack.add_worker()

        job = wait_until_terminal(stack, job_id, timeout=60)
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 2
        assert sim_stats(services.sim_url)["calls"] == {"t2i": 1}
        assert _stored_objects(own_s3, job_id) == 2
    finally:
        stack.stop()


def test_past_the_deadline_the_job_fails_without_calling_karlo_again(services: Services, own_s3: OwnS3) -> None:
    env = {"KARLOQ_STORAGE_RETRY_DEADLINE_SECONDS": "3"}
    stack = _stack(services, own_s3, "storage-deadline", **env).start(workers=1)
    try:
        own_s3.stop()
        job_id = submit(stack, BODY).json()["id"]
        job = wait_for_status(stack, job_id, {"succeeded", "failed"}, timeout=60)
        assert job["status"] == "failed" and job["error"]["code"] == "storage_error", job
        assert sim_stats(services.sim_url)["calls"] == {"t2i": 1}
        assert not (stack.workdir / "spool" / job_id).exists()
    finally:
        stack.stop()
