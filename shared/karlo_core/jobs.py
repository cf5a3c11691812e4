"""The job model: kinds, statuses and their transitions, the record, and the inputs of each kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from karlo_core.karlo import rules


class JobKind(StrEnum):
    GENERATE = "generate"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
#: Statuses from which a worker may claim a job (running only once its lease has expired).
CLAIMABLE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class FaceRefiner(BaseModel):
    """Karlo 2.1 face correction; ranges are not published, so only signs and ratios are checked."""

    model_config = ConfigDict(extra="forbid")

    bbox_size_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    bbox_filter_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    restoration_repeats: int | None = Field(default=None, ge=1, le=10)
    weight_sft: float | None = Field(default=None, ge=0.0, le=1.0)


class GenerateInput(BaseModel):
    """Text to image: Karlo's ``/v2/inference/karlo/t2i`` parameters, checked by Karlo's rules."""

    model_config = ConfigDict(extra="forbid")

    version: Literal["v2.1", "v2.0"] = rules.DEFAULT_VERSION
    prompt: str = Field(min_length=1, max_length=rules.PROMPT_MAX_CHARS)
    negative_prompt: str | None = Field(default=None, max_length=rules.PROMPT_MAX_CHARS)
    width: int | None = Field(default=None, description="Per-version range, multiple of 8")
    height: int | None = Field(default=None, description="Per-version range, multiple of 8")
    samples: int = Field(default=1, ge=rules.SAMPLES_MIN, le=rules.SAMPLES_MAX)
    seed: list[int] | None = Field(default=None, description="One seed per sample, 0..4294967295")
    image_format: Literal["webp", "jpeg", "png"] = rules.DEFAULT_IMAGE_FORMAT
    image_quality: int = Field(default=rules.DEFAULT_IMAGE_QUALITY, ge=1, le=100)
    upscale: bool = False
    scale: Literal[2, 4] = 2
    prior_num_inference_steps: int | None = Field(default=None, ge=10, le=100)
    prior_guidance_scale: float | None = Field(default=None, ge=1.0, le=20.0)
    num_inference_steps: int | None = Field(default=None, ge=10, le=100)
    guidance_scale: float | None = Field(default=None, ge=1.0, le=20.0)
    scheduler: Literal["decoder_ddim_v_prediction", "decoder_ddpm_v_prediction"] | None = None
    nsfw_checker: bool = False
    face_refiner: FaceRefiner | None = None

    @field_validator("width", "height")
    @classmethod
    def _size_in_version_range(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None:
            return None
        version = info.data.get("version", rules.DEFAULT_VERSION)
        low, high = rules.SIZE_RANGE[version]
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high} for model {version}")
        if value % rules.SIZE_STEP:
            raise ValueError(f"must be a multiple of {rules.SIZE_STEP}")
        return value

    @field_validator("seed")
    @classmethod
    def _one_seed_per_sample(cls, value: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if value is None:
            return None
        samples = info.data.get("samples", 1)
        if len(value) != samples:
            raise ValueError(f"must hold exactly one seed per sample ({samples}), got {len(value)}")
        if any(not 0 <= s <= rules.SEED_MAX for s in value):
            raise ValueError(f"every seed must be between 0 and {rules.SEED_MAX}")
        return value

    @field_validator("face_refiner")
    @classmethod
    def _face_refiner_needs_v21(cls, value: FaceRefiner | None, info: ValidationInfo) -> FaceRefiner | None:
        if value is not None and info.data.get("version") != "v2.1":
            raise ValueError("is only available on model v2.1")
        return value

    @model_validator(mode="after")
    def _default_size_per_version(self) -> GenerateInput:
        default = rules.DEFAULT_SIZE[self.version]
        self.width = self.width if self.width is not None else default
        self.height = self.height if self.height is not None else default
        return self


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
