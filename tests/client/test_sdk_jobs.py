"""The Python SDK against the real stack: every kind through ``run``, paging, cancel, wait, errors."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from karlo_devstack.services import sim_control
from karloq import (
    Client,
    ExtendInput,
    GenerateInput,
    InpaintInput,
    InvalidRequestError,
    Job,
    JobFailedError,
    JobStatus,
    Margins,
    NotFoundError,
    VariationInput,
    WaitTimeoutError,
)
from support.images import decode, image_bytes, mask_bytes
from support.stacks import Services

SMALL = {"width": 384, "height": 384}


def _decoded(files: list[Path]) -> list[Image.Image]:
    return [decode(path.read_bytes()) for path in files]


def test_generate_through_run_saves_decodable_images(client: Client, tmp_path: Path) -> None:
    result = client.run(
        GenerateInput(prompt="a lighthouse", samples=2, image_format="png", seed=[1, 2], **SMALL), out_dir=tmp_path
    )
    assert result.job.status == JobStatus.SUCCEEDED
    assert [p.name for p in result.files] == [f"{result.job.id}-0.png", f"{result.job.id}-1.png"]
    assert [(i.format, i.size) for i in _decoded(result.files)] == [("PNG", (384, 384))] * 2
    assert [i.seed for i in result.job.images] == [1, 2]


def test_variation_from_a_path(client: Client, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(image_bytes(96, 96))
    result = client.run(VariationInput(image_format="jpeg", **SMALL), image=photo, out_dir=tmp_path / "out")
    assert result.job.kind == "variation"
    assert result.job.input["image"]["format"] == "png"
    assert [i.format for i in _decoded(result.files)] == ["JPEG"]
    assert result.files[0].suffix == ".jpg"


def test_variation_from_a_url(client: Client, image_server: str, tmp_path: Path) -> None:
    result = client.run(VariationInput(**SMALL), image=f"{image_server}/photo.png", out_dir=tmp_path)
    assert result.job.input["image"]["width"] == 96
    assert len(_decoded(result.files)) == 1


def test_inpaint_from_bytes_and_a_pil_mask(client: Client, tmp_path: Path) -> None:
    mask = Image.open(io.BytesIO(mask_bytes(96, 96)))
    result = client.run(
        InpaintInput(prompt="a red door"), image=image_bytes(96, 96, "JPEG"), mask=mask, out_dir=tmp_path
    )
    assert result.job.kind == "inpaint"
    assert result.job.input["mask"]["format"] == "png"
    assert len(_decoded(result.files)) == 1


def test_extend_from_a_pil_image(client: Client, tmp_path: Path) -> None:
    photo = Image.new("RGB", (96, 96), (30, 160, 90))
    result = client.run(ExtendInput(prompt="more sky", extend=Margins(top=32)), image=photo, out_dir=tmp_path)
    assert result.job.kind == "extend"
    assert result.job.input["canvas"]["height"] == 128
    assert len(_decoded(result.files)) == 1


def test_paging_follows_next_cursor(client: Client) -> None:
    created = [client.jobs.create(GenerateInput(prompt=f"a tree number {n}", **SMALL)).id for n in range(25)]
    sizes, cursor = [], None
    while True:
        page = client.jobs.page(limit=10, cursor=cursor)
        sizes.append(len(page.data))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sizes == [10, 10, 5]
    listed = [job.id for job in client.jobs.list(limit=10)]
    assert listed == list(reversed(created))  # newest first, every job once
    generate_only = list(client.jobs.list(kind="generate", status=["queued", "running", "succeeded"], limit=10))
    assert {job.id for job in generate_only} <= set(created)


def test_create_with_prefer_wait_answers_with_the_finished_job(client: Client) -> None:
    job = client.jobs.create(GenerateInput(prompt="a quiet pond", **SMALL), wait=30)
    assert job.status == JobStatus.SUCCEEDED and job.is_terminal
    assert len(job.images) == 1


def test_wait_reports_progress_until_the_job_is_done(client: Client, services: Services) -> None:
    sim_control(services.sim_url, latency_ms=2500)  # running for longer than the longest pause between polls
    job = client.jobs.create(GenerateInput(prompt="a slow sunrise", **SMALL))
    seen: list[str] = []
    done = client.jobs.wait(job, timeout=30, on_progress=lambda j: seen.append(j.status))
    assert done.status == JobStatus.SUCCEEDED
    assert "running" in seen and seen[-1] == "succeeded"


def test_wait_times_out_with_the_job_as_it_stood(client: Client, services: Services) -> None:
    sim_control(services.sim_url, latency_ms=2500)
    job = client.jobs.create(GenerateInput(prompt="a very slow sunrise", **SMALL))
    with pytest.raises(WaitTimeoutError) as caught:
        client.jobs.wait(job, timeout=0.5)
    assert caught.value.job.id == job.id and not caught.value.job.is_terminal
    client.jobs.cancel(job)


def test_cancel_ends_the_job_canceled_and_run_raises(client: Client, services: Services, tmp_path: Path) -> None:
    sim_control(services.sim_url, latency_ms=1500)
    job = client.jobs.create(GenerateInput(prompt="a canceled castle", **SMALL))
    answered = client.jobs.cancel(job.id)
    assert answered.id == job.id
    assert answered.status == JobStatus.CANCELED or answered.cancel_requested
    final = client.jobs.wait(job, timeout=30)
    assert final.status == JobStatus.CANCELED
    with pytest.raises(JobFailedError) as caught:
        client.run(
            GenerateInput(prompt="a failing fortress", **SMALL),
            out_dir=tmp_path,
            prefer_wait=0,
            on_progress=_cancel(client),
        )
    assert caught.value.job.status == JobStatus.CANCELED


def _cancel(client: Client) -> Callable[[Job], None]:
    def cancel_once(job: Job) -> None:
        if not job.is_terminal and not job.cancel_requested:
            client.jobs.cancel(job)

    return cancel_once


def test_invalid_input_is_a_typed_problem_naming_the_field(client: Client) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        client.jobs.create(GenerateInput(prompt="a cat", width=100))
    error = caught.value
    assert (error.status, error.type, error.slug) == (422, "/problems/validation-error", "validation-error")
    assert error.title and error.detail
    assert [(e.field, e.rule) for e in error.errors] == [("input.width", "value_error")]
    assert "input.width" in str(error)


def test_missing_job_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.jobs.get("0" * 26)
    assert caught.value.status == 404 and caught.value.slug == "job-not-found"


def test_quota_lists_the_upstream_windows(client: Client) -> None:
    quota = client.quota()
    assert quota.scopes[0].scope == "karlo"
    assert {w.window for w in quota.scopes[0].windows} >= {"day"}
