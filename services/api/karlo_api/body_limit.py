"""The request body limit: a body over ``KARLOQ_MAX_REQUEST_BODY_BYTES`` is refused with a 413 problem while it
streams, before any is read whole (enforced by :mod:`karlo_api.request_guard`)."""

from __future__ import annotations

from karlo_api.problems import Problem


class BodyTooLarge(Exception):
    """Raised from the request's receive channel once the body has passed the limit."""


def body_too_large(max_bytes: int) -> Problem:
    return Problem(413, "body-too-large", "Request body too large", f"the limit is {max_bytes} bytes")
