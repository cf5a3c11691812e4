"""``Client``: the karlo-queue API with blocking calls. ``AsyncClient`` (``karloq.async_client``) mirrors it."""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from karloq import _ops, events
from karloq._drivers import Connection, SyncDriver
from karloq._ops import ByteProgress, JobProgress, RunResult
from karloq._retry import RetryPolicy
from karloq.errors import BatchWaitTimeoutError, WaitTimeoutError
from karloq.events import StreamEvent
from karloq.images import ImageSource
from karloq.models import (
    Backend,
    BackendName,
    Batch,
    Delivery,
    Job,
    JobInput,
    JobPage,
    Priority,
    Quota,
    RotatedSecret,
    SecretInfo,
    WebhookOption,
    WebhookSettings,
)

DEFAULT_TIMEOUT = 30.0
DEFAULT_WAIT_TIMEOUT = 600.0


class Jobs:
    """``/v1/jobs``: create, read, list, cancel and wait for jobs; download their images; their deliveries."""

    def __init__(self, driver: SyncDriver) -> None:
        self._driver = driver
        self._run = driver.run

    def create(
        self,
        job_input: JobInput,
        *,
        image: ImageSource | None = None,
        mask: ImageSource | None = None,
        webhook: WebhookOption | str | None = None,
        idempotency_key: str | None = None,
        wait: int | None = None,
        backend: BackendName | None = None,
        priority: Priority | None = None,
    ) -> Job:
        """Submit a job; with ``wait`` (seconds, at most 60) the answer comes once it finishes, if it does by then.

        ``image``/``mask``: a path, bytes or a PIL image (sent as a multipart file part), or an https URL (the
        service fetches it). Every try of this call sends the same ``Idempotency-Key`` (given, or generated).
        """
        return self._run(
            _ops.create_job(
                job_input,
                image=image,
                mask=mask,
                webhook=webhook,
                idempotency_key=idempotency_key,
                wait=wait,
                backend=backend,
                priority=priority,
            )
        )

    def get(self, job: Job | str) -> Job:
        return self._run(_ops.get_job(job))

    def page(
        self,
        *,
        status: str | Sequence[str] | None = None,
        kind: str | Sequence[str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        batch: str | None = None,
    ) -> JobPage:
        """One page of the tenant's jobs (or of one batch's), newest first."""
        return self._run(_ops.list_page(status=status, kind=kind, limit=limit, cursor=cursor, batch=batch))

    def list(
        self,
        *,
        status: str | Sequence[str] | None = None,
        kind: str | Sequence[str] | None = None,
        limit: int | None = None,
        batch: str | None = None,
    ) -> Iterator[Job]:
        """Every job, newest first, fetched a page (``limit`` jobs) at a time as the iteration goes."""
        cursor: str | None = None
        while True:
            page = self.page(status=status, kind=kind, limit=limit, cursor=cursor, batch=batch)
            yield from page.data
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def cancel(self, job: Job | str) -> Job:
        """Cancel a job; a running one keeps ``status`` running with ``cancel_requested`` until Karlo answers."""
        return self._run(_ops.cancel_job(job))

    def wait(
        self, job: Job | str, *, timeout: float = DEFAULT_WAIT_TIMEOUT, on_progress: JobProgress | None = None
    ) -> Job:
        """The job once it is terminal (whatever its status); WaitTimeoutError after ``timeout`` seconds."""
        return self._run(_ops.wait_job(job, timeout=timeout, on_progress=on_progress))

    def events(self, job: Job | str, *, last_event_id: str | None = None) -> Iterator[StreamEvent]:
        """The job's events from its creation (or after ``last_event_id``) as they happen; the iteration ends
        after its terminal event."""
        path = f"/v1/jobs/{_ops.job_id_of(job)}/events"
        return events.follow(self._driver, path, last_event_id=last_event_id, ends_job=True)

    def follow(
        self, job: Job | str, *, timeout: float = DEFAULT_WAIT_TIMEOUT, on_progress: JobProgress | None = None
    ) -> Job:
        """:meth:`wait` on the job's event stream instead of polling: ``on_progress`` sees each event's job."""
        deadline = time.monotonic() + timeout
        path = f"/v1/jobs/{_ops.job_id_of(job)}/events"
        for event in events.follow(self._driver, path, ends_job=True, deadline=deadline):
            current = event.job or _reset_job(event)
            if current is None:
                continue
            if on_progress is not None:
                on_progress(current)
            if current.is_terminal:
                return current
        current = self.get(job)
        if current.is_terminal:
            return current
        raise WaitTimeoutError(current, timeout)

    def download(
        self, job: Job | str, out_dir: str | os.PathLike[str], *, on_bytes: ByteProgress | None = None
    ) -> builtins.list[Path]:
        """Save the job's images into ``out_dir`` (created if missing); returns their paths."""
        return self._run(_ops.download(job, Path(out_dir), on_bytes=on_bytes))

    def deliveries(self, job: Job | str) -> builtins.list[Delivery]:
        """The job's webhook events, oldest first, with every attempt."""
        return self._run(_ops.list_deliveries(job))

    def retry_delivery(self, job: Job | str, delivery_id: str) -> Delivery:
        """Send a delivery again now, with the same webhook-id."""
        return self._run(_ops.retry_delivery(job, delivery_id))


def _reset_job(event: StreamEvent) -> Job | None:
    """The job a job stream's ``reset`` carries (its last events were no longer kept)."""
    reset = event.reset
    return Job.model_validate(reset.job) if reset is not None and reset.job else None


class Batches:
    """``/v1/batches``: many jobs in one request, all or none; their counts, their jobs, canceling the rest."""

    def __init__(self, driver: SyncDriver) -> None:
        self._driver = driver
        self._run = driver.run

    def create(
        self,
        jobs: Sequence[JobInput | dict[str, Any]],
        *,
        webhook: WebhookOption | str | None = None,
        idempotency_key: str | None = None,
    ) -> Batch:
        """Submit up to 1,000 jobs (inputs, or create-job bodies as dicts); an invalid one refuses them all with
        InvalidRequestError naming each bad item (``jobs[3].input.width``). ``webhook`` gets ``batch.completed``
        and the events of jobs naming no webhook. Every try sends the same ``Idempotency-Key``."""
        return self._run(_ops.create_batch(jobs, webhook=webhook, idempotency_key=idempotency_key))

    def create_from_lines(self, lines: bytes, *, idempotency_key: str | None = None) -> Batch:
        """Submit a JSON Lines file's content (one create-job body a line) as it is."""
        return self._run(_ops.create_batch_from_lines(lines, idempotency_key=idempotency_key))

    def get(self, batch: Batch | str) -> Batch:
        return self._run(_ops.get_batch(batch))

    def cancel(self, batch: Batch | str) -> Batch:
        """Cancel every job of the batch that has not finished."""
        return self._run(_ops.cancel_batch(batch))

    def wait(self, batch: Batch | str, *, timeout: float = DEFAULT_WAIT_TIMEOUT) -> Batch:
        """The batch once every job has finished (its ``batch.completed`` event); WaitTimeoutError otherwise."""
        current = self.get(batch)
        if current.is_completed:
            return current
        deadline = time.monotonic() + timeout
        params = events.event_params("batch.completed", None, current.id)
        # from the oldest kept event: a completion between the read above and the stream's start is not missed
        for event in events.follow(self._driver, "/v1/events", params, last_event_id="0-0", deadline=deadline):
            if event.batch is not None:
                return event.batch
        raise BatchWaitTimeoutError(self.get(batch), timeout)


class Events:
    """``/v1/events``: every event of your jobs as it happens."""

    def __init__(self, driver: SyncDriver) -> None:
        self._driver = driver

    def follow(
        self,
        *,
        event: str | Sequence[str] | None = None,
        kind: str | Sequence[str] | None = None,
        batch: str | None = None,
        last_event_id: str | None = None,
    ) -> Iterator[StreamEvent]:
        """Events from now on (or after ``last_event_id``), only these ``event`` names, job ``kind``s or
        ``batch``; the iteration goes on until it is left, reconnecting as needed."""
        params = events.event_params(event, kind, batch)
        return events.follow(self._driver, "/v1/events", params, last_event_id=last_event_id)


class Webhooks:
    """``/v1/webhooks``: the default receiver, the signing secret, disabled endpoints and dead letters."""

    def __init__(self, driver: SyncDriver) -> None:
        self._run = driver.run

    def settings(self) -> WebhookSettings:
        return self._run(_ops.webhook_settings())

    def set_default_url(self, url: str | None) -> WebhookSettings:
        """Receiver of jobs created without their own webhook; None clears it."""
        return self._run(_ops.set_default_url(url))

    def enable_endpoint(self, url: str) -> None:
        """Send to an endpoint again after it answered 410 Gone."""
        self._run(_ops.enable_endpoint(url))

    def secret(self) -> SecretInfo:
        return self._run(_ops.secret_info())

    def rotate_secret(self) -> RotatedSecret:
        """A new signing secret, shown only in this answer; the previous one signs too for a grace period."""
        return self._run(_ops.rotate_secret())

    def dead_letters(self) -> list[Delivery]:
        return self._run(_ops.dead_letters())

    def replay_dead_letters(self) -> int:
        """Send every dead letter again; returns how many."""
        return self._run(_ops.replay_dead_letters())


class Client:
    """The karlo-queue API. ``api_url`` and ``api_key`` default to ``KARLOQ_API_URL`` and ``KARLOQ_API_KEY``.

    Connection errors, 429 and 503 answers are retried (``retry``), honouring ``Retry-After``; error answers
    raise :class:`karloq.ApiError` subclasses carrying the problem document.
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.connection = Connection.resolve(api_url, api_key, timeout, retry or RetryPolicy())
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(follow_redirects=False)
        self._driver = SyncDriver(self.connection, self._http)
        self.jobs = Jobs(self._driver)
        self.webhooks = Webhooks(self._driver)
        self.batches = Batches(self._driver)
        self.events = Events(self._driver)

    def backends(self) -> list[Backend]:
        """The generation backends jobs may name, what each takes, and whether each is ready."""
        return self._driver.run(_ops.backends())

    def quota(self) -> Quota:
        """Limit, use and reset time of each quota window, counted in images."""
        return self._driver.run(_ops.quota())

    def run(
        self,
        job_input: JobInput,
        *,
        out_dir: str | os.PathLike[str],
        image: ImageSource | None = None,
        mask: ImageSource | None = None,
        webhook: WebhookOption | str | None = None,
        idempotency_key: str | None = None,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        prefer_wait: int = _ops.MAX_PREFER_WAIT,
        on_progress: JobProgress | None = None,
        on_bytes: ByteProgress | None = None,
        backend: BackendName | None = None,
        priority: Priority | None = None,
    ) -> RunResult:
        """Create a job, wait for it and save its images in ``out_dir``.

        Raises JobFailedError when the job fails or is canceled, WaitTimeoutError after ``timeout`` seconds.
        ``prefer_wait`` is how long the create call itself may wait (``Prefer: wait``) before polling starts.
        """
        return self._driver.run(
            _ops.run_job(
                job_input,
                out_dir=Path(out_dir),
                image=image,
                mask=mask,
                webhook=webhook,
                idempotency_key=idempotency_key,
                timeout=timeout,
                prefer_wait=prefer_wait,
                on_progress=on_progress,
                on_bytes=on_bytes,
                backend=backend,
                priority=priority,
            )
        )

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
