"""Every Redis key karlo-queue uses, in one place, under the ``karloq:`` prefix."""

from __future__ import annotations

PREFIX = "karloq"


def job(job_id: str) -> str:
    """Hash: one job record (status, spec, output, error, timestamps, lease token)."""
    return f"{PREFIX}:job:{job_id}"


def job_deadlines() -> str:
    """Sorted set: active job id -> time by which a worker must have made progress on it."""
    return f"{PREFIX}:jobs:deadlines"


def quota_minute(scope: str) -> str:
    """Sorted set: the sliding minute log of a quota scope ("reservation:images" scored by time)."""
    return f"{PREFIX}:quota:{scope}:minute"


def quota_minute_total(scope: str) -> str:
    """Counter: images in a scope's minute log, kept beside it so checks need not sum the log."""
    return f"{PREFIX}:quota:{scope}:minute-total"


def quota_window(scope: str, window: str, label: str) -> str:
    """Counter: images reserved in one calendar day (label YYYYMMDD) or month (YYYYMM) of a scope."""
    return f"{PREFIX}:quota:{scope}:{window}:{label}"


def quota_reservation(reservation_id: str) -> str:
    """Hash: one reservation (state held/refunded, images, the keys it took from), for exactly-once refunds."""
    return f"{PREFIX}:quota:reservation:{reservation_id}"


def quota_blocked() -> str:
    """String: Unix time until which Karlo said its quota is spent (-10)."""
    return f"{PREFIX}:quota:blocked-until"


def quota_clock() -> str:
    """String: the test-only clock override read by the quota scripts when overrides are enabled."""
    return f"{PREFIX}:quota:test-clock"


def sched_queue(backend: str, tenant_id: str) -> str:
    """Sorted set: a tenant's jobs waiting for a backend, job id -> order score (accepted_at minus the
    priority's offset). Built by ``lua/sched_lib.lua`` too."""
    return f"{PREFIX}:sched:{backend}:q:{tenant_id}"


def sched_tenants(backend: str) -> str:
    """Sorted set: tenants with queued work for a backend -> virtual start tag (start-time fair queuing)."""
    return f"{PREFIX}:sched:{backend}:tenants"


def sched_finish(backend: str) -> str:
    """Hash: tenant -> its last finish tag, where it starts again once it has queued work after idling."""
    return f"{PREFIX}:sched:{backend}:finish"


def sched_clock(backend: str) -> str:
    """String: the virtual clock of a backend's scheduler (the tag of the last job handed out)."""
    return f"{PREFIX}:sched:{backend}:vclock"


def sched_images(backend: str) -> str:
    """Hash: tenant -> images of its jobs queued for a backend."""
    return f"{PREFIX}:sched:{backend}:images"


def sched_served(backend: str) -> str:
    """Hash: tenant -> images handed out to it by a backend's scheduler so far (shares, for metrics)."""
    return f"{PREFIX}:sched:{backend}:served"


def sched_head(backend: str) -> str:
    """Hash: the head job blocked for quota (job, since), which later jobs may pass only for a bounded time."""
    return f"{PREFIX}:sched:{backend}:head"


def sched_inflight(backend: str) -> str:
    """Set: jobs of a local backend handed out and not finished, counted against its slots."""
    return f"{PREFIX}:sched:{backend}:inflight"


def sched_pace(backend: str) -> str:
    """Hash: a backend's pace, exponentially weighted means of a succeeded job's run (seconds, claim to settle)
    and of its images, with the runs counted (runs) and when the last was noted (at). Built by
    ``lua/sched_pace.lua``."""
    return f"{PREFIX}:sched:{backend}:pace"


def plan(tenant_id: str) -> str:
    """Hash: a tenant's plan (weight, per_minute, per_day, per_month, max_active, max_priority); an absent
    field takes its default from settings."""
    return f"{PREFIX}:plan:{tenant_id}"


def tenant(tenant_id: str) -> str:
    """Hash: one tenant (name, created_at)."""
    return f"{PREFIX}:tenant:{tenant_id}"


def tenants() -> str:
    """Set: every tenant id."""
    return f"{PREFIX}:tenants"


