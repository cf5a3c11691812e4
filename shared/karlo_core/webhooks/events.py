"""Webhook event names, the job statuses they mark, and the per-job webhook option."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from karlo_core.jobs import JobStatus

EventName = Literal["job.started", "job.waiting_for_quota", "job.succeeded", "job.failed", "job.canceled"]

#: One event per status a job can move into (a job back in ``queued`` after a failed attempt sends none).
EVENT_FOR_STATUS: dict[JobStatus, EventName] = {
    JobStatus.RUNNING: "job.started",
    JobStatus.WAITING_FOR_QUOTA: "job.waiting_for_quota",
    JobStatus.SUCCEEDED: "job.succeeded",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELED: "job.canceled",
}
ALL_EVENTS: tuple[EventName, ...] = tuple(EVENT_FOR_STATUS.values())
#: The longest webhook URL taken, per job and as a tenant's default.
MAX_URL_LENGTH = 2048


class WebhookOption(BaseModel):
    """The ``webhook`` field of a create-job body."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=MAX_URL_LENGTH, description="The receiver; https, in public address space")
    events: list[EventName] | None = Field(
        default=None, min_length=1, description="Which events to send; all of them when left out"
    )


def events_field(events: list[EventName] | None) -> str:
    """The filter as stored on the job: space-separated event names, '' for all events."""
    return " ".join(dict.fromkeys(events)) if events else ""
