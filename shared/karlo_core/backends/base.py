"""The backend seam: a validated request in, images with their seeds and facts out.

A backend declares itself in a :class:`~karlo_core.backends.catalogue.BackendSpec` (kinds, parameters, limits,
how its capacity is governed, the queue its jobs go to); the worker builds a :class:`GenerationRequest` from a
job, calls :meth:`Backend.generate`, and stores what comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from karlo_core.errors import KarloQueueError
from karlo_core.job_inputs import OutputOptions
from karlo_core.jobs import JobKind


@dataclass(frozen=True)
class GenerationRequest:
    """One job's work: its kind, checked parameters and input images (bytes, by name: image, mask)."""

    job_id: str
    kind: JobKind
    params: OutputOptions
    images: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class GeneratedImage:
    """One image as the backend made it: encoded bytes, or a short-lived ``url`` to fetch them from at once (then
    ``data`` is empty), and the seed that reproduces it."""

    data: bytes
    seed: int | None
    nsfw_content_detected: bool | None = None
    nsfw_score: float | None = None
    url: str | None = None


@dataclass(frozen=True)
class Generation:
    """What a backend made for one request. ``request_id`` and ``model_version`` go to the job's ``upstream``."""

    images: list[GeneratedImage]
    request_id: str | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class Progress:
    """Denoising steps done of the request's total, and the stage now running."""

    step: int
    total: int
    stage: str


#: Called after every denoising step; it may raise :class:`GenerationCanceled` to stop the work there.
ProgressHook = Callable[[Progress], None]


class GenerationCanceled(KarloQueueError):
    """The job was canceled while it ran; the backend stopped between steps and made nothing."""

    slug = "canceled"


class BackendError(KarloQueueError):
    """A local backend failed while generating (out of memory, a bad input image); trying again may help."""

    slug = "backend_error"
    retryable = True


class Backend(Protocol):
    """What the worker calls. Implementations are built once per worker process and shared by its threads."""

    name: str

    def generate(self, request: GenerationRequest, on_progress: ProgressHook) -> Generation:
        """Make the request's images in one call; raise a :class:`KarloQueueError` when that fails."""
        ...

    def endpoint(self, kind: JobKind) -> str:
        """The label this kind's calls are counted under (``karloq_upstream_calls_total{endpoint}``)."""
        ...
