"""Open Karlo over the real wire: API -> the karlo-open queue -> a worker process that loaded the (tiny,
random-weight) pipelines, and the x4 upscaler, through the backend's own loading code -> storage -> webhook."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from karlo_core import keys
from karlo_devstack.processes import wait_until
from karloq import Client
from support.api import get_job, submit, wait_until_terminal
from support.events import Listener
from support.images import b64, image_bytes
from support.open_karlo import TINY_IMAGE_SIZE, TINY_UPSCALE_STEPS, add_open_karlo_worker, open_karlo_env
from support.receiver import Receiver
from support.stacks import AppStack, Services, base_env
from support.webhooks import rotate_secret, verified, wait_for_deliveries

WEBHOOK_ENV = {
    "KARLOQ_JOB_LEASE_SECONDS": "2",
    "KARLOQ_SWEEP_INTERVAL_SECONDS": "0.3",
    "KARLOQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "KARLOQ_WEBHOOK_ALLOW_HTTP": "true",
    "KARLOQ_WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.2",
}
#: Enough denoising steps that a job runs for seconds on the tiny model, to be watched, canceled or killed.
LONG = {"prior_num_inference_steps": 100, "num_inference_steps": 100}


def test_a_stream_shows_progress_with_rising_steps_before_the_job_succeeds(stack: AppStack) -> None:
    tenant_progress = Listener(stack, params={"event": "job.progress"}).start()
    steps = {"prior_num_inference_steps": 25, "num_inference_steps": 25}
    response = submit(stack, {"backend": "karlo-open", "input": {"prompt": "a slow kite", **steps}})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    listener = Listener(stack, f"/v1/jobs/{job_id}/events").start()
    listener.wait_ended(timeout=120)
    names = [e.event for e in listener.events]
    assert names[-1] == "job.succeeded" and names.index("job.started") < names.index("job.progress"), names
    progress = [e.data for e in listener.events if e.event == "job.progress"]
    total = 25 + 25 + 7
    assert all(p["job_id"] == job_id and p["kind"] == "generate" and p["total"] == total for p in progress)
    assert [p["step"] for p in progress] == sorted({p["step"] for p in progress}), progress
    assert progress[-1]["step"] == total  # the last step is always sent
    # at most one per second (but the last): far fewer events than steps
    assert 2 <= len(progress) <= total
    tenant_progress.wait_for(lambda events: any(e.data["step"] == total for e in events), what="the last step")
    tenant_progress.stop()
    assert {e.event for e in tenant_progress.events} == {"job.progress"}

    with Client(stack.api_url, stack.tenant.api_key) as sdk:
        followed = sdk.jobs.follow(job_id, timeout=60)
        assert followed.status == "succeeded"
        seen = [e.progress for e in sdk.jobs.events(job_id) if e.progress is not None]
        assert [p.step for p in seen] == [p["step"] for p in progress]


@pytest.fixture(scope="module")
def stack(services: Services, open_karlo_models: Path, open_karlo_upscaler: Path) -> Iterator[AppStack]:
    env = base_env(services, "s3", **WEBHOOK_ENV, **open_karlo_env(open_karlo_models, open_karlo_upscaler))
    app_stack = AppStack(Path(services.workdir) / "open-karlo", env).start(workers=1)
    add_open_karlo_worker(app_stack)
    yield app_stack
    app_stack.stop()


def run(stack: AppStack, kind: str, **values: Any) -> dict[str, Any]:
    response = submit(stack, {"backend": "karlo-open", "kind": kind, "input": values})
    assert response.status_code == 202, response.text
    job = wait_until_terminal(stack, response.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job
    return job


def downloads(job: dict[str, Any]) -> list[bytes]:
    return [httpx.get(image["url"], timeout=10).content for image in job["output"]["images"]]


def test_open_karlo_is_listed_ready_once_its_worker_loaded_it(stack: AppStack) -> None:
    def ready() -> bool:
        listed = httpx.get(f"{stack.api_url}/v1/backends", headers=stack.headers, timeout=10).json()["data"]
        return {b["name"]: b["ready"] for b in listed} == {"karlo": True, "karlo-open": True}

    wait_until(ready, timeout=10, what="both backends ready")


def test_generate_goes_through_its_queue_to_storage_and_webhook(stack: AppStack, receiver: Receiver) -> None:
    secret = rotate_secret(stack)
    response = submit(
        stack,
        {
            "backend": "karlo-open",
            "input": {"prompt": "a paper boat", "samples": 2, "seed": [7, 8], "image_format": "png"},
            "webhook": {"url": receiver.hook("/open"), "events": ["job.succeeded"]},
        },
    )
    assert response.status_code == 202, response.text
    job = wait_until_terminal(stack, response.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job
    assert job["backend"] == "karlo-open" and job["upstream"]["model_version"] == "karlo-v1-alpha"
    assert [image["seed"] for image in job["output"]["images"]] == [7, 8]
    for data, image in zip(downloads(job), job["output"]["images"], strict=True):
        decoded = Image.open(io.BytesIO(data))
        assert decoded.format == "PNG" and decoded.size == (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE)
        assert (image["width"], image["height"]) == (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE)
    assert job["progress"]["step"] == job["progress"]["total"] == 25 + 25 + 7
    wait_for_deliveries(stack, job["id"], count=1, statuses={"delivered"})
    [(_, body)] = verified(receiver, secret, "/open")
    assert body["id"] == job["id"] and body["status"] == "succeeded"


def test_the_same_seed_gives_the_same_bytes(stack: AppStack) -> None:
    values = {
        "prompt": "a lighthouse",
        "samples": 2,
        "seed": [11, 12],
        "num_inference_steps": 10,
        "prior_num_inference_steps": 10,
    }
    first, second = run(stack, "generate", **values), run(stack, "generate", **values)
    assert downloads(first) == downloads(second)
    other = run(stack, "generate", **{**values, "seed": [13, 12]})
    assert downloads(other)[0] != downloads(first)[0]


def test_upscale_by_four_makes_images_four_times_the_size_and_the_same_seed_the_same_bytes(stack: AppStack) -> None:
    listed = httpx.get(f"{stack.api_url}/v1/backends", headers=stack.headers, timeout=10).json()["data"]
    assert {b["name"]: b["limits"]["upscale_scales"] for b in listed}["karlo-open"] == [4]
    values = {"prompt": "a harbour", "samples": 2, "seed": [31, 32], "image_format": "png", "upscale": True, "scale": 4}
    first = run(stack, "generate", **values, num_inference_steps=10, prior_num_inference_steps=10)
    assert (first["input"]["upscale"], first["input"]["scale"]) == (True, 4)
    upscaled = 4 * TINY_IMAGE_SIZE
    for data, image in zip(downloads(first), first["output"]["images"], strict=True):
        assert Image.open(io.BytesIO(data)).size == (upscaled, upscaled)
        assert (image["width"], image["height"]) == (upscaled, upscaled)
    assert first["progress"]["step"] == first["progress"]["total"] == 10 + 10 + 7 + TINY_UPSCALE_STEPS
    second = run(stack, "generate", **values, num_inference_steps=10, prior_num_inference_steps=10)
    assert downloads(second) == downloads(first)
    variation = run(stack, "variation", image=b64(image_bytes(96, 80, "PNG")), seed=[4], upscale=True, scale=4)
    [data] = downloads(variation)
    assert Image.open(io.BytesIO(data)).size == (upscaled, upscaled)


def test_variation_makes_images_of_its_size(stack: AppStack) -> None:
    source = b64(image_bytes(96, 80, "PNG"))
    job = run(stack, "variation", image=source, samples=2, seed=[1, 2], image_format="webp")
    assert job["input"]["image"]["width"] == 96
    for data in downloads(job):
        decoded = Image.open(io.BytesIO(data))
        assert decoded.format == "WEBP" and decoded.size == (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE)
    assert job["progress"]["total"] == 25 + 7


def test_progress_shows_while_running_and_a_cancel_stops_between_steps(stack: AppStack) -> None:
    response = submit(stack, {"backend": "karlo-open", "input": {"prompt": "slow", **LONG}})
    job_id = response.json()["id"]
    seen: list[dict[str, Any]] = []

    def progressing() -> bool:
        job = get_job(stack, job_id)
        if job["progress"]:
            seen.append(job["progress"])
        return len({p["step"] for p in seen}) >= 2

    wait_until(progressing, timeout=60, what="progress to advance", interval=0.05)
    assert all(p["total"] == 100 + 100 + 7 and 0 < p["step"] < p["total"] for p in seen)
    canceled = httpx.post(f"{stack.api_url}/v1/jobs/{job_id}/cancel", headers=stack.headers, timeout=10)
    assert canceled.status_code == 202, canceled.text
    job = wait_until_terminal(stack, job_id, timeout=30)
    assert job["status"] == "canceled" and job["output"] is None
    assert job["progress"]["step"] < job["progress"]["total"]


def test_a_queued_job_is_estimated_from_the_measured_run_once_a_job_has_finished(stack: AppStack) -> None:
    """One worker, one slot: three jobs queue behind each other. Until one has finished nothing is measured and
    the estimate is null; once the first has, the third's estimate (the second running) comes within one
    measured run, and the hand-out's own delay, of when it really starts."""
    with stack.redis() as client:
        client.delete(keys.sched_pace("karlo-open"))
    steps = {"prior_num_inference_steps": 10, "num_inference_steps": 10}
    ids = [
        submit(stack, {"backend": "karlo-open", "input": {"prompt": f"a queue {i}", **steps}}).json()["id"]
        for i in range(3)
    ]
    waiting = get_job(stack, ids[2])
    assert waiting["status"] == "queued" and waiting["queue_position"]["tenant"] >= 1
    assert waiting["estimated_start_at"] is None  # nothing measured yet
    wait_until(lambda: get_job(stack, ids[1])["status"] == "running", timeout=120, what="the second job to run")
    waiting = get_job(stack, ids[2])
    quota = httpx.get(f"{stack.api_url}/v1/quota", headers=stack.headers, timeout=10).json()
    [backlog] = [b for b in quota["backlogs"] if b["backend"] == "karlo-open"]
    jobs = [wait_until_terminal(stack, job_id, timeout=120) for job_id in ids]
    assert [job["status"] for job in jobs] == ["succeeded"] * 3, jobs
    assert waiting["status"] == "queued" and waiting["queue_position"] == {"tenant": 1, "overall": 1}
    assert waiting["estimated_start_at"] is not None
    assert backlog["queued_jobs"] == 1 and backlog["drained_at"] is not None
    assert abs(_moment(backlog["drained_at"]) - _moment(waiting["estimated_start_at"])) < 0.01
    started = [_moment(job["started_at"]) for job in jobs]
    runs = [_moment(job["completed_at"]) - start for job, start in zip(jobs, started, strict=True)]
    hand_out = started[2] - _moment(jobs[1]["completed_at"])  # from the slot freeing to the next job's claim
    assert abs(_moment(waiting["estimated_start_at"]) - started[2]) <= max(runs[:2]) + hand_out, (runs, hand_out)


