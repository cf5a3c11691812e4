"""Which backends exist, what each declares about itself, and which of a request's parameters it refuses.

Both the API (``GET /v1/backends`` and the check of every new job) and the workers read these declarations,
so what the edge lets through is what the backend can do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from karlo_core.errors import KarloQueueError
from karlo_core.job_inputs import IMAGE_FIELDS, IMAGES_BY_KIND, PARAMS_BY_KIND, OutputOptions
from karlo_core.jobs import Job, JobKind
from karlo_core.karlo import rules
from karlo_core.queue import Queue
from karlo_core.settings import Settings

BackendName = Literal["karlo", "karlo-open"]
KARLO: Final = "karlo"
KARLO_OPEN: Final = "karlo-open"
BACKEND_NAMES: Final = (KARLO, KARLO_OPEN)
#: What open Karlo's published weights make: a 64 px decoder, then two super-resolution UNets to 256.
OPEN_KARLO_IMAGE_SIZE: Final = 256


class Capacity(StrEnum):
    """What limits how fast a backend can take jobs."""

    #: Karlo's per-minute, per-day and per-month image quotas, kept by the quota engine.
    QUOTA = "quota"
    #: The GPUs of the workers started for the backend: one job at a time on each.
    GPU_SLOTS = "gpu_slots"


class BackendLimits(BaseModel):
    """The ranges a backend's parameters must fall in."""

    samples_max: int = Field(description="Images per job at most")
    sizes: list[int] | None = Field(description="The only output sizes (width = height) it makes; null: any in range")
    size_range: tuple[int, int] | None = Field(description="Allowed width and height, inclusive, when sizes is null")
    size_step: int | None = Field(description="Width and height must be multiples of this, when sizes is null")
    model_versions: list[str] = Field(description="Values `input.version` may take; empty: the field is refused")
    steps_range: tuple[int, int] = Field(description="Denoising steps, inclusive")
    guidance_range: tuple[float, float] = Field(description="Guidance scale, inclusive")
    upscale_scales: list[int] = Field(
        description="Factors `input.scale` may take with `upscale`; empty: no upscale (karlo-open offers 4 only "
        "where the operator installed the x4 upscaler's weights)"
    )


class BackendSpec(BaseModel):
    """What a backend declares about itself."""

    name: str = Field(description="The value of a job's `backend` field")
    description: str = Field(description="What it is, for people")
    kinds: list[JobKind] = Field(description="Job kinds it runs")
    parameters: dict[str, list[str]] = Field(description="Per kind: the `input` fields it accepts")
    fixed: dict[str, Any] = Field(
        description="Fields it accepts only with one value (anything else is refused), e.g. its one output size"
    )
    limits: BackendLimits
    capacity: Capacity = Field(description="quota: Karlo's image quotas apply; gpu_slots: one job per GPU worker")
    queue: str = Field(description="The queue its jobs wait in (workers started for it consume it)")


def _karlo_parameters() -> dict[str, list[str]]:
    return {
        kind: sorted([*model.model_fields, *(f for f in IMAGE_FIELDS if f.split("_")[0] in IMAGES_BY_KIND[kind])])
        for kind, model in PARAMS_BY_KIND.items()
    }


KARLO_SPEC: Final = BackendSpec(
    name=KARLO,
    description="Kakao's hosted Karlo REST API (v2.x models); the Karlo simulator stands in for it offline",
    kinds=list(JobKind),
    parameters=_karlo_parameters(),
    fixed={},
    limits=BackendLimits(
        samples_max=rules.SAMPLES_MAX,
        sizes=None,
        size_range=(rules.SIZE_RANGE["v2.1"][0], rules.SIZE_RANGE["v2.1"][1]),
        size_step=rules.SIZE_STEP,
        model_versions=list(rules.MODEL_VERSIONS),
        steps_range=rules.STEPS_RANGE,
        guidance_range=rules.GUIDANCE_RANGE,
        upscale_scales=list(rules.UPSCALE_FACTORS),
    ),
    capacity=Capacity.QUOTA,
    queue=Queue.JOBS.value,
)

