"""A thin HTTP client for the API under test: every call is made as one tenant, with its API key."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

TERMINAL = {"succeeded", "failed", "canceled"}


class Caller(Protocol):
    """Where the API is and whose key to send: an ``AppStack`` (its first tenant) or a :class:`Tenant`."""

    @property
    def api_url(self) -> str: ...

    @property
    def headers(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class Tenant:
    api_url: str
    tenant_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def submit(caller: Caller, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    headers = {**caller.headers, **kwargs.pop("headers", {})}
    return httpx.post(f"{caller.api_url}/v1/jobs", json=body, timeout=30, headers=headers, **kwargs)


def get_job(caller: Caller, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{caller.api_url}/v1/jobs/{job_id}", headers=caller.headers, timeout=10)
    response.raise_for_status()
    job: dict[str, Any] = response.json()
    return job


def wait_for_status(caller: Caller, job_id: str, statuses: set[str], *, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job = get_job(caller, job_id)
    while job["status"] not in statuses:
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stayed {job['status']!r}, wanted {statuses}: {job}")
        time.sleep(0.1)
        job = get_job(caller, job_id)
    return job


def wait_until_terminal(caller: Caller, job_id: str, *, timeout: float = 60) -> dict[str, Any]:
    return wait_for_status(caller, job_id, TERMINAL, timeout=timeout)
