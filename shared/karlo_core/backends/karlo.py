"""Hosted Karlo as a backend: one REST call per job, through :class:`~karlo_core.karlo.client.KarloClient`."""

from __future__ import annotations

from typing import Any

from karlo_core.backends.base import GeneratedImage, Generation, GenerationRequest, ProgressHook
from karlo_core.backends.catalogue import KARLO
from karlo_core.job_inputs import GenerateParams, InpaintParams, VariationParams
from karlo_core.jobs import JobKind
from karlo_core.karlo.client import KarloClient
from karlo_core.karlo.wire import (
    INPAINTING_PATH,
    T2I_PATH,
    VARIATIONS_PATH,
    inpainting_body,
    t2i_body,
    variation_body,
)

_PATHS = {
    JobKind.GENERATE: T2I_PATH,
    JobKind.VARIATION: VARIATIONS_PATH,
    JobKind.INPAINT: INPAINTING_PATH,
    JobKind.EXTEND: INPAINTING_PATH,
}


def karlo_call(request: GenerationRequest) -> tuple[str, dict[str, Any]]:
    """(endpoint path, JSON body). An extension was turned into canvas + mask when it was accepted."""
    params = request.params
    if request.kind is JobKind.GENERATE:
        assert isinstance(params, GenerateParams)
        return T2I_PATH, t2i_body(params)
    if request.kind is JobKind.VARIATION:
        assert isinstance(params, VariationParams)
        return VARIATIONS_PATH, variation_body(params, request.images["image"])
    assert isinstance(params, InpaintParams)
    return INPAINTING_PATH, inpainting_body(params, request.images["image"], request.images["mask"])


class KarloBackend:
    """Karlo does the work elsewhere: no progress to report, and a cancel takes effect once it answers."""

    name = KARLO

    def __init__(self, client: KarloClient) -> None:
        self._client = client

    def endpoint(self, kind: JobKind) -> str:
        return _PATHS[kind].rsplit("/", 1)[-1]

    def generate(self, request: GenerationRequest, on_progress: ProgressHook) -> Generation:
        path, body = karlo_call(request)
        result = self._client.infer(path, body)
        images = [
            GeneratedImage(
                data=image.data,
                seed=image.seed,
                nsfw_content_detected=image.nsfw_content_detected,
                nsfw_score=image.nsfw_score,
                url=image.url,
            )
            for image in result.images
        ]
        return Generation(images=images, request_id=result.request_id, model_version=result.model_version)