_OPEN_SHARED = ["samples", "seed", "image_format", "image_quality", "num_inference_steps", "guidance_scale"]
_OPEN_FIXED_FIELDS = ["width", "height", "upscale", "nsfw_checker"]
#: The one factor of stabilityai/stable-diffusion-x4-upscaler, open Karlo's optional upscaler.
OPEN_KARLO_UPSCALE: Final = 4
#: ``input.scale`` when a job leaves it out (hosted Karlo's default).
_DEFAULT_SCALE: Final = OutputOptions.model_fields["scale"].default


def open_karlo_spec(image_size: int = OPEN_KARLO_IMAGE_SIZE, *, upscale: bool = False) -> BackendSpec:
    """Open Karlo as it runs here; ``image_size`` is what its super-resolution stage makes (256 for the
    published weights), ``upscale`` whether the operator gave it the x4 upscaler's weights (then ``upscale``
    with ``scale: 4`` is offered; without them ``upscale`` is fixed to false)."""
    extra = ["scale"] if upscale else []
    fixed: dict[str, Any] = {"width": image_size, "height": image_size, "upscale": False, "nsfw_checker": False}
    if upscale:
        del fixed["upscale"]
    upscaled = (
        f", or {image_size * OPEN_KARLO_UPSCALE}x{image_size * OPEN_KARLO_UPSCALE} with upscale (scale 4, "
        "stabilityai/stable-diffusion-x4-upscaler)"
        if upscale
        else ""
    )
    return BackendSpec(
        name=KARLO_OPEN,
        description=(
            "Kakao Brain's open Karlo weights (karlo-v1-alpha, CreativeML OpenRAIL-M) run by diffusers' unCLIP "
            f"pipelines on this service's own GPU workers: {image_size}x{image_size} images{upscaled}; no "
            "negative prompt, sizes, model versions, inpainting or extension"
        ),
        kinds=[JobKind.GENERATE, JobKind.VARIATION],
        parameters={
            JobKind.GENERATE.value: sorted(
                [
                    "prompt",
                    "prior_num_inference_steps",
                    "prior_guidance_scale",
                    *_OPEN_SHARED,
                    *_OPEN_FIXED_FIELDS,
                    *extra,
                ]
            ),
            JobKind.VARIATION.value: sorted(["image", "image_url", *_OPEN_SHARED, *_OPEN_FIXED_FIELDS, *extra]),
        },
        fixed=fixed,
        limits=BackendLimits(
            samples_max=rules.SAMPLES_MAX,
            sizes=[image_size],
            size_range=None,
            size_step=None,
            model_versions=[],
            steps_range=rules.STEPS_RANGE,
            guidance_range=rules.GUIDANCE_RANGE,
            upscale_scales=[OPEN_KARLO_UPSCALE] if upscale else [],
        ),
        capacity=Capacity.GPU_SLOTS,
        queue=Queue.KARLO_OPEN.value,
    )


def recorded_input(job: Job) -> dict[str, Any]:
    """The job's input as its record keeps and its view shows it: on a backend that fixes some fields, only
    the fields it takes (the fixed ones are implied, not the hosted defaults the parameters model fills in);
    an upscaled open Karlo job shows its ``upscale`` and ``scale``."""
    record = job.input_record()
    if job.backend != KARLO_OPEN:
        return record
    spec = open_karlo_spec(upscale=job.params.upscale)
    kept = set(spec.parameters[job.kind.value]) - set(spec.fixed)
    return {name: value for name, value in record.items() if name in kept}


#: The queues that run-job messages wait in, one per backend.
BACKEND_QUEUES: Final = (Queue.JOBS.value, Queue.KARLO_OPEN.value)


def backend_queue(name: str) -> str:
    """The queue a backend's jobs go to."""
    return Queue.KARLO_OPEN.value if name == KARLO_OPEN else Queue.JOBS.value


