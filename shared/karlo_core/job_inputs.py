"""What each job kind takes, checked by Karlo's own rules before anything is stored or spent.

``*Params`` are the parameters a job keeps (``Job.params``, read again by the worker; every default is here);
``*Request`` add the image sources a caller sends (base64, a data: URL, a multipart file, or an https URL),
which the API turns into stored input images (``Job.inputs``) before the job exists.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from karlo_core.karlo import rules
from karlo_core.prompts import NO_CONTROL_PATTERN, PROMPT_PATTERN, check_no_control_characters, check_prompt_text

ImageFormat = Literal["webp", "jpeg", "png"]
Scheduler = Literal["decoder_ddim_v_prediction", "decoder_ddpm_v_prediction"]
Prompt = Annotated[
    str,
    Field(
        min_length=1,
        max_length=rules.PROMPT_MAX_CHARS,
        description=f"What to draw, in English, at most {rules.PROMPT_MAX_CHARS} characters; not only spaces, "
        "no control characters",
        examples=["a cat in a spacesuit, watercolor"],
        json_schema_extra={"pattern": PROMPT_PATTERN},
    ),
    AfterValidator(check_prompt_text),
]
NegativePrompt = Annotated[
    str,
    Field(max_length=rules.PROMPT_MAX_CHARS, json_schema_extra={"pattern": NO_CONTROL_PATTERN}),
    AfterValidator(check_no_control_characters),
]
Steps = Annotated[int, Field(ge=rules.STEPS_RANGE[0], le=rules.STEPS_RANGE[1])]
Guidance = Annotated[float, Field(ge=rules.GUIDANCE_RANGE[0], le=rules.GUIDANCE_RANGE[1])]
STEPS = f"{rules.STEPS_RANGE[0]}-{rules.STEPS_RANGE[1]}"
GUIDANCE = f"{rules.GUIDANCE_RANGE[0]:g}-{rules.GUIDANCE_RANGE[1]:g}"
#: The only image fields a request may carry; they never reach the job record as such.
IMAGE_FIELDS = ("image", "image_url", "mask", "mask_url")


def check_size(value: int | None, version: str) -> int | None:
    if value is None:
        return None
    low, high = rules.SIZE_RANGE[version]
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high} for model {version}")
    if value % rules.SIZE_STEP:
        raise ValueError(f"must be a multiple of {rules.SIZE_STEP}")
    return value


class _Strict(BaseModel):
    """No unknown fields, and no coercion: a string or float where an integer is documented is refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class FaceRefiner(_Strict):
    """Karlo 2.1 face correction; ranges are not published, so these bound the values seen in use."""

    bbox_size_threshold: float | None = Field(default=None, ge=0.0, le=1.0, description="Smallest face to refine")
    bbox_filter_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Confidence a face needs to be refined"
    )
    restoration_repeats: int | None = Field(default=None, ge=1, le=10, description="Refinement passes")
    weight_sft: float | None = Field(default=None, ge=0.0, le=1.0, description="Strength of the refinement")


class OutputOptions(_Strict):
    """Options every Karlo endpoint shares: how many images, their seeds, format and post-processing."""

    negative_prompt: NegativePrompt | None = Field(
        default=None,
        description="What the images should not show, in English; no control characters",
        examples=["text, watermark"],
    )
    samples: int = Field(
        default=1,
        ge=rules.SAMPLES_MIN,
        le=rules.SAMPLES_MAX,
        description="How many images to make; each one counts against the quota",
    )
    seed: list[int] | None = Field(default=None, description="One seed per sample, 0..4294967295")
    image_format: ImageFormat = Field(default=rules.DEFAULT_IMAGE_FORMAT, description="Format of the output images")
    image_quality: int = Field(
        default=rules.DEFAULT_IMAGE_QUALITY,
        ge=rules.IMAGE_QUALITY_RANGE[0],
        le=rules.IMAGE_QUALITY_RANGE[1],
        description="Compression quality of webp and jpeg output",
    )
    upscale: bool = Field(default=False, description="Enlarge each image by `scale` with Karlo's upscaler")
    scale: Literal[2, 4] = Field(
        default=2, description=f"Upscale factor; the longest side is capped at {rules.MAX_SIDE}"
    )
    num_inference_steps: Steps | None = Field(default=None, description=f"Decoder denoising steps, {STEPS}")
    guidance_scale: Guidance | None = Field(
        default=None, description=f"Decoder guidance, {GUIDANCE}: how closely to follow the prompt"
    )
    nsfw_checker: bool = Field(
        default=False, description="Have Karlo score each image (`nsfw_content_detected`, `nsfw_score`)"
    )

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


