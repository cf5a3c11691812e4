"""The generation request a job makes: its checked parameters and input images, read back from its record."""

from __future__ import annotations

from karlo_core.backends.base import GenerationRequest
from karlo_core.jobs import Job, JobKind
from karlo_core.storage import Storage

#: The stored images each kind sends (an extension sends its canvas and mask, made when it was accepted).
IMAGES_SENT: dict[JobKind, tuple[str, ...]] = {
    JobKind.GENERATE: (),
    JobKind.VARIATION: ("image",),
    JobKind.INPAINT: ("image", "mask"),
    JobKind.EXTEND: ("image", "mask"),
}


def generation_request(job: Job, storage: Storage) -> GenerationRequest:
    images = {name: storage.get(job.inputs[name].key) for name in IMAGES_SENT[job.kind]}
    return GenerationRequest(job_id=job.id, kind=job.kind, params=job.params, images=images)