@dataclass(frozen=True)
class Refusal:
    """One thing a backend cannot do: the request field it concerns, and why."""

    field: str
    rule: str
    message: str


class UnsupportedByBackend(KarloQueueError):
    """A new job asks its backend for what it cannot do; ``refused`` names each field and why."""

    slug = "unsupported_by_backend"

    def __init__(self, spec: BackendSpec, refused: list[Refusal]) -> None:
        detail = "; ".join(f"{r.field}: {r.message}" for r in refused[:5])
        super().__init__(f"{detail}. Backend {spec.name} offers: {describe_limits(spec)}")
        self.spec = spec
        self.refused = refused


def refusals(spec: BackendSpec, kind: str, values: Mapping[str, Any]) -> list[Refusal]:
    """What of a job (its kind and the ``input`` fields the caller sent) ``spec``'s backend cannot do."""
    if kind not in spec.parameters:
        offered = ", ".join(spec.parameters)
        return [Refusal("kind", "backend_kind", f"backend {spec.name} does not run {kind} jobs (it runs {offered})")]
    accepted = spec.parameters[kind]
    found: list[Refusal] = []
    for name, value in values.items():
        if name not in accepted:
            found.append(
                Refusal(f"input.{name}", "backend_parameter", f"backend {spec.name} does not take {name} on {kind}")
            )
        elif name in spec.fixed and value != spec.fixed[name]:
            found.append(
                Refusal(
                    f"input.{name}",
                    "backend_limit",
                    f"backend {spec.name} only takes {name}={_json(spec.fixed[name])}, got {_json(value)}",
                )
            )
    if "upscale" in accepted and "upscale" not in spec.fixed:
        found.extend(_scale_refusal(spec, values))
    return found


def _scale_refusal(spec: BackendSpec, values: Mapping[str, Any]) -> list[Refusal]:
    """``scale`` (sent, or the default an upscaled job would get) outside the backend's factors. A value that
    is no factor at all is left to the request's own validation, which names it."""
    scale = values.get("scale", _DEFAULT_SCALE if values.get("upscale") is True else None)
    scales = spec.limits.upscale_scales
    if scale not in rules.UPSCALE_FACTORS or scale in scales:
        return []
    sent = "" if "scale" in values else f" (the default when upscale is true is {_DEFAULT_SCALE})"
    allowed = " or ".join(map(str, scales))
    return [
        Refusal("input.scale", "backend_limit", f"backend {spec.name} only upscales by {allowed}, got {scale}{sent}")
    ]


def _json(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def enabled_specs(settings: Settings) -> dict[str, BackendSpec]:
    """The backends the operator enabled, by name, default first."""
    open_spec = open_karlo_spec(settings.open_karlo_image_size, upscale=bool(settings.open_karlo_upscaler_model))
    specs = {KARLO: KARLO_SPEC, KARLO_OPEN: open_spec}
    names = sorted(settings.backend_names, key=lambda name: name != settings.default_backend)
    return {name: specs[name] for name in names}


def describe_limits(spec: BackendSpec) -> str:
    """The limits in a sentence, for problem details."""
    limits = spec.limits
    if limits.sizes:
        sizes = " or ".join(f"{size}x{size}" for size in limits.sizes) + " images"
    else:
        low, high = limits.size_range or (0, 0)
        sizes = f"{low}-{high} px per side in steps of {limits.size_step}"
    versions = ", ".join(limits.model_versions) or "no model versions"
    upscale = f"upscale x{'/x'.join(map(str, limits.upscale_scales))}" if limits.upscale_scales else "no upscale"
    kinds = ", ".join(kind.value for kind in spec.kinds)
    return (
        f"kinds {kinds}; {sizes}; 1-{limits.samples_max} samples; {versions}; {upscale}; "
        f"steps {limits.steps_range[0]}-{limits.steps_range[1]}"
    )
