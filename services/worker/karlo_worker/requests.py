"""The Karlo call a job makes: which endpoint, and the body built from its parameters and input images."""

from __future__ import annotations

from typing import Any

from karlo_core.job_inputs import (
    PARAMS_BY_KIND,
    GenerateParams,
    InpaintParams,
    VariationParams,
)
from karlo_core.jobs import Job, JobKind
from karlo_core.karlo.wire import (
    INPAINTING_PATH,
    T2I_PATH,
    VARIATIONS_PATH,
    inpainting_body,
    t2i_body,
    variation_body,
)
from karlo_core.storage import Storage

#: Keys in a job's input that describe stored images or the canvas, not Karlo parameters.
RECORD_ONLY_FIELDS = ("image", "mask", "original", "canvas")


def karlo_request(job: Job, storage: Storage) -> tuple[str, dict[str, Any]]:
    """(endpoint path, JSON body). An extension was turned into canvas + mask when it was accepted."""
    values = {k: v for k, v in job.input.items() if k not in RECORD_ONLY_FIELDS}
    params = PARAMS_BY_KIND[job.kind.value].model_validate(values)
    if job.kind is JobKind.GENERATE:
        assert isinstance(params, GenerateParams)
        return T2I_PATH, t2i_body(params)
    image = storage.get(job.input["image"]["key"])
    if job.kind is JobKind.VARIATION:
        assert isinstance(params, VariationParams)
        return VARIATIONS_PATH, variation_body(params, image)
    assert isinstance(params, InpaintParams)
    return INPAINTING_PATH, inpainting_body(params, image, storage.get(job.input["mask"]["key"]))
