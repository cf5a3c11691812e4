"""Open Karlo on this machine: Kakao Brain's karlo-v1-alpha weights run by diffusers' unCLIP pipelines.

The model stack (torch, diffusers, transformers) is the ``model`` optional dependency group and is imported
only here, when a worker started for this backend loads it; the API and hosted-Karlo workers never import it.

Both pipelines are loaded once, at worker start, component by component from a local directory or the Hugging
Face cache (never a download). Each job is one batched pipeline call: all its samples at once, one
``torch.Generator`` per sample seeded with that sample's seed, so the same seed gives the same image. The
pipelines report every denoising step through their ``progress_bar``; wrapping it gives the job its progress
and lets a cancel stop the work between steps.

Where the operator names ``stabilityai/stable-diffusion-x4-upscaler`` weights, a job with ``upscale`` (``scale``
4) has its images enlarged 4x by diffusers' ``StableDiffusionUpscalePipeline`` in a second batched call: the
generate prompt (none for a variation) guides it, the same per-sample generators seed it, and its steps count
in the same progress.
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from karlo_core.backends.base import (
    BackendError,
    GeneratedImage,
    Generation,
    GenerationRequest,
    Progress,
    ProgressHook,
)
from karlo_core.backends.catalogue import KARLO_OPEN, OPEN_KARLO_UPSCALE
from karlo_core.errors import KarloQueueError
from karlo_core.job_inputs import GenerateParams, OutputOptions, VariationParams
from karlo_core.jobs import JobKind
from karlo_core.karlo import rules

log = logging.getLogger(__name__)

#: The pipelines' own defaults, which a job's unset parameters keep.
DEFAULT_PRIOR_STEPS = 25
DEFAULT_DECODER_STEPS = 25
SUPER_RES_STEPS = 7
MODEL_VERSION = "karlo-v1-alpha"
_PIL_FORMATS = {"webp": "WEBP", "jpeg": "JPEG", "png": "PNG"}


class ModelNotFound(RuntimeError):
    """The configured weights are not on this machine (the worker refuses to start)."""


class NoUpscaler(KarloQueueError):
    """An upscale job reached a worker started without the upscaler's weights; running it again here cannot
    help (the API offers upscale only when the setting names them, so this is a configuration mismatch)."""

    slug = "backend_unsupported"


@dataclass(frozen=True)
class OpenKarloConfig:
    """Where the weights are and how to run them."""

    #: A directory holding an ``UnCLIPPipeline`` (``kakaobrain/karlo-v1-alpha``), or that repository's id,
    #: found in the local Hugging Face cache.
    text2img: str
    #: The same for ``UnCLIPImageVariationPipeline`` (``kakaobrain/karlo-v1-alpha-image-variations``).
    variations: str
    #: ``auto`` (CUDA when there is one), ``cuda``, ``cuda:N`` or ``cpu``.
    device: str = "auto"
    #: The output size the API promises; the loaded model must make it.
    image_size: int = 256
    #: A directory holding a ``StableDiffusionUpscalePipeline`` (``stabilityai/stable-diffusion-x4-upscaler``),
    #: or that repository's id in the local cache; empty: no upscale.
    upscaler: str = ""
    #: The upscaler's denoising steps and guidance scale for every job.
    upscale_steps: int = 75
    upscale_guidance: float = 9.0


def resolve_model(name: str, what: str = "open Karlo weights") -> Path:
    """A local directory as it is, else a Hugging Face repository id from the local cache only."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError) as exc:
        raise ModelNotFound(
            f"{what} {name!r} are neither a directory nor in the Hugging Face cache ({HF_HUB_CACHE}); "
            "fetch them once on a connected machine (see the README, 'Open Karlo on your own GPUs')"
        ) from exc


def _device(choice: str) -> tuple[Any, Any]:
    import torch

    name = ("cuda" if torch.cuda.is_available() else "cpu") if choice == "auto" else choice
    device = torch.device(name)
    return device, (torch.float16 if device.type == "cuda" else torch.float32)


def _component(root: Path, cls: Any, name: str, dtype: Any | None = None) -> Any:
    if not (root / name).is_dir():
        raise ModelNotFound(f"{root} has no {name}/: not an unCLIP pipeline directory")
    extra = {} if dtype is None else {"dtype": dtype}
    return cls.from_pretrained(str(root), subfolder=name, local_files_only=True, **extra)


def _shared_components(root: Path, dtype: Any) -> dict[str, Any]:
    from diffusers import UnCLIPScheduler, UNet2DConditionModel, UNet2DModel
    from diffusers.pipelines.deprecated.unclip import UnCLIPTextProjModel
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    return {
        "decoder": _component(root, UNet2DConditionModel, "decoder", dtype),
        "text_proj": _component(root, UnCLIPTextProjModel, "text_proj", dtype),
        "text_encoder": _component(root, CLIPTextModelWithProjection, "text_encoder", dtype),
        "tokenizer": _component(root, CLIPTokenizer, "tokenizer"),
        "super_res_first": _component(root, UNet2DModel, "super_res_first", dtype),
        "super_res_last": _component(root, UNet2DModel, "super_res_last", dtype),
        "decoder_scheduler": _component(root, UnCLIPScheduler, "decoder_scheduler"),
        "super_res_scheduler": _component(root, UnCLIPScheduler, "super_res_scheduler"),
    }


