"""Typed models of every request and answer of the karlo-queue API.

Field names, types, defaults and enums are those of the OpenAPI document the API serves (a test compares
them). Value ranges (prompt length, sizes, sample counts) are the service's to check: a request outside them
comes back as :class:`karloq.InvalidRequestError` naming the field and the rule.

Answers ignore fields they do not know, so a newer service does not break an older client.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

ImageFormat = Literal["webp", "jpeg", "png"]
Scheduler = Literal["decoder_ddim_v_prediction", "decoder_ddpm_v_prediction"]
#: Generation backends: ``karlo`` (hosted Karlo) or ``karlo-open`` (open Karlo on the service's own GPUs).
BackendName = Literal["karlo", "karlo-open"]
#: A job's order among its tenant's own jobs; at most the tenant plan's ``max_priority``.
Priority = Literal["high", "normal", "low"]
EventName = Literal["job.started", "job.waiting_for_quota", "job.succeeded", "job.failed", "job.canceled"]


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
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


# --- requests -------------------------------------------------------------------------------------------


class _Request(BaseModel):
    """Request bodies refuse unknown fields, as the API does; only fields set explicitly are sent."""

    model_config = ConfigDict(extra="forbid")


class FaceRefiner(_Request):
    """Karlo 2.1 face correction (``GenerateInput.face_refiner``)."""

    bbox_size_threshold: float | None = None
    bbox_filter_threshold: float | None = None
    restoration_repeats: int | None = None
    weight_sft: float | None = None


class _OutputOptions(_Request):
    negative_prompt: str | None = None
    samples: int = 1
    seed: list[int] | None = None
    image_format: ImageFormat = "webp"
    image_quality: int = 70
    upscale: bool = False
    scale: Literal[2, 4] = 2
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    nsfw_checker: bool = False


class _SizedOutput(_OutputOptions):
    version: Literal["v2.1", "v2.0"] = "v2.1"
    width: int | None = None
    height: int | None = None
    scheduler: Scheduler | None = None


class GenerateInput(_SizedOutput):
    """Text to image."""

    kind: ClassVar[JobKind] = JobKind.GENERATE

    prompt: str
    prior_num_inference_steps: int | None = None
    prior_guidance_scale: float | None = None
    face_refiner: FaceRefiner | None = None


class VariationInput(_SizedOutput):
    """New images in the manner of a given one. Pass the image to ``create``/``run`` as ``image=``, or set
    ``image`` (base64) or ``image_url`` here."""

    kind: ClassVar[JobKind] = JobKind.VARIATION

    prompt: str | None = None
    image: str | None = None
    image_url: str | None = None


class _InpaintOptions(_OutputOptions):
    version: Literal["v2.0"] = "v2.0"
    prompt: str
    prior_num_inference_steps: int | None = None
    prior_guidance_scale: float | None = None


class InpaintInput(_InpaintOptions):
    """Repaint the black area of a mask; the mask is the image's size."""

    kind: ClassVar[JobKind] = JobKind.INPAINT

    image: str | None = None
    image_url: str | None = None
    mask: str | None = None
    mask_url: str | None = None


class Margins(_Request):
    """Pixels added on each side (one side at least)."""

    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0


class ExtendInput(_InpaintOptions):
    """Outpainting: the image grows by ``extend`` and Karlo fills the new area."""

    kind: ClassVar[JobKind] = JobKind.EXTEND

    extend: Margins
    image: str | None = None
    image_url: str | None = None


JobInput = GenerateInput | VariationInput | InpaintInput | ExtendInput


class WebhookOption(_Request):
    """Where one job's events go (instead of the tenant's default URL), and which."""

    url: str
    events: list[EventName] | None = None


class GenerateJob(_Request):
    backend: BackendName | None = None
    priority: Priority = "normal"
    webhook: WebhookOption | None = None
    kind: Literal["generate"] = "generate"
    input: GenerateInput


class VariationJob(_Request):
    backend: BackendName | None = None
    priority: Priority = "normal"
    webhook: WebhookOption | None = None
    kind: Literal["variation"]
    input: VariationInput


class InpaintJob(_Request):
    backend: BackendName | None = None
    priority: Priority = "normal"
    webhook: WebhookOption | None = None
    kind: Literal["inpaint"]
    input: InpaintInput


class ExtendJob(_Request):
    backend: BackendName | None = None
    priority: Priority = "normal"
    webhook: WebhookOption | None = None
    kind: Literal["extend"]
    input: ExtendInput


CreateJobRequest = Annotated[GenerateJob | VariationJob | InpaintJob | ExtendJob, Field(discriminator="kind")]


class DefaultUrlRequest(BaseModel):
    """The body of ``PUT /v1/webhooks/default`` (the API does not refuse unknown fields here)."""

    url: str | None


# --- answers --------------------------------------------------------------------------------------------


class Image(BaseModel):
    """One output image; ``url`` is a download link that expires (read the job again for a fresh one)."""

    url: str
    key: str
    width: int
    height: int
    format: str
    bytes: int
    seed: int | None
    nsfw_content_detected: bool | None
    nsfw_score: float | None


class Output(BaseModel):
    images: list[Image]


class JobError(BaseModel):
    code: str
    message: str
    upstream_code: int | None


class JobWebhook(BaseModel):
    url: str
    events: list[str]


class JobUrls(BaseModel):
    get: str
    cancel: str


