"""Accepting a checked job (or a batch of them): admit it under the tenant's plan (its cap on jobs in progress,
its highest priority, its quota share's day and month), store its input images, record it in its tenant's
scheduler queue and run one dispatch step, which hands Celery whatever can run now in fair order (one script for
a single job, ``karlo_core.job_accept``; one transaction then one dispatch step for a batch).

Whatever fails on the way is undone, so a refused request leaves no job, index entry or input image behind.
Refusals are the core's errors (TooManyActiveJobs, StorageError, KeyTaken); the API answers each with the problem
``problems.CORE_ERROR_PROBLEMS`` gives it; a priority above the plan's is a 422 (for a single job the accept
script reads the plan and refuses it, so accepting stays one round trip). The Celery queue being unreachable
refuses nothing: the job is recorded in its tenant queue (the store is the truth, Celery only a transport), and is
sent once the queue is back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from karlo_api.deps import ApiState
from karlo_api.job_requests import ParsedJob
from karlo_api.problems import Problem, invalid_input
from karlo_api.ratelimit import limited, refuse_if_spent
from karlo_api.webhook_targets import pick_target, require_secret, webhook_target
from karlo_core.backends.catalogue import KARLO
from karlo_core.batches import Batch
from karlo_core.errors import KarloQueueError, TooManyActiveJobs
from karlo_core.idempotency import Claimed
from karlo_core.ids import new_job_id
from karlo_core.job_accept import AbovePlanPriority, AcceptCall, QuotaSpent
from karlo_core.jobs import Job, JobStatus, StoredInput
from karlo_core.karlo import rules
from karlo_core.metrics import JOBS_ACCEPTED, series
from karlo_core.plans import Plan, priority_offset
from karlo_core.quota.buckets import WindowUsage
from karlo_core.scheduler import DispatchStep, dispatch_and_send, send_handed
from karlo_core.storage import input_key, job_prefix
from karlo_core.webhooks.events import WebhookOption, events_field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcceptedJob:
    job: Job
    #: Each quota scope's windows as the job was accepted (the upstream account, then the tenant's share).
    usages: list[list[WindowUsage]]
    #: The dispatch step in the accept script handed this job out: it has no place in its tenant queue.
    handed_out: bool


async def accept_job(state: ApiState, tenant: str, parsed: ParsedJob, claimed: Claimed | None = None) -> AcceptedJob:
    """Check the job against its tenant's plan, record it in its tenant's queue and run one dispatch step in
    one Redis round trip (``karlo_core.job_accept``); with ``claimed``, its Idempotency-Key names it from
    creation on. A priority above the plan's is a 422; a tenant share's day or month that cannot fit the job a
    429, on a hosted-Karlo job only, since a local backend's capacity is its GPUs."""
    default = await state.tenant_cache.webhook_default(tenant)
    webhook = pick_target(tenant, parsed.webhook, default)
    job_id = new_job_id()
    if parsed.images:
        job = await run_in_threadpool(_new_job, state, tenant, job_id, parsed, webhook)
    else:
        job = _new_job(state, tenant, job_id, parsed, webhook)
    call = AcceptCall(
        job=job,
        images=job.images_wanted,
        check_share=parsed.backend == KARLO,
        offset=priority_offset(state.settings, parsed.priority),
        idempotency=claimed,
    )
    try:
        outcome = await state.acceptor.accept(call)
        if isinstance(outcome, AbovePlanPriority):
            raise invalid_input([_priority_issue("priority", parsed.priority, outcome.max_priority)])
        if isinstance(outcome, QuotaSpent):
            refuse_if_spent(limited(outcome.usages[-1]), job.images_wanted, outcome.usages, state.minute_seconds)
            raise RuntimeError("the accept script refused a job the quota rules let through")
    except (KarloQueueError, Problem):
        # refused before anything was written: nothing names the inputs. (After an error whose outcome is
        # unknown, such as a lost reply, they stay: the job may exist.)
        if job.inputs:
            await run_in_threadpool(state.storage.delete_prefix, job_prefix(job.id))
        raise
    if state.durability.mode != "memory":
        await run_in_threadpool(state.durability.wait)  # KARLOQ_ACCEPT_DURABILITY: what the 202 promises
    series(JOBS_ACCEPTED, job.kind.value).inc()
    log.info("job accepted", extra={"job_id": job.id, "kind": job.kind.value, "tenant": tenant})
    step = outcome.step
    if step.handed and not step.pushed:  # another broker: the messages go from here (or from the sweeper)
        await run_in_threadpool(_send_handed, state, step)
    else:
        _send_handed(state, step)  # nothing to send: counts the jobs' time to start
    return AcceptedJob(job, outcome.usages, any(h.job_id == job.id for h in step.handed))