def load_text2img(root: Path, dtype: Any) -> Any:
    """An ``UnCLIPPipeline`` assembled from its components: diffusers cannot resolve the text projection
    that model_index.json names now that the pipeline lives under ``deprecated``."""
    from diffusers import PriorTransformer, UnCLIPScheduler
    from diffusers.pipelines.deprecated.unclip import UnCLIPPipeline

    return UnCLIPPipeline(
        prior=_component(root, PriorTransformer, "prior", dtype),
        prior_scheduler=_component(root, UnCLIPScheduler, "prior_scheduler"),
        **_shared_components(root, dtype),
    )


def load_variations(root: Path, dtype: Any) -> Any:
    from diffusers.pipelines.deprecated.unclip import UnCLIPImageVariationPipeline
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    return UnCLIPImageVariationPipeline(
        image_encoder=_component(root, CLIPVisionModelWithProjection, "image_encoder", dtype),
        feature_extractor=_component(root, CLIPImageProcessor, "feature_extractor"),
        **_shared_components(root, dtype),
    )


def load_upscaler(root: Path, dtype: Any) -> Any:
    """A ``StableDiffusionUpscalePipeline`` as saved (``model_index.json`` and its components)."""
    from diffusers import StableDiffusionUpscalePipeline

    if not (root / "model_index.json").is_file():
        raise ModelNotFound(f"{root} has no model_index.json: not a StableDiffusionUpscalePipeline directory")
    pipeline = StableDiffusionUpscalePipeline.from_pretrained(str(root), local_files_only=True, dtype=dtype)
    if not isinstance(pipeline, StableDiffusionUpscalePipeline):
        raise ModelNotFound(f"{root} holds a {type(pipeline).__name__}, not a StableDiffusionUpscalePipeline")
    if pipeline.vae_scale_factor != OPEN_KARLO_UPSCALE:
        raise ModelNotFound(f"the upscaler at {root} enlarges {pipeline.vae_scale_factor}x, not {OPEN_KARLO_UPSCALE}x")
    return pipeline


@dataclass(frozen=True)
class Upscaler:
    """The loaded x4 upscaler and the steps and guidance every job runs it with."""

    pipeline: Any
    steps: int
    guidance: float


class _StepCounter:
    """Stands in for a pipeline's ``progress_bar``: counts steps across its stages (and across pipelines, when
    one job runs two) and reports each. unCLIP iterates it; the upscaler opens it with a total and updates it."""

    def __init__(self, stages: list[tuple[str, int]], on_progress: ProgressHook) -> None:
        self._stages = stages
        self._total = sum(steps for _, steps in stages)
        self._done = 0
        self._stage = 0
        self._on_progress = on_progress

    def __call__(self, iterable: Iterable[Any] | None = None, total: int | None = None) -> Any:
        name = self._stages[min(self._stage, len(self._stages) - 1)][0]
        self._stage += 1
        if iterable is None:
            return _Bar(self, name)
        return self._counted(iterable, name)

    def _counted(self, iterable: Iterable[Any], stage: str) -> Iterator[Any]:
        for item in iterable:
            yield item
            self.step(stage)

    def step(self, stage: str) -> None:
        self._done += 1
        self._on_progress(Progress(step=self._done, total=self._total, stage=stage))


class _Bar:
    """The ``with progress_bar(total=n) as bar: ... bar.update()`` form of a pipeline's progress bar."""

    def __init__(self, counter: _StepCounter, stage: str) -> None:
        self._counter = counter
        self._stage = stage

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, steps: int = 1) -> None:
        for _ in range(steps):
            self._counter.step(self._stage)


