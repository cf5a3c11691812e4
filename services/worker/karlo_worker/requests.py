"""The Karlo call a job makes: which endpoint, and the body built from its parameters and input images."""

from __future__ import annotations

from typing import Any

from karlo_core.job_inputs import GenerateParams, InpaintParams, VariationParams
from karlo_core.jobs import Job
from karlo_core.karlo.wire import (
    INPAINTING_PATH,
    T2I_PATH,
    VARIATIONS_PATH,
    inpainting_body,
    t2i_body,
    variation_body,
)
from karlo_core.storage import Storage


def karlo_request(job: Job, storage: Storage) -> tuple[str, dict[str, Any]]:
    """(endpoint path, JSON body). An extension was turned into canvas + mask when it was accepted, so it is an
    inpainting call (ExtendParams are InpaintParams)."""
    params = job.params
    if isinstance(params, GenerateParams):
        return T2I_PATH, t2i_body(params)
    image = storage.get(job.inputs["image"].key)
    if isinstance(params, VariationParams):
        return VARIATIONS_PATH, variation_body(params, image)
    assert isinstance(params, InpaintParams)
    return INPAINTING_PATH, inpainting_body(params, image, storage.get(job.inputs["mask"].key))