def accept_batch(
    state: ApiState,
    tenant: str,
    items: list[ParsedJob],
    webhook: WebhookOption | None,
    claimed: Claimed | None = None,
) -> Batch:
    """Accept every job of a batch or none, in a bounded number of Redis round trips whatever its size.

    The jobs go into the tenant's scheduler queues in the same transaction; one dispatch step follows.
    """
    plan = state.plans.get(tenant)
    _check_priorities(plan, items, "jobs[{index}].priority")
    default = webhook_target(state, tenant, webhook)
    targets = [(p.webhook.url, events_field(p.webhook.events)) if p.webhook else default for p in items]
    if any(url for url, _ in targets):
        require_secret(state, tenant)
    batch = Batch(id=new_job_id(), tenant=tenant, total=len(items), created_at=time.time(), webhook_url=default[0])
    job_ids = [new_job_id() for _ in items]
    _admit(state, tenant, job_ids, plan)
    try:
        jobs = [
            _new_job(state, tenant, job_id, parsed, target, batch.id)
            for job_id, parsed, target in zip(job_ids, items, targets, strict=True)
        ]
        state.batches.create(
            batch,
            jobs,
            dispatch_grace=0.0,
            events=state.event_retention,
            keep_seconds=state.settings.job_retention_seconds,
            idempotency=claimed,
            schedule_offsets=[priority_offset(state.settings, p.priority) for p in items],
        )
    except BaseException:
        state.batches.withdraw(batch.id, job_ids)
        state.tenant_jobs.forget(tenant, job_ids)
        raise
    state.durability.wait()  # KARLOQ_ACCEPT_DURABILITY: what the 202 promises, for the whole batch at once
    for job in jobs:
        series(JOBS_ACCEPTED, job.kind.value).inc()
    log.info("batch accepted", extra={"batch_id": batch.id, "jobs": batch.total, "tenant": tenant})
    dispatch_now(state, {p.backend for p in items})
    return batch


def dispatch_now(state: ApiState, backends: set[str]) -> None:
    """One dispatch step for these backends. A job it hands out whose message cannot be sent (the queue
    unreachable) keeps its dispatch deadline, and the sweeper sends it once the queue is back; a step that
    fails leaves the jobs in their queues to the workers' tick. Either way the accepted job is safe."""
    try:
        grace = state.settings.dispatch_grace_seconds
        dispatch_and_send(state.scheduler, state.store, state.celery, sorted(backends), grace=grace)
    except Exception:
        log.warning("dispatch after accept failed; the workers' tick dispatches", exc_info=True)


def _send_handed(state: ApiState, step: DispatchStep) -> None:
    send_handed([step], state.store, state.celery, grace=state.settings.dispatch_grace_seconds)


def _check_priorities(plan: Plan, items: list[ParsedJob], field: str) -> None:
    issues = [
        _priority_issue(field.format(index=index), item.priority, plan.max_priority)
        for index, item in enumerate(items)
        if not plan.allows(item.priority)
    ]
    if issues:
        raise invalid_input(issues)


def _priority_issue(field: str, priority: str, max_priority: str) -> dict[str, str]:
    """The 422 issue of a priority above the plan's highest (the accept script refuses it as the batch check
    does)."""
    return {
        "field": field,
        "rule": "plan_max_priority",
        "message": f"{priority} is above this tenant's plan, which allows at most {max_priority}",
    }


def _admit(state: ApiState, tenant: str, job_ids: list[str], plan: Plan) -> None:
    cap = plan.max_active
    if not state.tenant_jobs.admit_all(tenant, job_ids, cap=cap):
        raise TooManyActiveJobs(cap)


def _new_job(
    state: ApiState,
    tenant: str,
    job_id: str,
    parsed: ParsedJob,
    webhook: tuple[str | None, str],
    batch_id: str | None = None,
) -> Job:
    """The job record of a checked request, once its input images are in storage."""
    return Job(
        id=job_id,
        kind=parsed.kind,
        status=JobStatus.QUEUED,
        params=parsed.params,
        inputs=_store_inputs(state, job_id, parsed),
        canvas=parsed.canvas,
        created_at=time.time(),
        tenant=tenant,
        notices=parsed.notices,
        webhook_url=webhook[0],
        webhook_events=webhook[1],
        backend=parsed.backend,
        batch_id=batch_id,
        priority=parsed.priority,
    )


def _store_inputs(state: ApiState, job_id: str, parsed: ParsedJob) -> dict[str, StoredInput]:
    """Input images go to storage before the job exists; the record keeps their keys."""
    stored: dict[str, StoredInput] = {}
    for name, image in parsed.images.items():
        info = image.info
        key = input_key(job_id, name, info.format)
        state.storage.put(key, image.data, rules.CONTENT_TYPES[info.format])
        stored[name] = StoredInput(key, info.format, info.width, info.height, len(image.data))
    return stored
