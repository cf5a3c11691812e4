"""What open Karlo cannot do is refused at the edge, naming the backend and its limits, and nothing is stored
or queued; ``GET /v1/backends`` lists the enabled backends; jobs that name none keep going to hosted Karlo.
With the x4 upscaler's weights configured, ``upscale`` with ``scale: 4`` is accepted and other scales refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from karlo_core import keys
from support.api import get_job, submit
from support.images import b64, image_bytes, mask_bytes
from support.stacks import AppStack, Services, base_env, job_state_keys

PNG = b64(image_bytes(64, 64, "PNG"))
OPEN = "karlo-open"


def gen(**values: Any) -> dict[str, Any]:
    return {"backend": OPEN, "kind": "generate", "input": {"prompt": "a cat", **values}}


def var(**values: Any) -> dict[str, Any]:
    return {"backend": OPEN, "kind": "variation", "input": {"image": PNG, **values}}


#: (case, body, field named, rule)
REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("inpaint", {**gen(image=PNG, mask=b64(mask_bytes())), "kind": "inpaint"}, "kind", "backend_kind"),
    ("extend", {**gen(image=PNG, extend={"top": 64}), "kind": "extend"}, "kind", "backend_kind"),
    ("negative prompt", gen(negative_prompt="text"), "input.negative_prompt", "backend_parameter"),
    ("width other than its own", gen(width=512), "input.width", "backend_limit"),
    ("height other than its own", gen(height=1024), "input.height", "backend_limit"),
    ("variation width", var(width=384), "input.width", "backend_limit"),
    ("model version 2.1", gen(version="v2.1"), "input.version", "backend_parameter"),
    ("model version 2.0", gen(version="v2.0"), "input.version", "backend_parameter"),
    ("scheduler", gen(scheduler="decoder_ddim_v_prediction"), "input.scheduler", "backend_parameter"),
    ("face refiner", gen(face_refiner={"restoration_repeats": 1}), "input.face_refiner", "backend_parameter"),
    ("nsfw checker", gen(nsfw_checker=True), "input.nsfw_checker", "backend_limit"),
    ("upscale without upscaler weights", gen(upscale=True), "input.upscale", "backend_limit"),
    ("upscale scale", gen(scale=4), "input.scale", "backend_parameter"),
    ("variation prompt", var(prompt="more blue"), "input.prompt", "backend_parameter"),
    ("variation negative prompt", var(negative_prompt="red"), "input.negative_prompt", "backend_parameter"),
    ("variation version", var(version="v2.0"), "input.version", "backend_parameter"),
]


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[AppStack]:
    env = base_env(services, "local", KARLOQ_ENABLED_BACKENDS="karlo,karlo-open", KARLOQ_OPEN_KARLO_IMAGE_SIZE="256")
    stack = AppStack(Path(services.workdir) / "backend-limits", env).start(workers=0)
    yield stack
    stack.stop()


@pytest.mark.parametrize(("name", "body", "field", "rule"), REFUSED, ids=[case[0] for case in REFUSED])
def test_what_open_karlo_cannot_do_is_refused(
    api: AppStack, name: str, body: dict[str, Any], field: str, rule: str
) -> None:
    response = submit(api, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/unsupported-by-backend"
    assert problem["backend"] == OPEN
    assert problem["limits"]["sizes"] == [256]
    assert "karlo-open" in problem["detail"] and "256x256" in problem["detail"]
    assert {(e["field"], e["rule"]) for e in problem["errors"]} == {(field, rule)}
    assert job_state_keys(api.redis()) == []


def _waits_for_a_gpu_slot(api: AppStack, job_id: str) -> bool:
    """No open Karlo worker runs in this stack, so no GPU slot is free: an accepted job waits in its tenant's
    karlo-open queue of the scheduler, and nothing is sent to Celery's karlo-open queue."""
    queued = api.redis().zscore(keys.sched_queue(OPEN, api.tenant.tenant_id), job_id) is not None
    return queued and api.redis().llen("karlo-open") == 0


