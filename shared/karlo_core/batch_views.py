"""What clients see of a batch: its counts by status and progress (also the ``batch.completed`` body)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from karlo_core.batches import Batch
from karlo_core.jobs import JobStatus


class BatchUrls(BaseModel):
    get: str = Field(description="This batch")
    jobs: str = Field(description="Its jobs (`GET /v1/jobs?batch=`)")
    cancel: str = Field(description="POST here to cancel what has not finished")


class BatchView(BaseModel):
    id: str = Field(description="26 characters, sorting by creation time")
    status: Literal["in_progress", "completed"] = Field(description="completed once every job has finished")
    total: int = Field(description="Jobs in the batch")
    counts: dict[str, int] = Field(description="Jobs in each status: queued, waiting_for_quota, running, ...")
    finished: int = Field(description="Jobs that succeeded, failed or were canceled")
    progress: float = Field(description="finished / total, 0-1")
    created_at: datetime = Field(description="When the API accepted it")
    completed_at: datetime | None = Field(description="When its last job finished")
    urls: BatchUrls


def batch_view(batch: Batch, counts: dict[JobStatus, int] | None, *, base_url: str) -> BatchView:
    """The batch with ``counts`` by status (read now), or, for a finished batch's event, its final counts."""
    if counts is None:
        counts = {status: 0 for status in JobStatus}
        counts.update({JobStatus.SUCCEEDED: batch.succeeded, JobStatus.FAILED: batch.failed})
        counts[JobStatus.CANCELED] = batch.canceled
    finished = sum(counts.get(s, 0) for s in JobStatus if s.is_terminal)
    url = f"{base_url}/v1/batches/{batch.id}"
    return BatchView(
        id=batch.id,
        status="completed" if batch.completed_at is not None else "in_progress",
        total=batch.total,
        counts={status.value: counts.get(status, 0) for status in JobStatus},
        finished=finished,
        progress=round(finished / batch.total, 4) if batch.total else 1.0,
        created_at=datetime.fromtimestamp(batch.created_at, UTC),
        completed_at=datetime.fromtimestamp(batch.completed_at, UTC) if batch.completed_at else None,
        urls=BatchUrls(get=url, jobs=f"{base_url}/v1/jobs?batch={batch.id}", cancel=f"{url}/cancel"),
    )
