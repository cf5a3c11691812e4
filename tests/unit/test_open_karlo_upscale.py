"""Open Karlo's optional x4 upscaler: tiny random-weight unCLIP and upscaler pipelines, saved and loaded through
the backend's own loading code, run in this process on the CPU; and what the catalogue offers with and without
the upscaler's weights."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from karlo_core.backends.base import GenerationCanceled, GenerationRequest, Progress
from karlo_core.backends.catalogue import KARLO_SPEC, open_karlo_spec, refusals
from karlo_core.backends.open_karlo import ModelNotFound, NoUpscaler, OpenKarloBackend, OpenKarloConfig
from karlo_core.job_inputs import GenerateParams, VariationParams
from karlo_core.jobs import JobKind
from karlo_devstack.unclip_models import build_model_dir
from karlo_devstack.upscaler_model import build_tiny_upscaler

SIZE = 64  # what the tiny unCLIP model makes
UPSCALE_STEPS = 3
#: Karlo's rules allow no fewer steps per stage; the super-resolution stage always runs 7.
FEW = {"num_inference_steps": 10, "prior_num_inference_steps": 10}
GENERATE_STEPS = 10 + 10 + 7


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("open-karlo")
    build_model_dir(root / "unclip")
    build_tiny_upscaler(root / "upscaler")
    return root


def config(models: Path, upscaler: str) -> OpenKarloConfig:
    return OpenKarloConfig(
        text2img=str(models / "unclip" / "text2img"),
        variations=str(models / "unclip" / "variations"),
        device="cpu",
        image_size=SIZE,
        upscaler=upscaler,
        upscale_steps=UPSCALE_STEPS,
        upscale_guidance=7.5,
    )


@pytest.fixture(scope="module")
def backend(models: Path) -> OpenKarloBackend:
    return OpenKarloBackend.load(config(models, str(models / "upscaler")))


def generate(backend: OpenKarloBackend, seen: list[Progress] | None = None, **values: Any) -> list[bytes]:
    params = GenerateParams(prompt="a lighthouse", image_format="png", **{**FEW, **values})
    request = GenerationRequest(job_id="j", kind=JobKind.GENERATE, params=params)
    made = backend.generate(request, (seen if seen is not None else []).append)
    return [image.data for image in made.images]


def sizes(images: list[bytes]) -> list[tuple[int, int]]:
    return [Image.open(io.BytesIO(data)).size for data in images]


def test_upscale_makes_images_four_times_the_size_and_counts_its_steps(backend: OpenKarloBackend) -> None:
    seen: list[Progress] = []
    images = generate(backend, seen, samples=2, seed=[5, 6], upscale=True, scale=4)
    assert sizes(images) == [(4 * SIZE, 4 * SIZE)] * 2
    total = GENERATE_STEPS + UPSCALE_STEPS
    assert [p.step for p in seen] == list(range(1, total + 1))
    assert {p.total for p in seen} == {total}
    assert [p.stage for p in seen[-UPSCALE_STEPS:]] == ["upscale"] * UPSCALE_STEPS
    assert seen[-UPSCALE_STEPS - 1].stage == "super_res"


def test_without_upscale_the_images_keep_their_size(backend: OpenKarloBackend) -> None:
    seen: list[Progress] = []
    assert sizes(generate(backend, seen, seed=[5])) == [(SIZE, SIZE)]
    assert seen[-1].step == seen[-1].total == GENERATE_STEPS


def test_the_same_seed_gives_the_same_upscaled_bytes(backend: OpenKarloBackend) -> None:
    first = generate(backend, samples=2, seed=[21, 22], upscale=True, scale=4)
    assert generate(backend, samples=2, seed=[21, 22], upscale=True, scale=4) == first
    assert generate(backend, samples=2, seed=[23, 22], upscale=True, scale=4)[0] != first[0]


def test_a_variation_is_upscaled_without_a_prompt(backend: OpenKarloBackend) -> None:
    source = io.BytesIO()
    Image.new("RGB", (96, 80), (30, 140, 90)).save(source, "PNG")
    params = VariationParams(seed=[3], image_format="webp", upscale=True, scale=4, num_inference_steps=10)
    request = GenerationRequest(job_id="v", kind=JobKind.VARIATION, params=params, images={"image": source.getvalue()})
    [image] = backend.generate(request, lambda progress: None).images
    assert sizes([image.data]) == [(4 * SIZE, 4 * SIZE)]


def test_a_cancel_stops_the_upscaler_between_steps(backend: OpenKarloBackend) -> None:
    seen: list[Progress] = []

    def cancel_in_upscale(progress: Progress) -> None:
        seen.append(progress)
        if progress.stage == "upscale":
            raise GenerationCanceled("canceled")

    params = GenerateParams(prompt="stop", seed=[1], upscale=True, scale=4, **FEW)
    with pytest.raises(GenerationCanceled):
        backend.generate(GenerationRequest(job_id="c", kind=JobKind.GENERATE, params=params), cancel_in_upscale)
    assert seen[-1].stage == "upscale" and seen[-1].step == GENERATE_STEPS + 1
    assert sizes(generate(backend, seed=[1], upscale=True, scale=4)) == [(4 * SIZE, 4 * SIZE)]  # still usable


def test_a_worker_without_the_upscaler_refuses_upscale_jobs(models: Path) -> None:
    plain = OpenKarloBackend.load(config(models, ""))
    assert plain.upscaler is None
    with pytest.raises(NoUpscaler, match="KARLOQ_OPEN_KARLO_UPSCALER_MODEL"):
        generate(plain, seed=[1], upscale=True, scale=4)


def test_missing_or_broken_upscaler_weights_stop_the_load(models: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="upscaler weights 'stabilityai/stable-diffusion-x4-upscaler' are neither"):
        OpenKarloBackend.load(config(models, "stabilityai/stable-diffusion-x4-upscaler"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound, match="not a StableDiffusionUpscalePipeline directory"):
        OpenKarloBackend.load(config(models, str(tmp_path / "empty")))
    broken = tmp_path / "broken"
    shutil.copytree(models / "upscaler", broken)
    for weights in (broken / "unet").glob("*.safetensors"):
        weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelNotFound, match="cannot load the upscaler"):
        OpenKarloBackend.load(config(models, str(broken)))


def test_the_catalogue_offers_upscale_by_four_only_with_the_upscaler() -> None:
    without, with_upscaler = open_karlo_spec(256), open_karlo_spec(256, upscale=True)
    assert without.limits.upscale_scales == [] and without.fixed["upscale"] is False
    assert with_upscaler.limits.upscale_scales == [4] and "upscale" not in with_upscaler.fixed
    assert "scale" in with_upscaler.parameters["generate"] and "scale" in with_upscaler.parameters["variation"]
    assert "1024x1024 with upscale" in with_upscaler.description

    def refused(spec: Any, **values: Any) -> set[tuple[str, str]]:
        return {(r.field, r.rule) for r in refusals(spec, "generate", {"prompt": "x", **values})}

    assert refused(without, upscale=True) == {("input.upscale", "backend_limit")}
    assert refused(without, upscale=True, scale=4) == {
        ("input.upscale", "backend_limit"),
        ("input.scale", "backend_parameter"),
    }
    assert refused(with_upscaler, upscale=True, scale=4) == set()
    assert refused(with_upscaler, upscale=True) == {("input.scale", "backend_limit")}  # the default is 2
    assert refused(with_upscaler, upscale=True, scale=2) == {("input.scale", "backend_limit")}
    assert refused(with_upscaler, upscale=False) == set()
    assert refused(with_upscaler, scale="4") == set()  # not a factor at all: the request's validation names it
    assert refused(KARLO_SPEC, upscale=True) == refused(KARLO_SPEC, upscale=True, scale=4) == set()