@pytest.mark.parametrize(
    "body",
    [
        gen(),
        gen(width=256, height=256, samples=2, seed=[1, 2], num_inference_steps=10, guidance_scale=4.0),
        gen(prior_num_inference_steps=10, prior_guidance_scale=2.0, upscale=False, nsfw_checker=False),
        var(samples=2, image_format="png"),
    ],
    ids=["plain", "own size and seeds", "prior parameters", "variation"],
)
def test_what_open_karlo_can_do_is_accepted_on_its_queue(api: AppStack, body: dict[str, Any]) -> None:
    response = submit(api, body)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["backend"] == OPEN
    assert not {"width", "height", "version", "upscale", "nsfw_checker", "negative_prompt"} & set(job["input"])
    assert _waits_for_a_gpu_slot(api, job["id"])
    assert api.redis().llen("jobs") == 0


def test_without_a_worker_a_queued_open_karlo_job_has_no_estimate_and_its_backlog_no_drain_time(api: AppStack) -> None:
    """A pace is known, but no worker is ready: there is no GPU slot, so nothing says when the job starts."""
    with api.redis() as client:
        client.hset(keys.sched_pace(OPEN), mapping={"seconds": 5, "images": 1, "runs": 1})
    response = submit(api, gen())
    assert response.status_code == 202, response.text
    job = get_job(api, response.json()["id"])
    assert job["status"] == "queued" and job["queue_position"] is not None and job["estimated_start_at"] is None
    quota = httpx.get(f"{api.api_url}/v1/quota", headers=api.headers, timeout=10).json()
    hosted, open_karlo = quota["backlogs"]
    assert quota["backlog"] == hosted and hosted["backend"] == "karlo"
    assert open_karlo["backend"] == OPEN and open_karlo["queued_jobs"] >= 1 and open_karlo["drained_at"] is None


def test_jobs_without_a_backend_go_to_hosted_karlo(api: AppStack) -> None:
    response = submit(api, {"input": {"prompt": "a cat", "negative_prompt": "dogs"}})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["backend"] == "karlo"
    assert job["input"]["width"] == 1024 and job["input"]["negative_prompt"] == "dogs"
    assert api.redis().llen("jobs") == 1
    api.redis().delete("jobs")


@pytest.mark.parametrize("name", ["stable-diffusion", "", 7])
def test_an_unknown_backend_is_refused(api: AppStack, name: object) -> None:
    response = submit(api, {"backend": name, "input": {"prompt": "a cat"}})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "backend"
    assert job_state_keys(api.redis()) == []


def test_a_backend_not_enabled_is_refused(services: Services) -> None:
    stack = AppStack(Path(services.workdir) / "karlo-only", base_env(services, "local")).start(workers=0)
    try:
        response = submit(stack, gen())
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0] == {
            "field": "backend",
            "rule": "backend_enabled",
            "message": "must be an enabled backend: karlo",
        }
        listed = httpx.get(f"{stack.api_url}/v1/backends", headers=stack.headers, timeout=10).json()
        assert [b["name"] for b in listed["data"]] == ["karlo"]
    finally:
        stack.stop()


def test_backends_are_listed_with_their_limits(api: AppStack) -> None:
    response = httpx.get(f"{api.api_url}/v1/backends", headers=api.headers, timeout=10)
    assert response.status_code == 200, response.text
    karlo, open_karlo = response.json()["data"]
    assert (karlo["name"], karlo["default"], karlo["capacity"], karlo["queue"]) == ("karlo", True, "quota", "jobs")
    assert karlo["kinds"] == ["generate", "variation", "inpaint", "extend"]
    assert "negative_prompt" in karlo["parameters"]["generate"]
    assert karlo["limits"]["model_versions"] == ["v2.1", "v2.0"]
    assert (open_karlo["name"], open_karlo["default"], open_karlo["capacity"]) == (OPEN, False, "gpu_slots")
    assert open_karlo["queue"] == "karlo-open"
    assert open_karlo["kinds"] == ["generate", "variation"]
    assert open_karlo["limits"]["sizes"] == [256] and open_karlo["limits"]["upscale_scales"] == []
    assert open_karlo["fixed"] == {"width": 256, "height": 256, "upscale": False, "nsfw_checker": False}
    assert not open_karlo["ready"]  # no worker has loaded the weights
    assert httpx.get(f"{api.api_url}/v1/backends", timeout=10).status_code == 401


