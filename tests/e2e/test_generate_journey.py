"""One text-to-image job over the real wire: API, Celery worker, Karlo simulator, storage, download."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from karlo_core.queue import enqueue_job, make_celery
from karlo_core.settings import Settings
from support.api import get_job, submit, wait_until_terminal
from support.stacks import BUCKET, AppStack, Services, base_env, s3_client, sim_stats


@pytest.fixture(scope="module", params=["s3", "local"])
def stack(request: pytest.FixtureRequest, services: Services) -> Iterator[AppStack]:
    storage = request.param
    app_stack = AppStack(services.workdir / f"journey-{storage}", base_env(services, storage))
    app_stack.env["TEST_STORAGE"] = storage
    app_stack.start(workers=1)
    yield app_stack
    app_stack.stop()


def without_links(job: dict[str, Any]) -> dict[str, Any]:
    images = [{k: v for k, v in image.items() if k != "url"} for image in job["output"]["images"]]
    return {**job, "output": {"images": images}}


def _download(url: str) -> bytes:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response.content


def test_job_travels_the_whole_path(stack: AppStack, services: Services) -> None:
    body = {
        "kind": "generate",
        "input": {
            "prompt": "a lighthouse at dusk",
            "width": 640,
            "height": 384,
            "samples": 2,
            "seed": [7, 8],
            "image_format": "png",
        },
    }
    response = submit(stack, body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    assert response.headers["location"] == accepted["urls"]["get"]

    job = wait_until_terminal(stack, accepted["id"])
    assert job["status"] == "succeeded", job
    images = job["output"]["images"]
    assert [i["seed"] for i in images] == [7, 8]
    for image in images:
        data = _download(image["url"])
        assert len(data) == image["bytes"]
        decoded = Image.open(io.BytesIO(data))
        assert (decoded.format, decoded.size) == ("PNG", (640, 384))
    assert job["upstream"]["model_version"] == "v2.1.1.prod"
    assert sim_stats(services.sim_url)["images_generated"] == 2


def test_images_land_in_the_configured_backend(stack: AppStack, services: Services) -> None:
    response = submit(stack, {"input": {"prompt": "a red kite", "width": 512, "height": 512}})
    job = wait_until_terminal(stack, response.json()["id"])
    key = job["output"]["images"][0]["key"]
    assert key == f"jobs/{job['id']}/0.webp"
    if stack.env["TEST_STORAGE"] == "s3":
        head = s3_client(services.s3_url).head_object(Bucket=BUCKET, Key=f"images/{key}")
        assert head["ContentType"] == "image/webp"
        assert "X-Amz-Signature=" in job["output"]["images"][0]["url"]
    else:
        assert (services.workdir / "storage" / key).is_file()
        assert "/v1/files/" in job["output"]["images"][0]["url"]


def test_same_seed_gives_the_same_bytes(stack: AppStack) -> None:
    body = {"input": {"prompt": "two identical foxes", "width": 384, "height": 384, "seed": [42]}}
    first, second = (wait_until_terminal(stack, submit(stack, body).json()["id"]) for _ in range(2))
    assert _download(first["output"]["images"][0]["url"]) == _download(second["output"]["images"][0]["url"])


def test_a_redelivered_message_does_not_run_a_finished_job_again(stack: AppStack, services: Services) -> None:
    job_id = submit(stack, {"input": {"prompt": "once only", "width": 384, "height": 384}}).json()["id"]
    finished = wait_until_terminal(stack, job_id)
    celery = make_celery(Settings(redis_url=stack.redis_url), "redelivery-test")
    enqueue_job(celery, job_id)
    enqueue_job(celery, job_id)
    # A fresh job after the duplicates proves the worker has consumed them (one worker, FIFO queue).
    marker = submit(stack, {"input": {"prompt": "marker", "width": 384, "height": 384}}).json()["id"]
    wait_until_terminal(stack, marker)
    again = get_job(stack, job_id)
    # Image links are signed afresh on every read; everything else must be exactly as it was.
    assert without_links(again) == without_links(finished)
    assert again["attempts"] == 1
    assert sim_stats(services.sim_url)["calls"] == {"t2i": 2}


def test_invalid_input_is_refused_and_nothing_is_stored(stack: AppStack) -> None:
    response = submit(stack, {"input": {"prompt": "x" * 257, "width": 500, "samples": 9}})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {e["field"] for e in problem["errors"]} == {"input.prompt", "input.width", "input.samples"}
    assert list(stack.redis().scan_iter("karloq:job:*")) == []


def test_unknown_job_is_a_404_problem(stack: AppStack) -> None:
    response = httpx.get(f"{stack.api_url}/v1/jobs/01aaaaaaaaaaaaaaaaaaaaaaaa", headers=stack.headers, timeout=5)
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/job-not-found"
