"""What clients see of a job: the public JSON shape, with fresh image links on every read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from karlo_core.jobs import Job, JobStatus
from karlo_core.storage import Storage


class ImageView(BaseModel):
    url: str = Field(description="Download link; expires, and is issued anew on every read")
    key: str
    width: int
    height: int
    format: str
    bytes: int
    seed: int | None
    nsfw_content_detected: bool | None
    nsfw_score: float | None


class OutputView(BaseModel):
    images: list[ImageView]


class ErrorView(BaseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. upstream_rejected")
    message: str
    upstream_code: int | None = Field(description="Karlo's own error code, when Karlo gave one")


class JobUrls(BaseModel):
    get: str = Field(description="This job")
    cancel: str = Field(description="POST here to cancel it")


class JobView(BaseModel):
    id: str
    kind: str
    status: str
    input: dict[str, Any]
    output: OutputView | None
    error: ErrorView | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    upstream: dict[str, Any]
    notices: list[str] = Field(description="Things worth knowing about how Karlo treats this input")
    estimated_start_at: datetime | None = Field(
        description="While the job waits for quota: when quota is expected to be available for it"
    )
    cancel_requested: bool = Field(
        description="A cancel arrived while the job was running: it ends canceled once Karlo answers"
    )
    urls: JobUrls


def _time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def job_view(job: Job, *, storage: Storage, base_url: str, url_ttl: int) -> JobView:
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
        input=job.input,
        output=output,
        error=ErrorView(**job.error.to_dict()) if job.error else None,
        attempts=job.attempts,
        created_at=datetime.fromtimestamp(job.created_at, UTC),
        started_at=_time(job.started_at),
        completed_at=_time(job.completed_at),
        upstream=job.upstream,
        notices=job.notices,
        estimated_start_at=_time(job.quota_eta) if job.status is JobStatus.WAITING_FOR_QUOTA else None,
        cancel_requested=job.cancel_requested,
        urls=JobUrls(get=f"{base_url}/v1/jobs/{job.id}", cancel=f"{base_url}/v1/jobs/{job.id}/cancel"),
    )
