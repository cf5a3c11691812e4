"""Storing the images Karlo made: they are never thrown away because the image store is down.

Karlo's answer is checked and spooled (:mod:`karlo_worker.spool`), then each image is put with capped
exponential backoff until the store takes it, the job is canceled, or ``KARLOQ_STORAGE_RETRY_DEADLINE_SECONDS``
have passed since Karlo answered. Only then does the job fail (``storage_error``), and never by asking Karlo
again. Keys derive from the job, so a put repeated after a crash overwrites rather than duplicates.
"""

from __future__ import annotations

import logging
import time

from karlo_core.backoff import backoff_seconds
from karlo_core.errors import StorageError, UpstreamUnavailable
from karlo_core.images import NotAnImage, inspect_image
from karlo_core.jobs import StoredImage
from karlo_core.karlo import rules
from karlo_core.karlo.wire import KarloResult
from karlo_core.storage import image_key
from karlo_worker import job_metrics
from karlo_worker.runtime import WorkerRuntime
from karlo_worker.spool import Generated, GeneratedImage

log = logging.getLogger(__name__)

#: The longest pause between two puts of the same image.
RETRY_CAP_SECONDS = 10.0


def generated_from(result: KarloResult) -> Generated:
    """Karlo's answer as images with their facts; an image that does not decode is Karlo's failure."""
    images = []
    for index, image in enumerate(result.images):
        try:
            info = inspect_image(image.data)
        except NotAnImage as exc:
            raise UpstreamUnavailable(f"Karlo returned image {index} that does not decode") from exc
        images.append(
            GeneratedImage(
                data=image.data,
                format=info.format,
                width=info.width,
                height=info.height,
                seed=image.seed,
                nsfw_content_detected=image.nsfw_content_detected,
                nsfw_score=image.nsfw_score,
            )
        )
    upstream = {"request_id": result.request_id, "model_version": result.model_version}
    return Generated(images=images, upstream=upstream, generated_at=time.time())


def store_generated(job_id: str, generated: Generated, rt: WorkerRuntime) -> list[StoredImage] | None:
    """Every image stored; None when the job was canceled meanwhile. StorageError once the deadline passed."""
    deadline = generated.generated_at + rt.settings.storage_retry_deadline_seconds
    stored = []
    for index, image in enumerate(generated.images):
        key = image_key(job_id, index, image.format)
        if not _put_until(job_id, key, image, deadline, rt):
            return None
        job_metrics.image_stored(image.format, len(image.data))
        stored.append(
            StoredImage(
                key=key,
                width=image.width,
                height=image.height,
                format=image.format,
                bytes=len(image.data),
                seed=image.seed,
                nsfw_content_detected=image.nsfw_content_detected,
                nsfw_score=image.nsfw_score,
            )
        )
    return stored


def _put_until(job_id: str, key: str, image: GeneratedImage, deadline: float, rt: WorkerRuntime) -> bool:
    """Put one image, retrying until ``deadline``; False when the job was canceled while storage was down."""
    content_type = rules.CONTENT_TYPES.get(image.format, "application/octet-stream")
    attempt = 0
    while True:
        try:
            rt.storage.put(key, image.data, content_type)
            return True
        except StorageError as exc:
            attempt += 1
            left = deadline - time.time()
            if left <= 0:
                raise
            if rt.store.cancel_requested(job_id):
                return False
            pause = min(backoff_seconds(attempt, base=0.5, cap=RETRY_CAP_SECONDS), left)
            extra = {"job_id": job_id, "attempt": attempt, "error": str(exc), "retry_in_seconds": round(pause, 2)}
            log.warning("image store unavailable; the images are kept and the put retried", extra=extra)
            time.sleep(pause)
