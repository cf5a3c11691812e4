"""What clients see of a job: the public JSON shape, with fresh image links on every read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from karlo_core.backends.catalogue import recorded_input
from karlo_core.jobs import Job, JobStatus
from karlo_core.scheduler import QueuePlace
from karlo_core.storage import Storage
from karlo_core.webhooks.events import ALL_EVENTS

JOB_EXAMPLE: dict[str, Any] = {
    "id": "01jd2m8k6q3v9x0f4t7b2c5n8r",
    "kind": "generate",
    "status": "succeeded",
    "input": {"prompt": "a cat in a spacesuit, watercolor", "samples": 1, "width": 1024, "height": 1024},
    "output": {
        "images": [
            {
                "url": "https://s3.example.com/bucket/karlo/jobs/01jd2m8k6q3v9x0f4t7b2c5n8r/0.webp?X-Amz-Signature=...",
                "key": "jobs/01jd2m8k6q3v9x0f4t7b2c5n8r/0.webp",
                "width": 1024,
                "height": 1024,
                "format": "webp",
                "bytes": 183204,
                "seed": 3878985338,
                "nsfw_content_detected": None,
                "nsfw_score": None,
            }
        ]
    },
    "error": None,
    "attempts": 1,
    "created_at": "2026-11-25T06:00:00Z",
    "started_at": "2026-11-25T06:00:00.120Z",
    "completed_at": "2026-11-25T06:00:04.800Z",
    "upstream": {"request_id": "5e0f1c1e-7e43-4b1e-9c5c-1d0e9a3f1b2a", "model_version": "v2.1"},
    "notices": [],
    "estimated_start_at": None,
    "cancel_requested": False,
    "webhook": {"url": "https://backend.example.com/karlo-hooks", "events": ["job.succeeded", "job.failed"]},
    "batch_id": None,
    "urls": {
        "get": "https://karlo-queue.example.com/v1/jobs/01jd2m8k6q3v9x0f4t7b2c5n8r",
        "cancel": "https://karlo-queue.example.com/v1/jobs/01jd2m8k6q3v9x0f4t7b2c5n8r/cancel",
    },
}


class ImageView(BaseModel):
    url: str = Field(description="Download link; expires, and is issued anew on every read")
    key: str = Field(description="Where the image is stored, under the storage prefix")
    width: int = Field(description="Pixels")
    height: int = Field(description="Pixels")
    format: str = Field(description="webp, jpeg or png")
    bytes: int = Field(description="Size of the stored file")
    seed: int | None = Field(description="The seed Karlo used: the same seed and input give the same image")
    nsfw_content_detected: bool | None = Field(description="With `nsfw_checker`: Karlo's verdict")
    nsfw_score: float | None = Field(description="With `nsfw_checker`: Karlo's score, 0-1")


class OutputView(BaseModel):
    images: list[ImageView] = Field(description="In the order Karlo returned them")


class ErrorView(BaseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. upstream_rejected")
    message: str = Field(description="What went wrong, for people")
    upstream_code: int | None = Field(description="Karlo's own error code, when Karlo gave one")


class WebhookView(BaseModel):
    url: str = Field(description="Where this job's events go: its own webhook, or the tenant default")
    events: list[str] = Field(description="The events sent; all of them when the job named none")


class ProgressView(BaseModel):
    step: int = Field(description="Denoising steps done, over all stages")
    total: int = Field(description="Denoising steps the job takes in all")
    stage: str = Field(description="The stage of the last step: prior, decoder or super_res")


class JobUrls(BaseModel):
    get: str = Field(description="This job")
    cancel: str = Field(description="POST here to cancel it")


class QueuePositionView(BaseModel):
    tenant: int = Field(description="Place among the tenant's own queued jobs for the same backend (1 = next)")
    overall: int = Field(description="Estimated place among every tenant's queued jobs, by weighted fair shares")


class JobView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [JOB_EXAMPLE]})

    id: str = Field(description="26 characters, sorting by creation time")
    kind: str = Field(description="generate, variation, inpaint or extend")
    status: str = Field(description="queued, waiting_for_quota, running, succeeded, failed or canceled")
    input: dict[str, Any] = Field(description="The checked parameters; input images as stored keys, never bytes")
    output: OutputView | None = Field(description="Once succeeded: the images")
    error: ErrorView | None = Field(description="Once failed: why (the last error while it is retried)")
    attempts: int = Field(description="Times a worker has started it")
    created_at: datetime = Field(description="When the API accepted it")
    started_at: datetime | None = Field(description="When a worker first started it")
    completed_at: datetime | None = Field(description="When it reached a terminal status")
    upstream: dict[str, Any] = Field(description="Karlo's request id and model version, once Karlo answered")
    notices: list[str] = Field(description="Things worth knowing about how Karlo treats this input")
    estimated_start_at: datetime | None = Field(
        description="While the job is queued or waits for quota: when it is expected to start, from the jobs "
        "ahead of it (its tenant's, and other tenants' by their weights), the quota windows and Karlo's own "
        "block after a -10; on a local backend (karlo-open), from its slots, the jobs running and ahead, and "
        "the measured run time of its recent jobs: null there until one of its jobs has succeeded, or while it has "
        "no GPU slot (no slots setting and no worker ready)"
    )
    queue_position: QueuePositionView | None = Field(
        default=None,
        description="While the job waits in its tenant's queue: its place (1 = next) among the tenant's jobs and "
        "among all tenants' (estimated from weighted fair shares); null once handed to a worker",
    )
    priority: str = Field(default="normal", description="high, normal or low: its order among the tenant's jobs")
    cancel_requested: bool = Field(
        description="A cancel arrived while the job was running: it ends canceled once Karlo answers"
    )
    webhook: WebhookView | None = Field(description="The job's webhook, when it has one")
    batch_id: str | None = Field(description="The batch it was submitted in, if any")
    urls: JobUrls
    backend: str = Field(default="karlo", description="The generation backend that runs it: karlo or karlo-open")
    progress: ProgressView | None = Field(
        default=None, description="On a local backend (karlo-open), once running: denoising steps done of the total"
    )


def _place_view(place: QueuePlace | None) -> QueuePositionView | None:
    return QueuePositionView(tenant=place.tenant, overall=place.overall) if place else None


def _estimated_start(job: Job, place: QueuePlace | None) -> datetime | None:
    if place is not None and place.estimated_start_at is not None:
        return _time(place.estimated_start_at)
    return _time(job.quota_eta) if job.status is JobStatus.WAITING_FOR_QUOTA else None


def _time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _webhook(job: Job) -> WebhookView | None:
    if not job.webhook_url:
        return None
    events = job.webhook_events.split() or list(ALL_EVENTS)
    return WebhookView(url=job.webhook_url, events=events)


def job_view(job: Job, *, storage: Storage, base_url: str, url_ttl: int, place: QueuePlace | None = None) -> JobView:
    """The job as the API shows it; ``place`` (from the scheduler) while it waits in its tenant's queue."""
    output = None
    if job.images:
        images = [
            ImageView(url=storage.url_for(image.key, ttl_seconds=url_ttl), **image.to_dict()) for image in job.images
        ]
        output = OutputView(images=images)
    return JobView(
        id=job.id,
        kind=job.kind.value,
        status=job.status.value,
        input=recorded_input(job),
        output=output,
        error=ErrorView(**job.error.to_dict()) if job.error else None,
        attempts=job.attempts,
        created_at=datetime.fromtimestamp(job.created_at, UTC),
        started_at=_time(job.started_at),
        completed_at=_time(job.completed_at),
        upstream=job.upstream,
        notices=job.notices,
        estimated_start_at=_estimated_start(job, place),
        queue_position=_place_view(place),
        priority=job.priority,
        cancel_requested=job.cancel_requested,
        webhook=_webhook(job),
        batch_id=job.batch_id,
        urls=JobUrls(get=f"{base_url}/v1/jobs/{job.id}", cancel=f"{base_url}/v1/jobs/{job.id}/cancel"),
        backend=job.backend,
        progress=ProgressView(**job.progress.to_dict()) if job.progress else None,
    )
