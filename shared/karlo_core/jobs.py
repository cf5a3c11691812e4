"""The job model: kinds, statuses and their transitions, the record, and the inputs of each kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobKind(StrEnum):
    GENERATE = "generate"
    VARIATION = "variation"
    INPAINT = "inpaint"
    EXTEND = "extend"


class JobStatus(StrEnum):
    QUEUED = "queued"
    WAITING_FOR_QUOTA = "waiting_for_quota"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
#: Statuses from which a worker may claim a job (running only once its lease has expired).
CLAIMABLE_STATUSES = (JobStatus.QUEUED, JobStatus.WAITING_FOR_QUOTA, JobStatus.RUNNING)


@dataclass(frozen=True)
class StoredImage:
    key: str
    width: int
    height: int
    format: str
    bytes: int
    seed: int | None
    nsfw_content_detected: bool | None
    nsfw_score: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredImage:
        return cls(**data)


@dataclass(frozen=True)
class JobError:
    """Why a job failed. ``upstream_code`` is Karlo's code when Karlo gave one."""

    code: str
    message: str
    upstream_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Job:
    id: str
    kind: JobKind
    status: JobStatus
    input: dict[str, Any]
    created_at: float
    tenant: str = "default"
    started_at: float | None = None
    completed_at: float | None = None
    attempts: int = 0
    images: list[StoredImage] = field(default_factory=list)
    error: JobError | None = None
    upstream: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    #: Failed upstream attempts so far (waiting for quota is not a failure).
    failures: int = 0
    #: While waiting for quota: when it is expected to run.
    quota_eta: float | None = None
    #: When the current wait for quota began (cleared once the job settles after getting quota).
    quota_wait_since: float | None = None
    #: A cancel arrived while the job was running; it ends canceled once the upstream call returns.
    cancel_requested: bool = False
    #: Where this job's webhook events go (the job's own URL or the tenant default), and which events
    #: (space-separated names; empty for all).
    webhook_url: str | None = None
    webhook_events: str = ""
    #: The batch the job was submitted in, if any.
    batch_id: str | None = None