class OpenKarloBackend:
    """Runs one job at a time (a lock per worker process: one process per GPU)."""

    name = KARLO_OPEN

    def __init__(
        self, text2img: Any, variations: Any, *, device: Any, image_size: int, upscaler: Upscaler | None = None
    ) -> None:
        self._pipelines = {JobKind.GENERATE: text2img, JobKind.VARIATION: variations}
        self._device = device
        self.image_size = image_size
        self.upscaler = upscaler
        self._lock = threading.Lock()
        for pipeline in [*self._pipelines.values(), *([upscaler.pipeline] if upscaler else [])]:
            pipeline.set_progress_bar_config(disable=True)

    @classmethod
    def load(cls, config: OpenKarloConfig) -> OpenKarloBackend:
        """Load both pipelines onto the device; :class:`ModelNotFound` when the weights are not here."""
        device, dtype = _device(config.device)
        text2img_dir, variations_dir = resolve_model(config.text2img), resolve_model(config.variations)
        log.info("loading open Karlo", extra={"device": str(device), "model_dir": str(text2img_dir)})
        try:
            text2img = load_text2img(text2img_dir, dtype).to(device)
            variations = load_variations(variations_dir, dtype).to(device)
        except (OSError, ValueError) as exc:
            raise ModelNotFound(f"cannot load open Karlo from {text2img_dir} and {variations_dir}: {exc}") from exc
        made = int(text2img.super_res_first.config.sample_size)
        if made != config.image_size:
            raise ModelNotFound(
                f"the model at {text2img_dir} makes {made}x{made} images, "
                f"but KARLOQ_OPEN_KARLO_IMAGE_SIZE is {config.image_size}"
            )
        upscaler = _load_upscaler(config, device, dtype) if config.upscaler else None
        log.info("open Karlo loaded", extra={"device": str(device), "image_size": made, "upscale": bool(upscaler)})
        return cls(text2img, variations, device=device, image_size=made, upscaler=upscaler)

    def endpoint(self, kind: JobKind) -> str:
        return f"{KARLO_OPEN}-{kind.value}"

    def generate(self, request: GenerationRequest, on_progress: ProgressHook) -> Generation:
        import torch

        params = request.params
        seeds = params.seed or [secrets.randbelow(rules.SEED_MAX + 1) for _ in range(params.samples)]
        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
        call, stages = self._call(request, params)
        upscaler = self._upscaler_for(params)
        if upscaler is not None:
            stages.append(("upscale", upscaler.steps))
        pipeline = self._pipelines[request.kind]
        with self._lock:
            counter = _StepCounter(stages, on_progress)
            made = _run(pipeline, counter, num_images_per_prompt=params.samples, generator=generators, **call)
            if upscaler is not None:
                made = _run(
                    upscaler.pipeline,
                    counter,
                    prompt=[call.get("prompt", "")] * len(made),
                    image=made,
                    num_inference_steps=upscaler.steps,
                    guidance_scale=upscaler.guidance,
                    generator=generators,
                    output_type="pil",
                )
        images = [
            GeneratedImage(data=_encode(image, params), seed=seed) for image, seed in zip(made, seeds, strict=True)
        ]
        return Generation(images=images, model_version=MODEL_VERSION)

    def _upscaler_for(self, params: OutputOptions) -> Upscaler | None:
        if not params.upscale:
            return None
        if self.upscaler is None:
            raise NoUpscaler(
                "this open Karlo worker has no upscaler: start it with KARLOQ_OPEN_KARLO_UPSCALER_MODEL naming "
                "the stabilityai/stable-diffusion-x4-upscaler weights"
            )
        if params.scale != OPEN_KARLO_UPSCALE:
            raise NoUpscaler(f"open Karlo upscales by {OPEN_KARLO_UPSCALE} only, not {params.scale}")
        return self.upscaler

    def _call(self, request: GenerationRequest, params: OutputOptions) -> tuple[dict[str, Any], list[tuple[str, int]]]:
        """The pipeline's keyword arguments for this job, and its stages with their step counts."""
        decoder_steps = params.num_inference_steps or DEFAULT_DECODER_STEPS
        call: dict[str, Any] = {"decoder_num_inference_steps": decoder_steps, "output_type": "pil"}
        if params.guidance_scale is not None:
            call["decoder_guidance_scale"] = params.guidance_scale
        stages = [("decoder", decoder_steps), ("super_res", SUPER_RES_STEPS)]
        if isinstance(params, GenerateParams):
            prior_steps = params.prior_num_inference_steps or DEFAULT_PRIOR_STEPS
            call.update(prompt=params.prompt, prior_num_inference_steps=prior_steps)
            if params.prior_guidance_scale is not None:
                call["prior_guidance_scale"] = params.prior_guidance_scale
            return call, [("prior", prior_steps), *stages]
        assert isinstance(params, VariationParams)
        try:
            call["image"] = Image.open(io.BytesIO(request.images["image"])).convert("RGB")
        except OSError as exc:
            raise BackendError("the input image does not decode") from exc
        return call, stages


def _load_upscaler(config: OpenKarloConfig, device: Any, dtype: Any) -> Upscaler:
    root = resolve_model(config.upscaler, "upscaler weights")
    log.info("loading the x4 upscaler", extra={"device": str(device), "model_dir": str(root)})
    try:
        pipeline = load_upscaler(root, dtype).to(device)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelNotFound(f"cannot load the upscaler from {root}: {exc}") from exc
    return Upscaler(pipeline=pipeline, steps=config.upscale_steps, guidance=config.upscale_guidance)


def _run(pipeline: Any, counter: _StepCounter, **call: Any) -> list[Image.Image]:
    """One batched pipeline call counted by ``counter``; its images. A cancel (raised by the progress hook)
    passes through; the model's own failures become a :class:`BackendError`."""
    pipeline.progress_bar = counter
    try:
        return list(pipeline(**call).images)
    except (RuntimeError, ValueError) as exc:
        raise BackendError(f"open Karlo failed: {type(exc).__name__}: {exc}") from exc
    finally:
        del pipeline.progress_bar


def _encode(image: Image.Image, params: OutputOptions) -> bytes:
    buffer = io.BytesIO()
    options = {} if params.image_format == "png" else {"quality": params.image_quality}
    image.save(buffer, _PIL_FORMATS[params.image_format], **options)
    return buffer.getvalue()
