"""What the SDK raises: the API's problem documents as typed exceptions, and the client's own failures."""

from __future__ import annotations

import json
from collections.abc import Mapping

from karloq._retry import parse_retry_after
from karloq.models import Batch, FieldError, Job, ProblemDocument


class KarloqError(Exception):
    """Everything the SDK raises derives from this."""


class ApiError(KarloqError):
    """The API answered with an error (an ``application/problem+json`` document)."""

    def __init__(self, problem: ProblemDocument, headers: Mapping[str, str] | None = None) -> None:
        self.problem = problem
        self.headers = dict(headers or {})
        super().__init__(self.summary)

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def type(self) -> str:
        """``/problems/<slug>``."""
        return self.problem.type

    @property
    def slug(self) -> str:
        """The last part of ``type``, e.g. ``validation-error``."""
        return self.problem.type.rstrip("/").rsplit("/", 1)[-1]

    @property
    def title(self) -> str:
        return self.problem.title

    @property
    def detail(self) -> str | None:
        return self.problem.detail

    @property
    def errors(self) -> list[FieldError]:
        """Each field and rule broken (422 answers)."""
        return list(self.problem.errors or [])

    @property
    def summary(self) -> str:
        """One line: the title, then what was wrong (each field, or the detail)."""
        if self.errors:
            what = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        else:
            what = self.detail or ""
        return f"{self.title}: {what}" if what else self.title

    def __str__(self) -> str:
        return f"{self.status} {self.slug}: {self.summary}"


class BadRequestError(ApiError):
    """400: the body could not be read."""


class AuthenticationError(ApiError):
    """401: no API key, or one the service does not know."""


class PermissionDeniedError(ApiError):
    """403: a download link that is invalid or has expired."""


class NotFoundError(ApiError):
    """404: no such job or delivery for this tenant."""


class ConflictError(ApiError):
    """409: e.g. canceling a finished job, or a webhook URL before a signing secret exists."""


class RequestTooLargeError(ApiError):
    """413: the request body is larger than the service accepts."""


class InvalidRequestError(ApiError):
    """422: the request broke a rule; :attr:`errors` names each field."""


class RateLimitError(ApiError):
    """429: a quota or the cap on jobs in progress is reached."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


class ServerError(ApiError):
    """5xx: the service failed or a dependency of it is unavailable."""


class ServiceUnavailableError(ServerError):
    """503: a dependency is unavailable or the request took too long; nothing was accepted."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestTooLargeError,
    422: InvalidRequestError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def api_error(status: int, body: bytes, headers: Mapping[str, str]) -> ApiError:
    """The exception for an error answer; a body that is not a problem document still gives one."""
    problem: ProblemDocument | None = None
    try:
        problem = ProblemDocument.model_validate(json.loads(body))
    except ValueError:
        problem = None
    if problem is None:
        text = body.decode("utf-8", "replace").strip().splitlines()
        problem = ProblemDocument(
            type="about:blank", title=f"HTTP {status}", status=status, detail=text[0][:200] if text else None
        )
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return kind(problem, headers)


class ConnectionFailedError(KarloqError):
    """The service could not be reached (after the retries allowed)."""


class JobFailedError(KarloqError):
    """``run`` waited for a job that ended failed or canceled."""

    def __init__(self, job: Job) -> None:
        self.job = job
        why = f": {job.error.code}: {job.error.message}" if job.error else ""
        super().__init__(f"job {job.id} {job.status}{why}")


class WaitTimeoutError(KarloqError):
    """The job had not finished when the wait ran out; :attr:`job` is how it stood last."""

    def __init__(self, job: Job, seconds: float) -> None:
        self.job = job
        super().__init__(f"job {job.id} is still {job.status} after {seconds:g} s")


class BatchWaitTimeoutError(KarloqError):
    """Some of the batch's jobs had not finished when the wait ran out; :attr:`batch` is how it stood last."""

    def __init__(self, batch: Batch, seconds: float) -> None:
        self.batch = batch
        super().__init__(f"batch {batch.id} has {batch.finished} of {batch.total} jobs finished after {seconds:g} s")


class WebhookVerificationError(KarloqError):
    """A webhook request whose signature, timestamp or body cannot be trusted."""
