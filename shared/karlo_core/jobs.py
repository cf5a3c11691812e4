"""The job model: kinds, statuses, the record, and what a job takes.

A job's input has one owner per value: ``params`` is the kind's checked parameters model
(:mod:`karlo_core.job_inputs`, which holds every default), ``inputs`` are the input images stored before the job
existed, and ``canvas`` is where an extension put the original. In the record (and in the job's view) the three
are one JSON object, as the API has always shown it: :meth:`Job.input_record` and :func:`job_input_from_record`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from karlo_core.job_inputs import PARAMS_BY_KIND, OutputOptions

#: The tenant of a job whose record names none (records stored before jobs had tenants).
DEFAULT_TENANT = "default"


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
class StoredInput:
    """An input image, stored before the job was accepted: ``image``, ``mask`` and, for an extension, the
    ``original`` it was made from (``image`` and ``mask`` are then the canvas and its mask)."""

    key: str
    format: str
    width: int
    height: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ExtendedCanvas:
    """An extension's canvas: its size, and the original's left, top, right and bottom edges on it."""

    width: int
    height: int
    placement: tuple[int, int, int, int]

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "placement": list(self.placement)}


#: Names in an input record that are not parameters.
_INPUT_NAMES = ("image", "mask", "original")
_CANVAS = "canvas"


def job_input_from_record(
    kind: JobKind, record: dict[str, Any]
) -> tuple[OutputOptions, dict[str, StoredInput], ExtendedCanvas | None]:
    """The parameters model, stored images and canvas of an input record (see :meth:`Job.input_record`)."""
    values = {name: value for name, value in record.items() if name not in (*_INPUT_NAMES, _CANVAS)}
    inputs = {name: StoredInput(**record[name]) for name in _INPUT_NAMES if name in record}
    raw_canvas = record.get(_CANVAS)
    canvas = None
    if raw_canvas:
        left, top, right, bottom = raw_canvas["placement"]
        canvas = ExtendedCanvas(raw_canvas["width"], raw_canvas["height"], (left, top, right, bottom))
    return PARAMS_BY_KIND[kind.value].model_validate(values), inputs, canvas


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
    #: The kind's checked parameters (GenerateParams, VariationParams, InpaintParams or ExtendParams).
    params: OutputOptions
    created_at: float
    tenant: str = DEFAULT_TENANT
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
    #: The input images, by name; none for a generate job.
    inputs: dict[str, StoredInput] = field(default_factory=dict)
    #: An extension's canvas.
    canvas: ExtendedCanvas | None = None
    #: The generation backend that runs it (``karlo`` unless the job named another).
    backend: str = "karlo"
    #: While a local backend runs it: denoising steps done and their total, and the stage.
    progress: JobProgress | None = None
    #: Its order within its tenant's queue: high, normal or low.
    priority: str = "normal"
    #: The quota reservation the scheduler made when it handed the job out, and the attempt it is for.
    reservation: str | None = None
    reservation_attempt: int = 0
    #: Set when the scheduler found the job larger than a quota window (minute, day or month) allows.
    quota_denied: str | None = None

    @property
    def images_wanted(self) -> int:
        return self.params.samples

    def input_record(self) -> dict[str, Any]:
        """The input as one JSON object: the parameters set, each stored image, and the canvas."""
        record = self.params.model_dump(mode="json", exclude_none=True)
        record.update({name: stored.to_dict() for name, stored in self.inputs.items()})
        if self.canvas is not None:
            record[_CANVAS] = self.canvas.to_dict()
        return record


@dataclass(frozen=True)
class JobProgress:
    step: int
    total: int
    stage: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
