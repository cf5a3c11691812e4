"""Webhook calls against the API under test, and checks of what a receiver got."""

from __future__ import annotations

from typing import Any

import httpx
from standardwebhooks import Webhook

from karlo_devstack.processes import wait_until
from support.api import Caller
from support.receiver import Receiver


def rotate_secret(caller: Caller) -> str:
    response = httpx.post(f"{caller.api_url}/v1/webhooks/secret/rotate", headers=caller.headers, timeout=10)
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


def deliveries(caller: Caller, job_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{caller.api_url}/v1/jobs/{job_id}/deliveries", headers=caller.headers, timeout=10)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


def wait_for_deliveries(
    caller: Caller, job_id: str, *, count: int, statuses: set[str], timeout: float = 30
) -> list[dict[str, Any]]:
    """Wait until the job has ``count`` deliveries, all in one of ``statuses``."""
    found: list[dict[str, Any]] = []

    def done() -> bool:
        nonlocal found
        found = deliveries(caller, job_id)
        return len(found) == count and all(d["status"] in statuses for d in found)

    try:
        wait_until(done, timeout=timeout, what=f"{count} deliveries {statuses} of job {job_id}", interval=0.2)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {found}") from None
    return found


def verified(receiver: Receiver, secret: str, path: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Every request the receiver got on ``path``, each verified with the standardwebhooks library."""
    checked = []
    for record in receiver.received(path):
        body = Webhook(secret).verify(record["body"], record["headers"])
        checked.append((record["headers"], body))
    return checked
