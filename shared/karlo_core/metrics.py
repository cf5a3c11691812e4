"""Every Prometheus metric karlo-queue exports, in one place (prefix ``karlo_queue_``, base units).

Labels are bounded sets: kind, status, outcome, window, queue, event, error class, Karlo's code. Tenants are
never a label. The API serves these on ``/metrics``; each worker process on its own exporter port.
Gauges that describe shared state (queue depth, quota use, dead letters) are read from Redis at scrape time
by collectors, so every process reports the same truth rather than its own slice.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "karlo_queue"

#: Seconds, from a fast API answer to a Karlo call that takes minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: Seconds a job may spend queued or waiting for quota: up to a calendar month.
WAIT_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400, 31 * 86400)

# --- API -------------------------------------------------------------------------------------------
API_REQUESTS = Counter(
    f"{PREFIX}_api_requests_total", "HTTP requests answered by the API", ["route", "method", "status"]
)
API_REQUEST_SECONDS = Histogram(
    f"{PREFIX}_api_request_duration_seconds", "API request latency", ["route", "method"], buckets=LATENCY_BUCKETS
)

# --- Jobs ------------------------------------------------------------------------------------------
JOBS_ACCEPTED = Counter(f"{PREFIX}_jobs_accepted_total", "Jobs accepted by the API", ["kind"])
JOBS_FINISHED = Counter(f"{PREFIX}_jobs_finished_total", "Jobs that reached a terminal status", ["kind", "outcome"])
JOB_QUEUED_SECONDS = Histogram(
    f"{PREFIX}_job_queued_seconds", "Time from acceptance to first start", ["kind"], buckets=WAIT_BUCKETS
)
JOB_QUOTA_WAIT_SECONDS = Histogram(
    f"{PREFIX}_job_quota_wait_seconds", "Time a job spent waiting for quota", ["kind"], buckets=WAIT_BUCKETS
)
JOB_UPSTREAM_SECONDS = Histogram(
    f"{PREFIX}_job_upstream_seconds", "Duration of one Karlo call", ["kind"], buckets=LATENCY_BUCKETS
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
    "Karlo calls by outcome class and Karlo error code",
    ["endpoint", "outcome", "code"],
)
IMAGES_STORED = Counter(f"{PREFIX}_images_stored_total", "Images written to storage", ["format"])
IMAGE_BYTES_STORED = Counter(f"{PREFIX}_image_bytes_stored_total", "Bytes of images written to storage", ["format"])

# --- Quota (gauges filled from Redis at scrape time) ---------------------------------------------------
QUOTA_LIMIT = Gauge(f"{PREFIX}_quota_limit_images", "Configured quota per window", ["window"])
QUOTA_USED = Gauge(f"{PREFIX}_quota_used_images", "Images reserved in the current window", ["window"])
QUOTA_REMAINING = Gauge(f"{PREFIX}_quota_remaining_images", "Images left in the current window", ["window"])
QUOTA_RESERVATIONS = Counter(
    f"{PREFIX}_quota_reservations_total",
    "Quota reservation attempts",
    ["outcome"],  # granted|denied|refunded
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
