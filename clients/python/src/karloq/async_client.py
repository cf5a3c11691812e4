"""``AsyncClient``: :class:`karloq.Client` with ``await``; the same operations, retries and errors."""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from karloq import _ops, events
from karloq._drivers import AsyncDriver, Connection
from karloq._ops import ByteProgress, JobProgress, RunResult
from karloq._retry import RetryPolicy
from karloq.client import DEFAULT_TIMEOUT, DEFAULT_WAIT_TIMEOUT, _reset_job
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


class AsyncJobs:
    """``/v1/jobs`` (see :class:`karloq.client.Jobs`)."""

    def __init__(self, driver: AsyncDriver) -> None:
        self._driver = driver
        self._run = driver.run

    async def create(
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
        return await self._run(
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

    async def get(self, job: Job | str) -> Job:
        return await self._run(_ops.get_job(job))

    async def page(
        self,
        *,
        status: str | Sequence[str] | None = None,
        kind: str | Sequence[str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        batch: str | None = None,
    ) -> JobPage:
        return await self._run(_ops.list_page(status=status, kind=kind, limit=limit, cursor=cursor, batch=batch))

    async def list(
        self,
        *,
        status: str | Sequence[str] | None = None,
        kind: str | Sequence[str] | None = None,
        limit: int | None = None,
        batch: str | None = None,
    ) -> AsyncIterator[Job]:
        cursor: str | None = None
        while True:
            page = await self.page(status=status, kind=kind, limit=limit, cursor=cursor, batch=batch)
            for job in page.data:
                yield job
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def cancel(self, job: Job | str) -> Job:
        return await self._run(_ops.cancel_job(job))

    async def wait(
        self, job: Job | str, *, timeout: float = DEFAULT_WAIT_TIMEOUT, on_progress: JobProgress | None = None
    ) -> Job:
        return await self._run(_ops.wait_job(job, timeout=timeout, on_progress=on_progress))

    def events(self, job: Job | str, *, last_event_id: str | None = None) -> AsyncIterator[StreamEvent]:
        path = f"/v1/jobs/{_ops.job_id_of(job)}/events"
        return events.afollow(self._driver, path, last_event_id=last_event_id, ends_job=True)

    async def follow(
        self, job: Job | str, *, timeout: float = DEFAULT_WAIT_TIMEOUT, on_progress: JobProgress | None = None
    ) -> Job:
        deadline = time.monotonic() + timeout
        path = f"/v1/jobs/{_ops.job_id_of(job)}/events"
        async for event in events.afollow(self._driver, path, ends_job=True, deadline=deadline):
            current = event.job or _reset_job(event)
            if current is None:
                continue
            if on_progress is not None:
                on_progress(current)
            if current.is_terminal:
                return current
        current = await self.get(job)
        if current.is_terminal:
            return current
        raise WaitTimeoutError(current, timeout)

    async def download(
        self, job: Job | str, out_dir: str | os.PathLike[str], *, on_bytes: ByteProgress | None = None
    ) -> builtins.list[Path]:
        return await self._run(_ops.download(job, Path(out_dir), on_bytes=on_bytes))

    async def deliveries(self, job: Job | str) -> builtins.list[Delivery]:
        return await self._run(_ops.list_deliveries(job))

    async def retry_delivery(self, job: Job | str, delivery_id: str) -> Delivery:
        return await self._run(_ops.retry_delivery(job, delivery_id))


class AsyncBatches:
    """``/v1/batches`` (see :class:`karloq.client.Batches`)."""

    def __init__(self, driver: AsyncDriver) -> None:
        self._driver = driver
        self._run = driver.run

    async def create(
        self,
        jobs: Sequence[JobInput | dict[str, Any]],
        *,
        webhook: WebhookOption | str | None = None,
        idempotency_key: str | None = None,
    ) -> Batch:
        return await self._run(_ops.create_batch(jobs, webhook=webhook, idempotency_key=idempotency_key))

    async def create_from_lines(self, lines: bytes, *, idempotency_key: str | None = None) -> Batch:
        return await self._run(_ops.create_batch_from_lines(lines, idempotency_key=idempotency_key))

    async def get(self, batch: Batch | str) -> Batch:
        return await self._run(_ops.get_batch(batch))

    async def cancel(self, batch: Batch | str) -> Batch:
        return await self._run(_ops.cancel_batch(batch))

    async def wait(self, batch: Batch | str, *, timeout: float = DEFAULT_WAIT_TIMEOUT) -> Batch:
        current = await self.get(batch)
        if current.is_completed:
            return current
        deadline = time.monotonic() + timeout
        params = events.event_params("batch.completed", None, current.id)
        async for event in events.afollow(self._driver, "/v1/events", params, last_event_id="0-0", deadline=deadline):
            if event.batch is not None:
                return event.batch
        raise BatchWaitTimeoutError(await self.get(batch), timeout)


class AsyncEvents:
    """``/v1/events`` (see :class:`karloq.client.Events`)."""

    def __init__(self, driver: AsyncDriver) -> None:
        self._driver = driver

    def follow(
        self,
        *,
        event: str | Sequence[str] | None = None,
        kind: str | Sequence[str] | None = None,
        batch: str | None = None,
        last_event_id: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        params = events.event_params(event, kind, batch)
        return events.afollow(self._driver, "/v1/events", params, last_event_id=last_event_id)


class AsyncWebhooks:
    """``/v1/webhooks`` (see :class:`karloq.client.Webhooks`)."""

    def __init__(self, driver: AsyncDriver) -> None:
        self._run = driver.run

    async def settings(self) -> WebhookSettings:
        return await self._run(_ops.webhook_settings())

    async def set_default_url(self, url: str | None) -> WebhookSettings:
        return await self._run(_ops.set_default_url(url))

    async def enable_endpoint(self, url: str) -> None:
        await self._run(_ops.enable_endpoint(url))

    async def secret(self) -> SecretInfo:
        return await self._run(_ops.secret_info())

    async def rotate_secret(self) -> RotatedSecret:
        return await self._run(_ops.rotate_secret())

    async def dead_letters(self) -> list[Delivery]:
        return await self._run(_ops.dead_letters())

    async def replay_dead_letters(self) -> int:
        return await self._run(_ops.replay_dead_letters())


class AsyncClient:
    """The karlo-queue API with ``await`` (see :class:`karloq.Client`)."""

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.connection = Connection.resolve(api_url, api_key, timeout, retry or RetryPolicy())
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(follow_redirects=False)
        self._driver = AsyncDriver(self.connection, self._http)
        self.jobs = AsyncJobs(self._driver)
        self.webhooks = AsyncWebhooks(self._driver)
        self.batches = AsyncBatches(self._driver)
        self.events = AsyncEvents(self._driver)

    async def backends(self) -> list[Backend]:
        """The generation backends jobs may name, what each takes, and whether each is ready."""
        return await self._driver.run(_ops.backends())

    async def quota(self) -> Quota:
        return await self._driver.run(_ops.quota())

    async def run(
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
        return await self._driver.run(
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

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()