@pytest.fixture(scope="module")
def api_with_upscaler(services: Services) -> Iterator[AppStack]:
    env = base_env(
        services,
        "local",
        KARLOQ_ENABLED_BACKENDS="karlo,karlo-open",
        KARLOQ_OPEN_KARLO_IMAGE_SIZE="256",
        KARLOQ_OPEN_KARLO_UPSCALER_MODEL="stabilityai/stable-diffusion-x4-upscaler",
    )
    stack = AppStack(Path(services.workdir) / "backend-limits-upscale", env).start(workers=0)
    yield stack
    stack.stop()


def test_with_the_upscaler_upscale_by_four_is_listed_and_accepted(api_with_upscaler: AppStack) -> None:
    api = api_with_upscaler
    listed = httpx.get(f"{api.api_url}/v1/backends", headers=api.headers, timeout=10).json()["data"]
    open_karlo = {b["name"]: b for b in listed}[OPEN]
    assert open_karlo["limits"]["upscale_scales"] == [4]
    assert open_karlo["fixed"] == {"width": 256, "height": 256, "nsfw_checker": False}
    assert "scale" in open_karlo["parameters"]["generate"] and "scale" in open_karlo["parameters"]["variation"]
    for body in (gen(upscale=True, scale=4), var(upscale=True, scale=4, samples=2)):
        response = submit(api, body)
        assert response.status_code == 202, response.text
        assert (response.json()["input"]["upscale"], response.json()["input"]["scale"]) == (True, 4)
        assert _waits_for_a_gpu_slot(api, response.json()["id"])
    plain = submit(api, gen())
    assert plain.status_code == 202, plain.text
    assert not {"upscale", "scale"} & set(plain.json()["input"])
    assert _waits_for_a_gpu_slot(api, plain.json()["id"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (gen(upscale=True), "only upscales by 4, got 2 (the default when upscale is true is 2)"),
        (gen(upscale=True, scale=2), "only upscales by 4, got 2"),
        (var(upscale=True, scale=2), "only upscales by 4, got 2"),
    ],
    ids=["default scale", "scale 2", "variation scale 2"],
)
def test_with_the_upscaler_other_scales_are_refused(
    api_with_upscaler: AppStack, body: dict[str, Any], message: str
) -> None:
    response = submit(api_with_upscaler, body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/unsupported-by-backend" and problem["backend"] == OPEN
    assert "upscale x4" in problem["detail"]
    [error] = problem["errors"]
    assert (error["field"], error["rule"]) == ("input.scale", "backend_limit")
    assert message in error["message"]
    assert job_state_keys(api_with_upscaler.redis()) == []


def test_multipart_jobs_name_their_backend(api: AppStack) -> None:
    files = {"image": ("in.png", image_bytes(64, 64, "PNG"), "image/png")}
    data = {"kind": "variation", "backend": OPEN, "input": '{"prompt": "x"}'}
    response = httpx.post(f"{api.api_url}/v1/jobs", data=data, files=files, headers=api.headers, timeout=30)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "input.prompt"
    data["input"] = "{}"
    response = httpx.post(f"{api.api_url}/v1/jobs", data=data, files=files, headers=api.headers, timeout=30)
    assert response.status_code == 202, response.text
    assert response.json()["backend"] == OPEN
    api.redis().delete("karlo-open")
