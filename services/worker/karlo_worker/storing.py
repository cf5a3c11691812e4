"""Storing the images a backend made: they are never thrown away because the image store is down.

The backend's answer is taken into the spool one image at a time (:func:`take_generation`; a link fetched at
once, in pieces) and each image's format and size read from its header, then each image is put with capped
exponential backoff until the store takes it, the job is canceled, or ``KARLOQ_STORAGE_RETRY_DEADLINE_SECONDS``
have passed since the backend answered. Only then does the job fail (``storage_error``), and never by asking it
again. Keys derive from the job, so a put repeated after a crash overwrites rather than duplicates.
"""

from __future__ import annotations

import io
import logging
import time
from functools import partial
from pathlib import Path

import httpx

from karlo_core.atomic_files import FileSink
from karlo_core.backends.base import GeneratedImage as BackendImage
from karlo_core.backends.base import Generation
from karlo_core.backoff import backoff_seconds
from karlo_core.errors import BlockedDestination, StorageError, UpstreamUnavailable
from karlo_core.images import HEADER_BYTES, NotAnImage, image_header
from karlo_core.jobs import StoredImage
from karlo_core.karlo import rules
from karlo_core.storage import image_key
from karlo_worker import job_metrics
from karlo_worker.runtime import WorkerRuntime
from karlo_worker.spool import Generated, GeneratedImage

log = logging.getLogger(__name__)

#: The longest pause between two puts of the same image.
RETRY_CAP_SECONDS = 10.0
#: Pieces an image link is read in.
FETCH_CHUNK_BYTES = 256 * 1024
#: The most one fetched image may be (Karlo's largest, 2048² after upscale, is far below this as PNG).
MAX_IMAGE_BYTES = 64 * 1024 * 1024


def take_generation(job_id: str, result: Generation, rt: WorkerRuntime) -> Generated:
    """The backend's images, each written to the spool (fetched first when it is a link) before the next is
    taken, with the format and size its header gives; the whole set is then sealed in the spool. Past the
    spool's bound, or once its disk fails, the rest are kept in memory. An image that cannot be fetched or is
    not a PNG, JPEG or WebP is the backend's failure (retryable)."""
    generated_at = time.time()
    spooling = rt.spool.has_room()
    if not spooling:
        log.warning("spool full: images kept in memory only", extra={"job_id": job_id})
    images = []
    try:
        for index, image in enumerate(result.images):
            taken = None
            if spooling:
                try:
                    noted = _Noted()
                    path = rt.spool.write(job_id, index, partial(_copy, image, noted=noted, rt=rt))
                    taken = _described(index, image, noted.head, noted.size, path=path)
                except OSError as exc:
                    log.warning("images not spooled", extra={"job_id": job_id, "error": exc.strerror})
                    spooling = False
            if taken is None:
                buffer = io.BytesIO()
                _copy(image, buffer, noted=_Noted(), rt=rt)
                data = buffer.getvalue()
                taken = _described(index, image, data[:HEADER_BYTES], len(data), data=data)
            images.append(taken)
    except BaseException:
        rt.spool.discard(job_id)
        raise
    upstream = {"request_id": result.request_id, "model_version": result.model_version}
    generated = Generated(images=images, upstream=upstream, generated_at=generated_at)
    if spooling:
        rt.spool.seal(job_id, generated)
    return generated


class _Noted:
    """What passed into an image's file: its first :data:`~karlo_core.images.HEADER_BYTES` and its size, so
    its header is read without opening the file again."""

    def __init__(self) -> None:
        self.head = b""
        self.size = 0

    def add(self, data: bytes) -> None:
        if len(self.head) < HEADER_BYTES:
            self.head += data[: HEADER_BYTES - len(self.head)]
        self.size += len(data)


def _copy(image: BackendImage, handle: FileSink | io.BytesIO, *, noted: _Noted, rt: WorkerRuntime) -> None:
    if image.url is None:
        handle.write(image.data)
        noted.add(image.data)
        return
    try:
        with rt.image_fetcher.stream(image.url) as response:
            if response.status_code != 200:
                raise UpstreamUnavailable(f"Karlo's image link answered HTTP {response.status_code}")
            for chunk in response.iter_bytes(FETCH_CHUNK_BYTES):
                noted.add(chunk)
                if noted.size > MAX_IMAGE_BYTES:
                    raise UpstreamUnavailable(f"Karlo's image is over {MAX_IMAGE_BYTES} bytes")
                handle.write(chunk)
    except BlockedDestination as exc:
        raise UpstreamUnavailable(f"Karlo's image link leads where we do not fetch from: {exc}") from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"cannot download Karlo image: {type(exc).__name__}") from exc


def _described(
    index: int, image: BackendImage, head: bytes, size: int, *, path: Path | None = None, data: bytes | None = None
) -> GeneratedImage:
    try:
        info = image_header(head)
    except NotAnImage as exc:
        raise UpstreamUnavailable(f"the backend returned image {index} that is not a PNG, JPEG or WebP") from exc
    return GeneratedImage(
        format=info.format,
        width=info.width,
        height=info.height,
        size=size,
        seed=image.seed,
        nsfw_content_detected=image.nsfw_content_detected,
        nsfw_score=image.nsfw_score,
        path=path,
        data=data,
    )


def store_generated(job_id: str, token: str, generated: Generated, rt: WorkerRuntime) -> list[StoredImage] | None:
    """Every image stored; None when the job was canceled meanwhile (as the lease held with ``token`` learns
    it). StorageError once the deadline passed."""
    deadline = generated.generated_at + rt.settings.storage_retry_deadline_seconds
    stored = []
    for index, image in enumerate(generated.images):
        key = image_key(job_id, index, image.format)
        if not _put_until(job_id, token, key, image, deadline, rt):
            return None
        job_metrics.image_stored(image.format, image.size)
        stored.append(
            StoredImage(
                key=key,
                width=image.width,
                height=image.height,
                format=image.format,
                bytes=image.size,
                seed=image.seed,
                nsfw_content_detected=image.nsfw_content_detected,
                nsfw_score=image.nsfw_score,
            )
        )
    return stored


def drop_stored(images: list[StoredImage], rt: WorkerRuntime) -> None:
    """Remove images stored for an attempt whose job was canceled meanwhile; retention removes any left."""
    for image in images:
        try:
            rt.storage.delete(image.key)
        except StorageError:
            log.warning("images of a canceled job not removed; retention will", extra={"key": image.key})
            return


def _put_until(job_id: str, token: str, key: str, image: GeneratedImage, deadline: float, rt: WorkerRuntime) -> bool:
    """Put one image, retrying until ``deadline``; False when the job was canceled while storage was down."""
    content_type = rules.CONTENT_TYPES.get(image.format, "application/octet-stream")
    attempt = 0
    while True:
        try:
            if image.path is not None:
                rt.storage.put_file(key, image.path, content_type)
            else:
                assert image.data is not None
                rt.storage.put(key, image.data, content_type)
            return True
        except StorageError as exc:
            attempt += 1
            left = deadline - time.time()
            if left <= 0:
                raise
            if rt.leases.cancel_requested(token):
                return False
            pause = min(backoff_seconds(attempt, base=0.5, cap=RETRY_CAP_SECONDS), left)
            extra = {"job_id": job_id, "attempt": attempt, "error": str(exc), "retry_in_seconds": round(pause, 2)}
            log.warning("image store unavailable; the images are kept and the put retried", extra=extra)
            time.sleep(pause)
