"""The simulator's table of Karlo's limits against the service's: any disagreement fails here, so a wrong limit
has to be wrong in two places written apart, and is then caught by whichever side reads Karlo's documentation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from karlo_core.job_inputs import GenerateParams, InpaintParams, VariationParams
from karlo_core.karlo import rules
from karlo_sim import limits


def _constants(module: Any) -> dict[str, Any]:
    return {name: value for name, value in vars(module).items() if name.isupper() and not name.startswith("_")}


def test_every_rule_of_the_service_has_the_same_value_in_the_simulator() -> None:
    service, simulator = _constants(rules), _constants(limits)
    assert sorted(service) == sorted(simulator)
    disagreements = {name: (value, simulator[name]) for name, value in service.items() if simulator[name] != value}
    assert disagreements == {}


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    properties: dict[str, Any] = model.model_json_schema()["properties"]
    return {name: next(iter(p.get("anyOf", [p]))) | p for name, p in properties.items()}


@pytest.mark.parametrize("model", [GenerateParams, VariationParams, InpaintParams])
def test_the_job_input_models_enforce_the_simulators_limits(model: type[BaseModel]) -> None:
    fields = _schema(model)
    assert (fields["samples"]["minimum"], fields["samples"]["maximum"]) == (limits.SAMPLES_MIN, limits.SAMPLES_MAX)
    assert fields["samples"]["default"] == 1
    assert tuple(fields["image_format"]["enum"]) == limits.IMAGE_FORMATS
    assert fields["image_format"]["default"] == limits.DEFAULT_IMAGE_FORMAT
    quality = fields["image_quality"]
    assert (quality["minimum"], quality["maximum"]) == limits.IMAGE_QUALITY_RANGE
    assert quality["default"] == limits.DEFAULT_IMAGE_QUALITY
    assert tuple(fields["scale"]["enum"]) == limits.UPSCALE_FACTORS
    assert fields["negative_prompt"]["maxLength"] == limits.PROMPT_MAX_CHARS
    for name in ("num_inference_steps", "prior_num_inference_steps"):
        if name in fields:
            assert (fields[name]["minimum"], fields[name]["maximum"]) == limits.STEPS_RANGE
    for name in ("guidance_scale", "prior_guidance_scale"):
        if name in fields:
            assert (fields[name]["minimum"], fields[name]["maximum"]) == limits.GUIDANCE_RANGE
    if "scheduler" in fields:
        assert tuple(fields["scheduler"]["enum"]) == limits.SCHEDULERS
    version = fields["version"]
    assert set(version.get("enum", [version.get("const")])) <= set(limits.MODEL_VERSIONS)


def test_the_service_takes_the_documented_prompt_length_and_no_more() -> None:
    GenerateParams(prompt="a" * limits.PROMPT_MAX_CHARS)
    with pytest.raises(ValidationError):
        GenerateParams(prompt="a" * (limits.PROMPT_MAX_CHARS + 1))
    assert GenerateParams(prompt="cat").version == limits.DEFAULT_VERSION


@pytest.mark.parametrize("version", limits.MODEL_VERSIONS)
def test_the_service_takes_the_documented_sizes_and_no_others(version: str) -> None:
    low, high = limits.SIZE_RANGE[version]
    default = GenerateParams(prompt="cat", version=version)
    assert (default.width, default.height) == (limits.DEFAULT_SIZE[version],) * 2
    for width in (low, high):
        GenerateParams(prompt="cat", version=version, width=width)
    for width in (low - limits.SIZE_STEP, high + limits.SIZE_STEP, low + limits.SIZE_STEP // 2):
        with pytest.raises(ValidationError):
            GenerateParams(prompt="cat", version=version, width=width)


def test_the_service_takes_the_documented_seeds_and_no_others() -> None:
    GenerateParams(prompt="cat", samples=2, seed=[0, limits.SEED_MAX])
    with pytest.raises(ValidationError):
        GenerateParams(prompt="cat", samples=1, seed=[limits.SEED_MAX + 1])


def test_an_upscaled_image_stays_within_the_longest_side_the_service_accepts() -> None:
    assert limits.upscaled_size(1280, 640, 4) == (rules.MAX_SIDE, rules.MAX_SIDE // 2)
