"""Each core error answers with one problem, from one table."""

from __future__ import annotations

import inspect

import pytest

from karlo_api.problems import CORE_ERROR_PROBLEMS, problem_for
from karlo_core import errors
from karlo_core.errors import (
    BlockedDestination,
    JobNotFound,
    KarloQueueError,
    QueueUnavailable,
    StorageError,
    TooManyActiveJobs,
    TooManyInputFetches,
    UpstreamRejected,
    WebhookSecretMissing,
)
from karlo_core.jobstore import KeyTaken


def test_every_error_of_the_tree_answers_with_a_problem() -> None:
    tree = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, KarloQueueError)]
    for cls in tree:
        assert any(base in CORE_ERROR_PROBLEMS for base in cls.__mro__), cls


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (JobNotFound("job_x"), 404, "job-not-found"),
        (TooManyActiveJobs(3), 429, "too-many-active-jobs"),
        (TooManyInputFetches(2), 429, "too-many-input-fetches"),
        (StorageError("down"), 503, "storage-unavailable"),
        (QueueUnavailable("down"), 503, "queue-unavailable"),
        (BlockedDestination("private"), 422, "validation-error"),
        (UpstreamRejected("bad"), 502, "upstream-error"),
        (WebhookSecretMissing("t1"), 409, "webhook-secret-missing"),
        (KeyTaken("job_x"), 409, "idempotency-key-in-flight"),
        (KarloQueueError("?"), 500, "internal-error"),
    ],
)
def test_each_error_has_its_answer(error: KarloQueueError, status: int, slug: str) -> None:
    problem = problem_for(error)
    assert (problem.status, problem.slug) == (status, slug)


def test_answers_say_what_the_client_needs() -> None:
    assert problem_for(JobNotFound("job_x")).detail == "no job with id 'job_x'"
    busy = problem_for(TooManyActiveJobs(3))
    assert busy.headers == {"Retry-After": "10"} and busy.detail is not None and "at most 3 jobs" in busy.detail
    assert problem_for(StorageError("down")).headers == {"Retry-After": "5"}
