"""Every API operation, written once and free of I/O: a generator that yields the calls and pauses it needs.

:class:`karloq.Client` and :class:`karloq.AsyncClient` drive the same operations, one with blocking httpx
calls and ``time.sleep``, the other with ``await``. A driver sends each :class:`Call` (retrying it as its
policy allows) and sends the answer back in, or throws the SDK's exception into the generator.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from karloq.errors import JobFailedError, PermissionDeniedError, WaitTimeoutError
from karloq.images import ImageFile, ImageSource, ImageUrl, resolve_image
from karloq.models import (
    Backend,
    BackendList,
    BackendName,
    Batch,
    DefaultUrlRequest,
    Delivery,
    DeliveryList,
    ExtendJob,
    GenerateJob,
    InpaintJob,
    Job,
    JobInput,
    JobKind,
    JobPage,
    JobStatus,
    Priority,
    Quota,
    Replay,
    RotatedSecret,
    SecretInfo,
    VariationJob,
    WebhookOption,
    WebhookSettings,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: Called with each downloaded chunk's size in bytes.
ByteProgress = Callable[[int], None]
#: Called with the job each time ``wait`` reads it.
JobProgress = Callable[[Job], None]

#: The multipart parts a create-job request may have besides the file parts.
MULTIPART_FIELDS = ("kind", "input", "webhook", "backend", "priority")
#: The file parts of a multipart create-job request.
MULTIPART_FILES = ("image", "mask")
#: ``Prefer: wait`` asks for at most this many seconds (the service's own cap).
MAX_PREFER_WAIT = 60
_FILE_EXTENSIONS = {"jpeg": "jpg"}


QueryParam = tuple[str, str | int | float | bool | None]


@dataclass(frozen=True)
class Call:
    """One HTTP request. A ``url`` starting with ``/`` is an API path, sent with the API key; an absolute URL
    (an image link) is sent as it is, without it."""

    method: str
    url: str
    params: list[QueryParam] = field(default_factory=list)
    json: Any = None
    #: A raw body (sent with the Content-Type its headers name).
    content: bytes | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Safe to send again even when the first may have arrived (reads, idempotency keys, idempotent writes).
    repeatable: bool = True
    #: Seconds the answer may take on top of the client's timeout (``Prefer: wait``).
    extra_seconds: float = 0.0
    save_to: Path | None = None
    on_bytes: ByteProgress | None = None


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = Call | Sleep
Reply = httpx.Response | None
Operation = Generator[Step, Reply, T]


@dataclass(frozen=True)
class PollPolicy:
    """How ``wait`` polls: the first pause, growing by ``factor`` up to ``max_seconds``."""

    first_seconds: float = 0.2
    factor: float = 1.5
    max_seconds: float = 2.0


@dataclass(frozen=True)
class RunResult:
    """What ``run`` ends with: the succeeded job and the files its images were saved to."""

    job: Job
    files: list[Path]


def call(step: Call) -> Operation[httpx.Response]:
    response = yield step
    assert response is not None
    return response


def answer(model: type[M], step: Call) -> Operation[M]:
    response = yield from call(step)
    return model.model_validate_json(response.content)


def job_id_of(job: Job | str) -> str:
    return job.id if isinstance(job, Job) else job


# --- jobs -----------------------------------------------------------------------------------------------

_ENVELOPES: dict[JobKind, type[GenerateJob | VariationJob | InpaintJob | ExtendJob]] = {
    JobKind.GENERATE: GenerateJob,
    JobKind.VARIATION: VariationJob,
    JobKind.INPAINT: InpaintJob,
    JobKind.EXTEND: ExtendJob,
}


def create_job(
    job_input: JobInput,
    *,
    image: ImageSource | None = None,
    mask: ImageSource | None = None,
    webhook: WebhookOption | str | None = None,
    idempotency_key: str | None = None,
    wait: int | None = None,
    backend: BackendName | None = None,
    priority: Priority | None = None,
) -> Operation[Job]:
    """POST /v1/jobs: JSON, or multipart when an image travels as bytes; one idempotency key for all tries."""
    values = job_input.model_dump(mode="json", exclude_unset=True)
    files: dict[str, tuple[str, bytes, str]] = {}
    for name, source in (("image", image), ("mask", mask)):
        if source is None:
            continue
        resolved = resolve_image(source, name)
        if isinstance(resolved, ImageUrl):
            values[f"{name}_url"] = resolved.url
        else:
            assert isinstance(resolved, ImageFile)
            files[name] = (resolved.filename, resolved.data, resolved.content_type)
    option = WebhookOption(url=webhook) if isinstance(webhook, str) else webhook
    envelope = _ENVELOPES[job_input.kind].model_validate(
        {
            "kind": job_input.kind.value,
            "input": values,
            **({"webhook": option} if option else {}),
            **({"backend": backend} if backend else {}),
            **({"priority": priority} if priority else {}),
        }
    )
    body = envelope.model_dump(mode="json", exclude_unset=True)
    body["kind"] = job_input.kind.value
    headers = {"Idempotency-Key": idempotency_key or f"karloq-{uuid.uuid4().hex}"}
    extra = 0.0
    if wait:
        seconds = max(1, min(int(wait), MAX_PREFER_WAIT))
        headers["Prefer"] = f"wait={seconds}"
        extra = float(seconds)
    if files:
        data = {"kind": body["kind"], "input": json.dumps(body["input"])}
        if "webhook" in body:
            data["webhook"] = json.dumps(body["webhook"])
        for part in ("backend", "priority"):
            if part in body:
                data[part] = body[part]
        step = Call("POST", "/v1/jobs", data=data, files=files, headers=headers, extra_seconds=extra)
    else:
        step = Call("POST", "/v1/jobs", json=body, headers=headers, extra_seconds=extra)
    return (yield from answer(Job, step))


def get_job(job: Job | str) -> Operation[Job]:
    return (yield from answer(Job, Call("GET", f"/v1/jobs/{job_id_of(job)}")))


def _listed(values: str | Sequence[str] | None) -> list[str]:
    if values is None:
        return []
    return [values] if isinstance(values, str) else list(values)


def list_page(
    *,
    status: str | Sequence[str] | None = None,
    kind: str | Sequence[str] | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    batch: str | None = None,
) -> Operation[JobPage]:
    params: list[QueryParam] = [("status", str(s)) for s in _listed(status)]
    params += [("kind", str(k)) for k in _listed(kind)]
    if batch is not None:
        params.append(("batch", batch))
    if limit is not None:
        params.append(("limit", limit))
    if cursor is not None:
        params.append(("cursor", cursor))
    return (yield from answer(JobPage, Call("GET", "/v1/jobs", params=params)))


def cancel_job(job: Job | str) -> Operation[Job]:
    return (yield from answer(Job, Call("POST", f"/v1/jobs/{job_id_of(job)}/cancel")))


def wait_job(
    job: Job | str,
    *,
    timeout: float,
    on_progress: JobProgress | None = None,
    poll: PollPolicy | None = None,
) -> Operation[Job]:
    """Poll the job, with growing pauses, until it is terminal; WaitTimeoutError after ``timeout`` seconds."""
    poll = poll or PollPolicy()
    deadline = time.monotonic() + timeout
    current = job if isinstance(job, Job) and job.is_terminal else (yield from get_job(job))
    pause = poll.first_seconds
    while True:
        if on_progress is not None:
            on_progress(current)
        if current.is_terminal:
            return current
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeoutError(current, timeout)
        yield Sleep(min(pause, left))
        pause = min(pause * poll.factor, poll.max_seconds)
        current = yield from get_job(current.id)


def download(job: Job | str, out_dir: Path, *, on_bytes: ByteProgress | None = None) -> Operation[list[Path]]:
    """Save every output image as ``<out_dir>/<job id>-<n>.<ext>``; links that expired are fetched anew."""
    current = job if isinstance(job, Job) else (yield from get_job(job))
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    for index in range(len(current.images)):
        image = current.images[index]
        path = out_dir / f"{current.id}-{index}.{_FILE_EXTENSIONS.get(image.format, image.format)}"
        try:
            yield from call(Call("GET", image.url, save_to=path, on_bytes=on_bytes))
        except PermissionDeniedError:
            current = yield from get_job(current.id)
            yield from call(Call("GET", current.images[index].url, save_to=path, on_bytes=on_bytes))
        saved.append(path)
    return saved


def run_job(
    job_input: JobInput,
    *,
    out_dir: Path,
    image: ImageSource | None = None,
    mask: ImageSource | None = None,
    webhook: WebhookOption | str | None = None,
    idempotency_key: str | None = None,
    timeout: float = 600.0,
    prefer_wait: int = MAX_PREFER_WAIT,
    on_progress: JobProgress | None = None,
    on_bytes: ByteProgress | None = None,
    backend: BackendName | None = None,
    priority: Priority | None = None,
) -> Operation[RunResult]:
    """Create the job (answered at once if it finishes within ``prefer_wait`` s), wait for it, download it."""
    started = time.monotonic()
    created = yield from create_job(
        job_input,
        image=image,
        mask=mask,
        webhook=webhook,
        idempotency_key=idempotency_key,
        wait=min(prefer_wait, max(int(timeout), 1)),
        backend=backend,
        priority=priority,
    )
    left = max(timeout - (time.monotonic() - started), 0.0)
    job = yield from wait_job(created, timeout=left, on_progress=on_progress)
    if job.status != JobStatus.SUCCEEDED:
        raise JobFailedError(job)
    files = yield from download(job, out_dir, on_bytes=on_bytes)
    return RunResult(job, files)


# --- batches --------------------------------------------------------------------------------------------


def batch_body(jobs: Sequence[JobInput | dict[str, Any]], webhook: WebhookOption | str | None) -> dict[str, Any]:
    """The JSON body of ``POST /v1/batches``: each job as ``POST /v1/jobs`` takes it (images by URL only)."""
    items: list[dict[str, Any]] = []
    for job in jobs:
        if isinstance(job, dict):
            items.append(job)
            continue
        envelope = _ENVELOPES[job.kind].model_validate(
            {"kind": job.kind.value, "input": job.model_dump(mode="json", exclude_unset=True)}
        )
        items.append({**envelope.model_dump(mode="json", exclude_unset=True), "kind": job.kind.value})
    body: dict[str, Any] = {"jobs": items}
    option = WebhookOption(url=webhook) if isinstance(webhook, str) else webhook
    if option is not None:
        body["webhook"] = option.model_dump(mode="json", exclude_none=True)
    return body


def create_batch(
    jobs: Sequence[JobInput | dict[str, Any]],
    *,
    webhook: WebhookOption | str | None = None,
    idempotency_key: str | None = None,
) -> Operation[Batch]:
    """POST /v1/batches: every job or none; one idempotency key for all tries."""
    headers = {"Idempotency-Key": idempotency_key or f"karloq-{uuid.uuid4().hex}"}
    step = Call("POST", "/v1/batches", json=batch_body(jobs, webhook), headers=headers)
    return (yield from answer(Batch, step))


def create_batch_from_lines(lines: bytes, *, idempotency_key: str | None = None) -> Operation[Batch]:
    """POST /v1/batches with a JSON Lines body (one create-job body a line), as it is."""
    headers = {
        "Idempotency-Key": idempotency_key or f"karloq-{uuid.uuid4().hex}",
        "Content-Type": "application/jsonl",
    }
    return (yield from answer(Batch, Call("POST", "/v1/batches", content=lines, headers=headers)))


def batch_id_of(batch: Batch | str) -> str:
    return batch.id if isinstance(batch, Batch) else batch


def get_batch(batch: Batch | str) -> Operation[Batch]:
    return (yield from answer(Batch, Call("GET", f"/v1/batches/{batch_id_of(batch)}")))


def cancel_batch(batch: Batch | str) -> Operation[Batch]:
    return (yield from answer(Batch, Call("POST", f"/v1/batches/{batch_id_of(batch)}/cancel")))


# --- deliveries -----------------------------------------------------------------------------------------


def list_deliveries(job: Job | str) -> Operation[list[Delivery]]:
    found = yield from answer(DeliveryList, Call("GET", f"/v1/jobs/{job_id_of(job)}/deliveries"))
    return found.deliveries


def retry_delivery(job: Job | str, delivery_id: str) -> Operation[Delivery]:
    step = Call("POST", f"/v1/jobs/{job_id_of(job)}/deliveries/{delivery_id}/retry")
    return (yield from answer(Delivery, step))


# --- webhooks -------------------------------------------------------------------------------------------


def webhook_settings() -> Operation[WebhookSettings]:
    return (yield from answer(WebhookSettings, Call("GET", "/v1/webhooks")))


def set_default_url(url: str | None) -> Operation[WebhookSettings]:
    body = DefaultUrlRequest(url=url).model_dump(mode="json")
    return (yield from answer(WebhookSettings, Call("PUT", "/v1/webhooks/default", json=body)))


def enable_endpoint(url: str) -> Operation[None]:
    yield from call(Call("DELETE", "/v1/webhooks/disabled-endpoints", params=[("url", url)]))


def secret_info() -> Operation[SecretInfo]:
    return (yield from answer(SecretInfo, Call("GET", "/v1/webhooks/secret")))


def rotate_secret() -> Operation[RotatedSecret]:
    # Not repeatable: a second rotation would retire the secret the first one made.
    return (yield from answer(RotatedSecret, Call("POST", "/v1/webhooks/secret/rotate", repeatable=False)))


def dead_letters() -> Operation[list[Delivery]]:
    found = yield from answer(DeliveryList, Call("GET", "/v1/webhooks/dead-letters"))
    return found.deliveries


def replay_dead_letters() -> Operation[int]:
    replayed = yield from answer(Replay, Call("POST", "/v1/webhooks/dead-letters/replay", repeatable=False))
    return replayed.replayed


# --- quota ----------------------------------------------------------------------------------------------


def quota() -> Operation[Quota]:
    return (yield from answer(Quota, Call("GET", "/v1/quota")))


# --- backends -------------------------------------------------------------------------------------------


def backends() -> Operation[list[Backend]]:
    found = yield from answer(BackendList, Call("GET", "/v1/backends"))
    return found.data
