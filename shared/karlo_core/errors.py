"""The error tree of karlo-queue.

KarloQueueError                 base; ``retryable`` says whether trying again may help
├── UpstreamError               Karlo answered with an error, or could not be reached
│   ├── UpstreamRejected        the request itself is wrong (-2, input-image codes, unknown codes)
│   ├── UpstreamAuthError       credentials or permissions (-401, -3, -4, -5, -12, -903)
│   ├── UpstreamQuotaExceeded   Karlo's quota is spent (-10, -11): wait, do not fail
│   └── UpstreamUnavailable     maintenance, internal errors, 5xx, timeouts, connection errors
└── StorageError                the image store refused or could not be reached
"""

from __future__ import annotations


class KarloQueueError(Exception):
    """Base of every error this service raises on purpose."""

    retryable = False
    slug = "internal_error"


class UpstreamError(KarloQueueError):
    """Karlo did not produce images. ``code`` is Karlo's own code when it sent one."""

    slug = "upstream_error"

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


class UpstreamRejected(UpstreamError):
    """Karlo refused the request as invalid; sending it again cannot succeed."""

    slug = "upstream_rejected"


class UpstreamAuthError(UpstreamError):
    """Karlo refused our credentials or the app lacks permission: an operator must act."""

    slug = "upstream_auth"


class UpstreamQuotaExceeded(UpstreamError):
    """Karlo's quota is spent; the job waits for the window to reset."""

    slug = "upstream_quota_exceeded"
    retryable = True


class UpstreamUnavailable(UpstreamError):
    """A transient upstream failure. ``sent`` is False when the request certainly never left."""

    slug = "upstream_unavailable"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.sent = sent


class StorageError(KarloQueueError):
    """Writing to or reading from the image store failed."""

    slug = "storage_error"
    retryable = True