def _moment(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


@pytest.fixture(scope="module")
def receiver(services: Services) -> Iterator[Receiver]:
    started = Receiver(Path(services.workdir)).start()
    yield started
    started.stop()


def test_a_worker_killed_mid_job_runs_it_again_once(stack: AppStack) -> None:
    """Last in the module: it replaces the stack's open Karlo worker."""
    [doomed] = [worker for worker in stack.workers if worker.name.startswith("open-worker")]
    job_id = submit(stack, {"backend": "karlo-open", "input": {"prompt": "survive", **LONG}}).json()["id"]
    wait_until(lambda: get_job(stack, job_id)["progress"] is not None, timeout=60, what="the job to run")
    doomed.kill()
    add_open_karlo_worker(stack)
    job = wait_until_terminal(stack, job_id, timeout=120)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    assert len(job["output"]["images"]) == 1
    assert job["progress"]["step"] == job["progress"]["total"] == 100 + 100 + 7


def test_a_worker_without_the_weights_refuses_to_start(services: Services, tmp_path: Path) -> None:
    """The default names the hub repositories: with an empty Hugging Face cache there is nothing to load,
    and nothing is downloaded."""
    env = {
        **os.environ,
        **base_env(services, "local"),
        "KARLOQ_ENABLED_BACKENDS": "karlo,karlo-open",
        "KARLOQ_WORKER_QUEUES": "karlo-open",
        "KARLOQ_WORKER_METRICS_PORT": "-1",
        "HF_HOME": str(tmp_path / "empty-hf-home"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "karlo_worker"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "'kakaobrain/karlo-v1-alpha' are neither a directory nor in the Hugging Face cache" in done.stderr
    assert "ready." not in done.stderr + done.stdout
