"""The error tree of karlo-queue.

KarloQueueError                 base; ``retryable`` says whether trying again may help
├── UpstreamError               Karlo answered with an error, or could not be reached
│   ├── UpstreamRejected        the request itself is wrong (-2, input-image codes, unknown codes)
│   ├── UpstreamAuthError       credentials or permissions (-401, -3, -4, -5, -12, -903)
│   ├── UpstreamQuotaExceeded   Karlo's quota is spent (-10, -11): wait, do not fail
│   └── UpstreamUnavailable     maintenance, internal errors, 5xx, timeouts, connection errors
├── StorageError                the image store refused or could not be reached
├── BlockedDestination          an outbound URL is malformed, not allowed, or not in public address space
├── JobNotFound                 no such job for this tenant (another tenant's job is as missing)
├── TooManyActiveJobs           the tenant has as many jobs in progress as it may
├── QueueUnavailable            the job queue did not take the job's message
├── KeyTaken (jobstore)         an Idempotency-Key's claim ran out and another request holds the key
├── TooManyInputFetches         the tenant has as many input-image URLs being fetched as it may
└── WebhookSecretMissing        events would go out, but the tenant has no signing secret yet

The API answers each with the problem ``karlo_api.problems.CORE_ERROR_PROBLEMS`` gives its class.
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


class BlockedDestination(KarloQueueError):
    """The URL is malformed, not allowed, or resolves to an address outside public space."""

    slug = "blocked_destination"


class JobNotFound(KarloQueueError):
    """No job with this id belongs to the tenant asking."""

    slug = "job_not_found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


class TooManyActiveJobs(KarloQueueError):
    """The tenant already has ``cap`` jobs queued, waiting or running."""

    slug = "too_many_active_jobs"
    retryable = True

    def __init__(self, cap: int) -> None:
        super().__init__(f"at most {cap} jobs may be queued, waiting or running at once; wait for some to finish")
        self.cap = cap


class QueueUnavailable(KarloQueueError):
    """The job queue (the broker) did not take a job's message."""

    slug = "queue_unavailable"
    retryable = True


class WebhookSecretMissing(KarloQueueError):
    """A job or default URL would send webhook events, but the tenant has no signing secret to sign them with."""

    slug = "webhook_secret_missing"


class TooManyInputFetches(KarloQueueError):
    """The tenant already has ``limit`` input-image URLs being fetched."""

    slug = "too_many_input_fetches"
    retryable = True

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} input-image URLs are fetched at once per tenant; retry shortly")
        self.limit = limit
