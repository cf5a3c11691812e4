"""A thin HTTP client for the API under test."""

from __future__ import annotations

import time
from typing import Any

import httpx

TERMINAL = {"succeeded", "failed", "canceled"}


def submit(api_url: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{api_url}/v1/jobs", json=body, timeout=30, **kwargs)


def get_job(api_url: str, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{api_url}/v1/jobs/{job_id}", timeout=10)
    response.raise_for_status()
    job: dict[str, Any] = response.json()
    return job


def wait_for_status(api_url: str, job_id: str, statuses: set[str], *, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job = get_job(api_url, job_id)
    while job["status"] not in statuses:
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stayed {job['status']!r}, wanted {statuses}: {job}")
        time.sleep(0.1)
        job = get_job(api_url, job_id)
    return job


def wait_until_terminal(api_url: str, job_id: str, *, timeout: float = 60) -> dict[str, Any]:
    return wait_for_status(api_url, job_id, TERMINAL, timeout=timeout)
