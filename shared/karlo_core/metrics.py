"""Every Prometheus metric karlo-queue exports, in one place (prefix ``karlo_queue_``, base units).

Labels are bounded sets: kind, status, outcome, window, queue, state, endpoint, event, Karlo's code, priority.
Tenants are a label only on the scheduler's gauges, and bounded there: the :data:`TOP_TENANTS` with the most queued
images by name, every other tenant summed as ``other``. The API serves these on ``/metrics``; each worker process
on its own exporter port.

Two sorts live here. Instruments (counters, histograms) count what one process did, so Prometheus sums them
across processes. Gauges that describe shared state (queue depth, jobs by status, quota use, live workers) are
listed in :data:`STATE_GAUGES` and filled from Redis at scrape time by
:class:`karlo_core.state_metrics.RedisStateCollector`, so every process reports the same truth; dashboards and
alerts read them with ``max``, not ``sum``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

PREFIX = "karlo_queue"

_Metric = TypeVar("_Metric", bound=MetricWrapperBase)
#: Each (metric, label values)'s series, as ``labels`` made it.
_SERIES: dict[tuple[MetricWrapperBase, tuple[str, ...]], MetricWrapperBase] = {}


def series(metric: _Metric, *values: str) -> _Metric:
    """``metric.labels(*values)``, kept once made: ``labels`` takes a lock and builds its key on every call, which
    a per-request count pays for. The same series ``labels`` keeps, made on first use as it makes them, so a
    label value never met is still not exposed."""
    key = (metric, values)
    found = _SERIES.get(key)
    if found is None:
        found = _SERIES[key] = metric.labels(*values)
    return found  # type: ignore[return-value]


#: Seconds, from a fast API answer to a Karlo call that takes minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: Seconds a job may spend queued or waiting for quota: up to a calendar month.
WAIT_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400, 31 * 86400)

# --- API -------------------------------------------------------------------------------------------
API_REQUESTS = Counter(
    f"{PREFIX}_api_requests_total",
    "HTTP requests answered by the API, by route template",
    ["route", "method", "status"],
)
API_REQUEST_SECONDS = Histogram(
    f"{PREFIX}_api_request_duration_seconds", "API request latency", ["route", "method"], buckets=LATENCY_BUCKETS
)

# --- Jobs ------------------------------------------------------------------------------------------
JOBS_ACCEPTED = Counter(f"{PREFIX}_jobs_accepted_total", "Jobs accepted by the API", ["kind"])
JOBS_FINISHED = Counter(
    f"{PREFIX}_jobs_finished_total",
    "Jobs that reached a terminal status (outcome: succeeded|failed|canceled)",
    ["kind", "outcome"],
)
JOB_QUEUED_SECONDS = Histogram(
    f"{PREFIX}_job_queued_seconds", "Time from acceptance to first start", ["kind"], buckets=WAIT_BUCKETS
)
JOB_QUOTA_WAIT_SECONDS = Histogram(
    f"{PREFIX}_job_quota_wait_seconds",
    "Time a job spent waiting for quota, observed when quota is granted",
    ["kind"],
    buckets=WAIT_BUCKETS,
)
JOB_UPSTREAM_SECONDS = Histogram(
    f"{PREFIX}_job_upstream_seconds", "Duration of one Karlo call", ["kind"], buckets=LATENCY_BUCKETS
)
#: Capacity of a backend: how long each image takes (a call's duration over its images), per backend.
BACKEND_IMAGE_SECONDS = Histogram(
    f"{PREFIX}_backend_image_seconds",
    "Generation time per image (one call's duration over its images), by backend: karlo or karlo-open",
    ["backend"],
    buckets=LATENCY_BUCKETS,
)
JOB_END_TO_END_SECONDS = Histogram(
    f"{PREFIX}_job_end_to_end_seconds",
    "Time from acceptance to a terminal status",
    ["kind", "outcome"],
    buckets=WAIT_BUCKETS,
)

# --- Upstream and storage --------------------------------------------------------------------------
UPSTREAM_CALLS = Counter(
    f"{PREFIX}_upstream_calls_total",
    "Karlo calls by endpoint, outcome class (ok|rejected|auth|quota|unavailable) and Karlo error code",
    ["endpoint", "outcome", "code"],
)
IMAGES_STORED = Counter(f"{PREFIX}_images_stored_total", "Images written to storage", ["format"])
IMAGE_BYTES_STORED = Counter(f"{PREFIX}_image_bytes_stored_total", "Bytes of images written to storage", ["format"])

# --- Quota -----------------------------------------------------------------------------------------
QUOTA_RESERVATIONS = Counter(
    f"{PREFIX}_quota_reservations_total",
    "Quota reservations: granted (a worker calls Karlo on one), denied (a dispatch step left a job waiting for"
    " quota), refunded",
    ["outcome"],
)

# --- Webhooks --------------------------------------------------------------------------------------
WEBHOOK_ATTEMPTS = Counter(
    f"{PREFIX}_webhook_attempts_total",
    "Webhook delivery attempts",
    ["event", "outcome"],  # delivered|retry|gone|...
)
WEBHOOK_DELIVERY_LAG_SECONDS = Histogram(
    f"{PREFIX}_webhook_delivery_lag_seconds", "Time from event to successful delivery", ["event"], buckets=WAIT_BUCKETS
)
WEBHOOK_DEAD_LETTERS = Counter(f"{PREFIX}_webhook_dead_letters_total", "Deliveries given up", ["event"])

# --- Event streams and batches (API) -----------------------------------------------------------------
EVENT_STREAMS_OPEN = Gauge(f"{PREFIX}_event_streams_open", "Server-sent event streams open in this API process")
EVENTS_SENT = Counter(f"{PREFIX}_events_sent_total", "Events written to server-sent event streams", ["event"])
BATCHES = Counter(f"{PREFIX}_batches_total", "Batch requests by outcome (accepted, invalid, refused)", ["outcome"])
JOB_TIME_TO_START_SECONDS = Histogram(
    f"{PREFIX}_job_time_to_start_seconds",
    "Seconds a job waited in its tenant's scheduler queue before it was handed out, by priority",
    ["priority"],
    buckets=WAIT_BUCKETS,
)

#: Tenants named in the scheduler's gauges (the most queued images); the rest are summed as "other".
TOP_TENANTS = 10

INSTRUMENTS: tuple[Counter | Gauge | Histogram, ...] = (
    API_REQUESTS,
    API_REQUEST_SECONDS,
    JOBS_ACCEPTED,
    JOBS_FINISHED,
    JOB_QUEUED_SECONDS,
    JOB_QUOTA_WAIT_SECONDS,
    JOB_UPSTREAM_SECONDS,
    BACKEND_IMAGE_SECONDS,
    JOB_END_TO_END_SECONDS,
    UPSTREAM_CALLS,
    IMAGES_STORED,
    IMAGE_BYTES_STORED,
    QUOTA_RESERVATIONS,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_DELIVERY_LAG_SECONDS,
    WEBHOOK_DEAD_LETTERS,
    EVENT_STREAMS_OPEN,
    EVENTS_SENT,
    BATCHES,
    JOB_TIME_TO_START_SECONDS,
)


# --- Shared state, read from Redis at scrape time ---------------------------------------------------
@dataclass(frozen=True)
class GaugeSpec:
    name: str
    help: str
    labels: tuple[str, ...] = ()


QUEUE_DEPTH = GaugeSpec(
    f"{PREFIX}_queue_depth",
    "Work in a queue: waiting messages plus reserved and running ones (unacknowledged); what an autoscaler reads",
    ("queue",),
)
QUEUE_MESSAGES = GaugeSpec(
    f"{PREFIX}_queue_messages", "Broker messages of a queue by state (waiting|unacked)", ("queue", "state")
)
JOBS_ACTIVE = GaugeSpec(
    f"{PREFIX}_jobs_active", "Jobs not yet finished, by status (queued|waiting_for_quota|running)", ("status",)
)
QUOTA_LIMIT = GaugeSpec(f"{PREFIX}_quota_limit_images", "Karlo quota per window, in images", ("window",))
QUOTA_USED = GaugeSpec(f"{PREFIX}_quota_used_images", "Images reserved in the current window", ("window",))
QUOTA_REMAINING = GaugeSpec(f"{PREFIX}_quota_remaining_images", "Images left in the current window", ("window",))
QUOTA_RESETS_IN = GaugeSpec(
    f"{PREFIX}_quota_resets_in_seconds", "Seconds until the window frees quota again", ("window",)
)
QUOTA_BLOCKED = GaugeSpec(f"{PREFIX}_quota_upstream_blocked", "1 while Karlo has said its quota is spent (-10)")
WORKERS_LIVE = GaugeSpec(f"{PREFIX}_workers_live", "Worker processes whose heartbeat is fresh")
SCHED_QUEUED_IMAGES = GaugeSpec(
    f"{PREFIX}_sched_queued_images",
    "Images of jobs waiting in tenant queues (top tenants, then other)",
    ("backend", "tenant"),
)
SCHED_DISPATCHED_IMAGES = GaugeSpec(
    f"{PREFIX}_sched_dispatched_images",
    "Images handed out per tenant since the scheduler's state began (only grows: rate() is the share received)",
    ("backend", "tenant"),
)
SCHED_ENTITLED_SHARE = GaugeSpec(
    f"{PREFIX}_sched_entitled_share",
    "A tenant's entitled share of scarce capacity now: its weight over the weights of tenants with queued work",
    ("backend", "tenant"),
)
STATE_UP = GaugeSpec(f"{PREFIX}_state_up", "1 when the scrape-time read of Redis succeeded")

STATE_GAUGES: tuple[GaugeSpec, ...] = (
    QUEUE_DEPTH,
    QUEUE_MESSAGES,
    JOBS_ACTIVE,
    QUOTA_LIMIT,
    QUOTA_USED,
    QUOTA_REMAINING,
    QUOTA_RESETS_IN,
    QUOTA_BLOCKED,
    WORKERS_LIVE,
    SCHED_QUEUED_IMAGES,
    SCHED_DISPATCHED_IMAGES,
    SCHED_ENTITLED_SHARE,
    STATE_UP,
)


def observe_job_finished(kind: str, outcome: str, *, created_at: float) -> None:
    """Count a job that reached a terminal status, in whichever process ended it (worker, or API on cancel)."""
    JOBS_FINISHED.labels(kind, outcome).inc()
    JOB_END_TO_END_SECONDS.labels(kind, outcome).observe(max(time.time() - created_at, 0.0))


_SUFFIXES = {"gauge": ("",), "counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}


def series_names() -> frozenset[str]:
    """Every series name the catalogue can produce (``_bucket``, ``_total``... included)."""
    names = {spec.name for spec in STATE_GAUGES}
    for instrument in INSTRUMENTS:
        for family in instrument.describe():
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return frozenset(names)
