"""Per-tenant plans: a tenant's weight in fair scheduling, its image limits (a share of the upstream quota),
its cap on jobs in progress and the highest priority its jobs may take.

A plan is a Redis hash (``keys.plan``) read on every use, so a change takes effect at once; a field the plan
does not set takes its default from settings. The scripts that use a plan (accepting a job, a dispatch step)
read it themselves, with the same defaults passed in (``lua/plan_lib.lua``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import redis

from karlo_core import keys
from karlo_core.settings import Settings

#: Priorities, lowest first.
PRIORITIES = ("low", "normal", "high")
DEFAULT_PRIORITY = "normal"


@dataclass(frozen=True)
class Plan:
    weight: float
    #: Images per minute, day and month drawn from the upstream quota (0: no limit of its own).
    per_minute: int
    per_day: int
    per_month: int
    #: Jobs in progress (queued, waiting or running) at once (0: no cap).
    max_active: int
    max_priority: str
    #: Whether the tenant has a plan of its own (else every value is a default).
    custom: bool = False

    def allows(self, priority: str) -> bool:
        return PRIORITIES.index(priority) <= PRIORITIES.index(self.max_priority)


PLAN_FIELDS = tuple(f.name for f in fields(Plan) if f.name != "custom")


def default_plan(settings: Settings) -> Plan:
    return Plan(
        weight=settings.tenant_weight,
        per_minute=settings.tenant_quota_per_minute,
        per_day=settings.tenant_quota_per_day,
        per_month=settings.tenant_quota_per_month,
        max_active=settings.max_active_jobs_per_tenant,
        max_priority=settings.tenant_max_priority,
    )


def priority_offset(settings: Settings, priority: str) -> float:
    """Seconds taken off a job's acceptance time to order it: high jobs pass normal ones accepted within the
    offset before them; low ones are passed only by normal ones accepted within the aging bound after them."""
    if priority == "high":
        return settings.high_priority_offset_seconds
    if priority == "low":
        return -settings.low_priority_aging_seconds
    return 0.0


class Plans:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._redis = client
        self._defaults = default_plan(settings)

    def get(self, tenant: str) -> Plan:
        raw = {str(k): str(v) for k, v in self._redis.hgetall(keys.plan(tenant)).items()}
        return _plan(self._defaults, raw)

    def parse(self, raw: dict[str, str]) -> Plan:
        """A plan from its hash's fields as read elsewhere (a script's reply), the defaults for those unset."""
        return _plan(self._defaults, raw)

    def set(self, tenant: str, changes: dict[str, str]) -> Plan:
        """Set some fields (checked by building the plan first); an empty value clears the field."""
        raw = {str(k): str(v) for k, v in self._redis.hgetall(keys.plan(tenant)).items()}
        for name, value in changes.items():
            if name not in PLAN_FIELDS:
                raise ValueError(f"unknown plan field {name!r} (one of {', '.join(PLAN_FIELDS)})")
            if value == "":
                raw.pop(name, None)
            else:
                raw[name] = value
        plan = _plan(self._defaults, raw)
        with self._redis.pipeline() as pipe:
            pipe.delete(keys.plan(tenant))
            if raw:
                pipe.hset(keys.plan(tenant), mapping=raw)  # type: ignore[arg-type]
            pipe.execute()
        return plan


def _plan(defaults: Plan, raw: dict[str, str]) -> Plan:
    plan = Plan(
        weight=float(raw.get("weight", defaults.weight)),
        per_minute=int(raw.get("per_minute", defaults.per_minute)),
        per_day=int(raw.get("per_day", defaults.per_day)),
        per_month=int(raw.get("per_month", defaults.per_month)),
        max_active=int(raw.get("max_active", defaults.max_active)),
        max_priority=raw.get("max_priority", defaults.max_priority),
        custom=bool(raw),
    )
    if plan.weight <= 0 or min(plan.per_minute, plan.per_day, plan.per_month, plan.max_active) < 0:
        raise ValueError("weight must be above 0 and limits at least 0")
    if plan.max_priority not in PRIORITIES:
        raise ValueError(f"max_priority must be one of {', '.join(PRIORITIES)}")
    return plan
