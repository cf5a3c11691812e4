"""Pure pieces of karloq, one at a time: retry timing, error parsing, image sources, the CLI's argument order."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from karloq import RetryPolicy
from karloq._retry import parse_retry_after
from karloq.cli import hoist_global_options
from karloq.cli.display import describe
from karloq.errors import InvalidRequestError, RateLimitError, ServerError, api_error
from karloq.images import ImageFile, ImageUrl, resolve_image
from karloq.models import Job
from support.images import image_bytes

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_retry_after_reads_seconds_and_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Sun, 29 Nov 2026 12:00:30 GMT", now=NOW) == 30.0
    assert parse_retry_after("Sun, 29 Nov 2026 11:00:00 GMT", now=NOW) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


def test_retry_policy_is_bounded_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_retries=2, backoff_seconds=1, max_backoff_seconds=1.5, max_retry_after=60)
    assert policy.delay(0, 5) == 5
    assert policy.delay(0, 3600) is None  # longer than the caller agreed to wait: raise instead
    assert 0.5 <= (policy.delay(1, None) or 0) <= 1.5
    assert policy.delay(2, None) is None and policy.delay(2, 1) is None


def test_error_answers_become_typed_exceptions() -> None:
    body = (
        b'{"type": "/problems/validation-error", "title": "Your request is not valid", "status": 422,'
        b' "detail": "input.width: too small", "errors": [{"field": "input.width", "rule": "value_error",'
        b' "message": "too small"}]}'
    )
    error = api_error(422, body, {})
    assert isinstance(error, InvalidRequestError)
    assert str(error) == "422 validation-error: Your request is not valid: input.width: too small"
    limited = api_error(
        429, b'{"type": "/problems/quota-exceeded", "title": "spent", "status": 429}', {"retry-after": "9"}
    )
    assert isinstance(limited, RateLimitError) and limited.retry_after == 9.0
    gateway = api_error(502, b"<html>Bad Gateway</html>", {})
    assert (
        isinstance(gateway, ServerError)
        and gateway.title == "HTTP 502"
        and gateway.detail == "<html>Bad Gateway</html>"
    )


def test_image_sources() -> None:
    png = image_bytes(8, 8)
    assert resolve_image("https://example.com/a.png", "image") == ImageUrl("https://example.com/a.png")
    assert resolve_image(png, "mask") == ImageFile("mask.png", png, "image/png")
    jpeg = resolve_image(image_bytes(8, 8, "JPEG"), "image")
    assert isinstance(jpeg, ImageFile) and jpeg.content_type == "image/jpeg"
    from_pil = resolve_image(Image.new("RGB", (8, 8)), "image")
    assert isinstance(from_pil, ImageFile) and Image.open(io.BytesIO(from_pil.data)).size == (8, 8)
    with pytest.raises(FileNotFoundError):
        resolve_image("no/such/file.png", "image")


def test_global_options_may_come_after_the_command() -> None:
    args = ["jobs", "list", "--json", "--api-url", "http://h", "--api-key=kq_1", "--", "--json"]
    assert hoist_global_options(args) == [
        "--json",
        "--api-url",
        "http://h",
        "--api-key=kq_1",
        "jobs",
        "list",
        "--",
        "--json",
    ]


def _job(**fields: object) -> Job:
    base = {
        "id": "j", "kind": "generate", "status": "queued", "input": {}, "output": None, "error": None,
        "attempts": 0, "created_at": NOW, "started_at": None, "completed_at": None, "upstream": {}, "notices": [],
        "estimated_start_at": None, "cancel_requested": False, "webhook": None, "batch_id": None,
        "urls": {"get": "g", "cancel": "c"},
    }  # fmt: skip
    return Job.model_validate(base | fields)


def test_status_line_says_when_a_job_waiting_for_quota_starts() -> None:
    waiting = _job(status="waiting_for_quota", estimated_start_at=NOW + timedelta(seconds=42))
    assert describe(waiting, now=NOW).startswith("waiting for quota, starts about ")
    assert describe(waiting, now=NOW).endswith("(in 42 s)")
    failed = _job(status="failed", error={"code": "upstream_rejected", "message": "bad", "upstream_code": -2})
    assert describe(failed) == "failed: upstream_rejected: bad"
    assert describe(_job(status="running", cancel_requested=True)) == "running, cancel requested"
