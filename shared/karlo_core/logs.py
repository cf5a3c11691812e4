"""Logging set-up shared by every process: one JSON object per line, with the job's context, without secrets.

Fields bound with :func:`log_context` / :func:`bind_log_fields` (job id, tenant, Karlo's request id) are added
to every line logged in that context, so a job's whole life can be found by its id. Each line is scrubbed
before it is written: credentials after ``KakaoAK``/``Bearer``/``Basic``, our API keys' secrets, URL query
strings (presigned signatures) and long base64 runs (image data) never reach the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

#: ``json.dumps(entry, default=str)`` made once: ``dumps`` with any argument builds a new encoder for every line.
_ENCODE = json.JSONEncoder(default=str).encode

#: Libraries that log every request with its full URL (query signatures included) at INFO or DEBUG.
NOISY_LOGGERS = ("httpx", "httpcore", "botocore", "boto3", "urllib3", "s3transfer")

_context: ContextVar[dict[str, Any] | None] = ContextVar("karloq_log_context", default=None)

#: Each scrubber: words one of which a line must hold (lowercased) for its pattern to match, the pattern, and its
#: replacement. A line without any of the words skips the pattern: most lines hold no credential, link or image
#: data, and a substring test costs a fraction of a regex scan.
_SCRUBBERS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (
        ("kakaoak", "bearer", "basic"),
        re.compile(r"\b(KakaoAK|Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
        r"\1\2[redacted]",
    ),
    (("kq_",), re.compile(r"\b(kq_[A-Za-z0-9]+_)[A-Za-z0-9_-]+"), r"\1[redacted]"),
    (("://",), re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s\"'?#\\]+)\?[^\s\"'#\\]*"), r"\1?[redacted]"),
    (
        ("x-amz-",),
        re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s\"'\\]+"),
        r"\1[redacted]",
    ),
    ((), re.compile(r"[A-Za-z0-9+/]{120,}={0,2}"), "[base64 redacted]"),
)
#: The shortest run of base64 taken for image data.
_BASE64_RUN = 120


def scrub(text: str) -> str:
    """Remove credentials, URL query strings and image data from a log line."""
    lower = text.lower()
    for words, pattern, replacement in _SCRUBBERS:
        if words and not any(word in lower for word in words):
            continue
        if not words and len(text) < _BASE64_RUN:
            continue
        text = pattern.sub(replacement, text)
        lower = text.lower()
    return text


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged in this context (this thread or task), until the block ends."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind_log_fields(**fields: Any) -> None:
    """Add fields to the innermost :func:`log_context` (e.g. Karlo's request id once it is known)."""
    current = _context.get()
    if current is not None:
        current.update(fields)


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record; fields passed with ``extra=`` win."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return scrub(_ENCODE(entry))


def configure_logging(level: str) -> None:
    """Every line as :class:`JsonFormatter` writes it. Its lines carry no caller, thread or process fields, so
    records are made without them (the logging module's documented switches): finding the caller walks the
    stack on every line."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