class _SizedOutput(OutputOptions):
    """Kinds whose output size the caller chooses (per-version range, multiple of 8)."""

    version: Literal["v2.1", "v2.0"] = Field(default=rules.DEFAULT_VERSION, description="Karlo's model")
    width: int | None = Field(
        default=None, description="384-1280 on v2.1 (default 1024), 384-640 on v2.0 (default 512); multiple of 8"
    )
    height: int | None = Field(
        default=None, description="384-1280 on v2.1 (default 1024), 384-640 on v2.0 (default 512); multiple of 8"
    )
    scheduler: Scheduler | None = Field(default=None, description="Decoder scheduler")

    @field_validator("width", "height")
    @classmethod
    def _size_in_version_range(cls, value: int | None, info: ValidationInfo) -> int | None:
        return check_size(value, info.data.get("version", rules.DEFAULT_VERSION))

    @model_validator(mode="after")
    def _default_size_per_version(self) -> _SizedOutput:
        default = rules.DEFAULT_SIZE[self.version]
        self.width = self.width if self.width is not None else default
        self.height = self.height if self.height is not None else default
        return self


class GenerateParams(_SizedOutput):
    """Text to image (``/v2/inference/karlo/t2i``)."""

    prompt: Prompt
    prior_num_inference_steps: Steps | None = Field(default=None, description=f"Prior denoising steps, {STEPS}")
    prior_guidance_scale: Guidance | None = Field(default=None, description=f"Prior guidance, {GUIDANCE}")
    face_refiner: FaceRefiner | None = Field(default=None, description="Model v2.1 only: refine faces")

    @field_validator("face_refiner")
    @classmethod
    def _face_refiner_needs_v21(cls, value: FaceRefiner | None, info: ValidationInfo) -> FaceRefiner | None:
        if value is not None and info.data.get("version") != "v2.1":
            raise ValueError("is only available on model v2.1")
        return value


class VariationParams(_SizedOutput):
    """New images in the manner of a given one (``/v2/inference/karlo/variations``)."""

    prompt: Prompt | None = Field(default=None, description="Optional guidance for the variations, in English")


class InpaintParams(OutputOptions):
    """Repaint the black area of a mask (``/v2/inference/karlo/inpainting``). Karlo documents this for
    model 2.0 only, so 2.0 is the one version offered; the output keeps the input image's size."""

    version: Literal["v2.0"] = Field(default="v2.0", description="Karlo's model (inpainting is offered on v2.0)")
    prompt: Prompt
    prior_num_inference_steps: Steps | None = Field(default=None, description=f"Prior denoising steps, {STEPS}")
    prior_guidance_scale: Guidance | None = Field(default=None, description=f"Prior guidance, {GUIDANCE}")


class Margins(_Strict):
    """How many pixels to add on each side of the image."""

    left: int = Field(default=0, ge=0, le=1024, description="Pixels added on the left")
    top: int = Field(default=0, ge=0, le=1024, description="Pixels added at the top")
    right: int = Field(default=0, ge=0, le=1024, description="Pixels added on the right")
    bottom: int = Field(default=0, ge=0, le=1024, description="Pixels added at the bottom")

    @model_validator(mode="after")
    def _grows_somewhere(self) -> Margins:
        if not (self.left or self.top or self.right or self.bottom):
            raise ValueError("at least one side must grow by more than 0 pixels")
        return self


class ExtendParams(InpaintParams):
    """Outpainting: the service builds a larger canvas and its mask and sends an inpainting call."""

    extend: Margins = Field(
        description=f"Pixels to add per side (one at least); the canvas stays within {rules.MAX_SIDE} px per side",
        examples=[{"top": 128, "left": 64}],
    )


def _not_both(url: str | None, info: ValidationInfo) -> str | None:
    """``<name>_url`` is refused when ``<name>`` was given too (the URL field is declared after it)."""
    name = str(info.field_name).removesuffix("_url")
    if url is not None and info.data.get(name) is not None:
        raise ValueError(f"give either {name} or {name}_url, not both")
    return url


IMAGE_DESCRIPTION = f"Base64 or data: URL of a PNG, JPEG or WebP, at most 2 MB and {rules.MAX_SIDE} px per side"
URL_DESCRIPTION = "An https URL to fetch it from (public addresses only)"


class VariationRequest(VariationParams):
    image: str | None = Field(default=None, description=IMAGE_DESCRIPTION)
    image_url: str | None = Field(default=None, description=URL_DESCRIPTION)

    _image_url = field_validator("image_url")(_not_both)


class InpaintRequest(InpaintParams):
    image: str | None = Field(default=None, description=IMAGE_DESCRIPTION)
    image_url: str | None = Field(default=None, description=URL_DESCRIPTION)
    mask: str | None = Field(default=None, description="Same size as the image; black marks the area to repaint")
    mask_url: str | None = Field(default=None, description=URL_DESCRIPTION)

    _urls = field_validator("image_url", "mask_url")(_not_both)


class ExtendRequest(ExtendParams):
    image: str | None = Field(default=None, description=IMAGE_DESCRIPTION)
    image_url: str | None = Field(default=None, description=URL_DESCRIPTION)

    _image_url = field_validator("image_url")(_not_both)


#: Job kind -> the parameters kept in its record.
PARAMS_BY_KIND: dict[str, type[OutputOptions]] = {
    "generate": GenerateParams,
    "variation": VariationParams,
    "inpaint": InpaintParams,
    "extend": ExtendParams,
}
#: Job kind -> the image inputs it needs.
IMAGES_BY_KIND: dict[str, tuple[str, ...]] = {
    "generate": (),
    "variation": ("image",),
    "inpaint": ("image", "mask"),
    "extend": ("image",),
}
