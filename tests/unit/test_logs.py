"""JSON log lines: bound job context on every line, per thread, and no secrets or image data."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from karlo_core.logs import ContextFilter, JsonFormatter, bind_log_fields, log_context, scrub


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("karloq.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_bound_fields_reach_every_line_of_the_context_and_no_other_thread(captured: io.StringIO) -> None:
    log = logging.getLogger("karloq.test")

    def other_thread() -> None:
        log.info("elsewhere")

    with log_context(job_id="j1", tenant="acme"):
        log.info("started")
        bind_log_fields(karlo_request_id="r-42")
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        log.info("succeeded", extra={"tenant": "explicit wins"})
    log.info("after")
    started, elsewhere, succeeded, after = lines(captured)
    assert (started["job_id"], started["tenant"]) == ("j1", "acme")
    assert "karlo_request_id" not in started
    assert "job_id" not in elsewhere
    assert (succeeded["karlo_request_id"], succeeded["tenant"]) == ("r-42", "explicit wins")
    assert "job_id" not in after


def test_secrets_signatures_and_image_data_are_scrubbed(captured: io.StringIO) -> None:
    image = base64.b64encode(bytes(range(256)) * 4).decode()
    url = "https://bucket.s3.example.com/jobs/1/0.png?X-Amz-Algorithm=AWS4&X-Amz-Signature=abc123def&X-Amz-Expires=60"
    logging.getLogger("karloq.test").info(
        "calling %s with Authorization: KakaoAK s3cr3t-key-value", url, extra={"image": image, "key": "kq_ab12_SECRET"}
    )
    text = captured.getvalue()
    for secret in ("s3cr3t-key-value", "abc123def", "X-Amz-Algorithm", "SECRET", image[:60]):
        assert secret not in text
    (line,) = lines(captured)
    assert line["msg"] == (
        "calling https://bucket.s3.example.com/jobs/1/0.png?[redacted] with Authorization: KakaoAK [redacted]"
    )
    assert (line["image"], line["key"]) == ("[base64 redacted]", "kq_ab12_[redacted]")


def test_scrub_leaves_ordinary_text_alone() -> None:
    text = 'job 01m89jh5csb41xg9ke2a45935q failed: "-2 bad parameter" at /work/h7/shared/karlo_core/logs.py'
    assert scrub(text) == text