class Progress(BaseModel):
    """Denoising steps done of the job's total, on a local backend (karlo-open)."""

    step: int
    total: int
    stage: str


class QueuePosition(BaseModel):
    """A queued job's place (1 = next): among its tenant's own jobs, and estimated among every tenant's."""

    tenant: int
    overall: int


class Job(BaseModel):
    """A job as the API shows it."""

    id: str
    kind: str
    status: str
    input: dict[str, Any]
    output: Output | None
    error: JobError | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    upstream: dict[str, Any]
    notices: list[str]
    estimated_start_at: datetime | None
    cancel_requested: bool
    webhook: JobWebhook | None
    batch_id: str | None
    urls: JobUrls
    backend: str = "karlo"
    priority: str = "normal"
    #: Set while the job waits in its tenant's queue; absent from older services.
    queue_position: QueuePosition | None = Field(default_factory=lambda: None)
    #: Set while a local backend (karlo-open) runs the job; absent from older services.
    progress: Progress | None = Field(default_factory=lambda: None)

    @property
    def is_terminal(self) -> bool:
        """Succeeded, failed or canceled: the job will not change again."""
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)

    @property
    def images(self) -> list[Image]:
        """The output images (none unless the job succeeded)."""
        return self.output.images if self.output else []


class JobPage(BaseModel):
    data: list[Job]
    next_cursor: str | None


class BatchUrls(BaseModel):
    get: str
    jobs: str
    cancel: str


class Batch(BaseModel):
    """A batch as the API shows it: its jobs counted by status, and its progress."""

    id: str
    status: Literal["in_progress", "completed"]
    total: int
    counts: dict[str, int]
    finished: int
    progress: float
    created_at: datetime
    completed_at: datetime | None
    urls: BatchUrls

    @property
    def is_completed(self) -> bool:
        """Every job of the batch has finished."""
        return self.status == "completed"


class ResetEvent(BaseModel):
    """The data of a stream's ``reset`` event: events after the ``Last-Event-ID`` sent are no longer kept."""

    reason: str
    job: dict[str, Any] | None = None


class ProgressEvent(BaseModel):
    """The data of a stream's ``job.progress`` event: a running job's denoising steps on a local backend."""

    job_id: str
    kind: str
    batch_id: str | None
    step: int
    total: int
    stage: str


class QuotaWindow(BaseModel):
    window: str
    limit: int
    used: int
    remaining: int
    resets_at: datetime


class QuotaScope(BaseModel):
    scope: str
    windows: list[QuotaWindow]


class Plan(BaseModel):
    """The caller's plan: its weight among tenants with queued work, its own limits (0: none) and highest
    priority."""

    weight: float
    per_minute: int
    per_day: int
    per_month: int
    max_active: int
    max_priority: str
    custom: bool


class Backlog(BaseModel):
    """The caller's queued work for one backend and when the last of it is expected to start (None: nothing
    queued, or for a local backend no measured pace yet or no worker ready)."""

    backend: str
    queued_jobs: int
    queued_images: int
    drained_at: datetime | None


class Quota(BaseModel):
    scopes: list[QuotaScope]
    plan: Plan
    #: The hosted-Karlo backlog; ``backlogs`` has one per enabled backend.
    backlog: Backlog
    backlogs: list[Backlog]


class Capacity(StrEnum):
    """What limits a backend: Karlo's image quotas, or the GPU workers started for it."""

    QUOTA = "quota"
    GPU_SLOTS = "gpu_slots"


class BackendLimits(BaseModel):
    samples_max: int
    sizes: list[int] | None
    size_range: tuple[int, int] | None
    size_step: int | None
    model_versions: list[str]
    steps_range: tuple[int, int]
    guidance_range: tuple[float, float]
    upscale_scales: list[int]


class Backend(BaseModel):
    """A generation backend jobs may name: what it runs and takes, and whether a worker has it ready."""

    name: str
    description: str
    kinds: list[JobKind]
    parameters: dict[str, list[str]]
    fixed: dict[str, Any]
    limits: BackendLimits
    capacity: Capacity
    queue: str
    default: bool
    ready: bool


class BackendList(BaseModel):
    data: list[Backend]


class DeliveryAttempt(BaseModel):
    at: datetime
    outcome: str
    status_code: int | None
    latency_ms: float
    error: str | None


class Delivery(BaseModel):
    """One webhook event of a job and its attempts; ``id`` is the ``webhook-id`` header it is sent with."""

    id: str
    event: str
    status: str
    url: str
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    attempts: list[DeliveryAttempt]


class DeliveryList(BaseModel):
    deliveries: list[Delivery]


class SecretInfo(BaseModel):
    exists: bool
    created_at: datetime | None
    previous_valid_until: datetime | None


class RotatedSecret(BaseModel):
    """A new signing secret: ``secret`` is shown only in this answer."""

    secret: str
    created_at: datetime
    previous_valid_until: datetime | None


class DisabledEndpoint(BaseModel):
    url: str
    disabled_at: datetime
    delivery_id: str


class WebhookSettings(BaseModel):
    default_url: str | None
    disabled_endpoints: list[DisabledEndpoint]
    secret: SecretInfo


class Replay(BaseModel):
    replayed: int


class FieldError(BaseModel):
    field: str
    rule: str
    message: str


class ProblemDocument(BaseModel):
    """The RFC 9457 body of every error answer."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None
    backend: str | None = None
    limits: dict[str, Any] | None = None
