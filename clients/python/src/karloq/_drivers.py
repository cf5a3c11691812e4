"""Drivers of the operations in ``_ops``: one with blocking httpx calls, one with ``await``; both retry alike."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from karloq import __version__
from karloq._ops import Call, Operation, Reply, Sleep
from karloq._retry import IN_FLIGHT_PROBLEM, RETRY_STATUSES, RetryPolicy, parse_retry_after
from karloq.errors import ApiError, ConnectionFailedError, KarloqError, api_error

T = TypeVar("T")

DEFAULT_API_URL = "http://127.0.0.1:8000"
API_URL_ENV = "KARLOQ_API_URL"
API_KEY_ENV = "KARLOQ_API_KEY"
USER_AGENT = f"karloq-python/{__version__}"
#: Transport errors after which the request surely never reached the service.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Connection:
    """Where the API is, whose key to send, and how patiently."""

    api_url: str
    api_key: str | None
    timeout: float
    retry: RetryPolicy

    @classmethod
    def resolve(cls, api_url: str | None, api_key: str | None, timeout: float, retry: RetryPolicy) -> Connection:
        """Arguments first, then ``KARLOQ_API_URL`` / ``KARLOQ_API_KEY``, then the local stack's address."""
        url = api_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL
        return cls(url.rstrip("/"), api_key or os.environ.get(API_KEY_ENV) or None, timeout, retry)

    def request(self, http: httpx.Client | httpx.AsyncClient, step: Call) -> httpx.Request:
        headers = {"User-Agent": USER_AGENT, **step.headers}
        url = step.url
        if url.startswith("/"):
            url = self.api_url + url
            headers.setdefault("Accept", "application/json")
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
        timeout = httpx.Timeout(self.timeout, read=self.timeout + step.extra_seconds)
        return http.build_request(
            step.method,
            url,
            params=step.params or None,
            json=step.json,
            content=step.content,
            data=step.data,
            files=step.files,
            headers=headers,
            timeout=timeout,
        )

    def retry_delay(self, step: Call, retry: int, outcome: httpx.Response | httpx.TransportError) -> float:
        """Seconds before trying ``step`` again; raises the SDK's exception when it is not tried again."""
        if isinstance(outcome, httpx.TransportError):
            failure = ConnectionFailedError(f"cannot reach {self.api_url}: {type(outcome).__name__}: {outcome}")
            retryable = step.repeatable or isinstance(outcome, _NOT_SENT)
            delay = self.retry.delay(retry, None) if retryable else None
            if delay is None:
                raise failure from outcome
            return delay
        error = api_error(outcome.status_code, outcome.content, outcome.headers)
        if not _worth_retrying(error):
            raise error
        delay = self.retry.delay(retry, parse_retry_after(outcome.headers.get("retry-after")))
        if delay is None:
            raise error
        return delay


def _worth_retrying(error: ApiError) -> bool:
    return error.status in RETRY_STATUSES or (error.status == 409 and error.type == IN_FLIGHT_PROBLEM)


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".part")


class SyncDriver:
    def __init__(self, connection: Connection, http: httpx.Client) -> None:
        self.connection = connection
        self.http = http

    def run(self, op: Operation[T]) -> T:
        reply: Reply = None
        error: KarloqError | None = None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(reply)
            except StopIteration as stop:
                result: T = stop.value
                return result
            reply, error = None, None
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                continue
            try:
                reply = self.send(step)
            except KarloqError as exc:
                error = exc

    def send(self, step: Call) -> httpx.Response:
        retry = 0
        while True:
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self._once(step)
            except httpx.TransportError as exc:
                outcome = exc
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return outcome
            time.sleep(self.connection.retry_delay(step, retry, outcome))
            retry += 1

    def _once(self, step: Call) -> httpx.Response:
        response = self.http.send(self.connection.request(self.http, step), stream=True)
        try:
            if step.save_to is None or not response.is_success:
                response.read()
                return response
            partial = _partial(step.save_to)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    if step.on_bytes is not None:
                        step.on_bytes(len(chunk))
            partial.replace(step.save_to)
            return response
        finally:
            response.close()


class AsyncDriver:
    def __init__(self, connection: Connection, http: httpx.AsyncClient) -> None:
        self.connection = connection
        self.http = http

    async def run(self, op: Operation[T]) -> T:
        reply: Reply = None
        error: KarloqError | None = None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(reply)
            except StopIteration as stop:
                result: T = stop.value
                return result
            reply, error = None, None
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                continue
            try:
                reply = await self.send(step)
            except KarloqError as exc:
                error = exc

    async def send(self, step: Call) -> httpx.Response:
        retry = 0
        while True:
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = await self._once(step)
            except httpx.TransportError as exc:
                outcome = exc
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return outcome
            await asyncio.sleep(self.connection.retry_delay(step, retry, outcome))
            retry += 1

    async def _once(self, step: Call) -> httpx.Response:
        response = await self.http.send(self.connection.request(self.http, step), stream=True)
        try:
            if step.save_to is None or not response.is_success:
                await response.aread()
                return response
            partial = _partial(step.save_to)
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
                    if step.on_bytes is not None:
                        step.on_bytes(len(chunk))
            partial.replace(step.save_to)
            return response
        finally:
            await response.aclose()