def api_key(key_id: str) -> str:
    """Hash: one API key (tenant, sha256 of the whole key, revoked flag); the secret itself is never stored."""
    return f"{PREFIX}:api-key:{key_id}"


def tenant_api_keys(tenant_id: str) -> str:
    """Set: the key ids issued to a tenant."""
    return f"{PREFIX}:tenant:{tenant_id}:api-keys"


def idempotency(tenant_id: str, key: str) -> str:
    """String: one tenant's Idempotency-Key record: a short claim, then the job it made (kept 24 h)."""
    return f"{PREFIX}:idempotency:{tenant_id}:{key}"


def tenant_jobs(tenant_id: str) -> str:
    """Sorted set (all scores 0, so ordered by id, which is by creation time): every job of a tenant."""
    return f"{PREFIX}:tenant-jobs:{tenant_id}"


def tenant_active_jobs(tenant_id: str) -> str:
    """Sorted set: a tenant's jobs counted against its concurrent-job cap (pruned of finished ones)."""
    return f"{PREFIX}:tenant-active:{tenant_id}"


def retention_lock() -> str:
    """String with a TTL: held by the one worker running the retention purge this interval."""
    return f"{PREFIX}:retention:lock"


def worker_heartbeats() -> str:
    """Sorted set: worker id (host:pid) -> Unix time of its last heartbeat; a stale score is a dead worker."""
    return f"{PREFIX}:workers:heartbeats"


def backend_workers(backend: str) -> str:
    """Sorted set: workers that have a backend loaded and ready, scored by their last heartbeat."""
    return f"{PREFIX}:workers:backend:{backend}"


def job_deliveries(job_id: str) -> str:
    """Hash: a job's webhook deliveries, event sequence number -> delivery record JSON (the outbox)."""
    return f"{PREFIX}:job:{job_id}:deliveries"


def webhook_schedule() -> str:
    """Sorted set: pending deliveries ("job id:seq") scored by when their next attempt is due."""
    return f"{PREFIX}:webhooks:schedule"


def webhook_sending(job_id: str, seq: int) -> str:
    """String with a TTL: one attempt of this delivery is in flight, so duplicate messages do not send twice."""
    return f"{PREFIX}:webhooks:sending:{job_id}:{seq}"


def webhook_secrets(tenant_id: str) -> str:
    """Hash: a tenant's signing secrets (primary, and the previous one until its grace period ends)."""
    return f"{PREFIX}:webhooks:{tenant_id}:secrets"


def webhook_config(tenant_id: str) -> str:
    """Hash: a tenant's webhook settings (default_url; webhook_allow_networks, set by the operator)."""
    return f"{PREFIX}:webhooks:{tenant_id}:config"


def webhook_disabled(tenant_id: str) -> str:
    """Hash: endpoint URLs a receiver disabled with 410 Gone -> JSON {at, delivery_id}."""
    return f"{PREFIX}:webhooks:{tenant_id}:disabled"


def webhook_dead_letters(tenant_id: str) -> str:
    """Sorted set: a tenant's exhausted deliveries ("job id:seq") scored by when they were given up."""
    return f"{PREFIX}:webhooks:{tenant_id}:dead-letters"


def tenant_events(tenant_id: str) -> str:
    """Stream: a tenant's job and batch events (the job as at the event), bounded by length and age."""
    return f"{PREFIX}:events:{tenant_id}"


def events_live() -> str:
    """Stream: one short entry (tenant stream, entry id) per event, which API processes block on."""
    return f"{PREFIX}:events:live"


def batch(batch_id: str) -> str:
    """Hash: one batch (tenant, total, created_at, webhook_url, counts of finished jobs by status)."""
    return f"{PREFIX}:batch:{batch_id}"


def batch_jobs(batch_id: str) -> str:
    """List: a batch's job ids, in the order of the request."""
    return f"{PREFIX}:batch:{batch_id}:jobs"


def batch_finished(batch_id: str) -> str:
    """Set: a batch's finished job ids (the transition scripts name it as ``<batch key>:finished``)."""
    return f"{batch(batch_id)}:finished"


def durability_marker() -> str:
    """String (a counter): written just before waiting for the AOF fsync or replicas (see ``durability``)."""
    return f"{PREFIX}:durability-marker"
