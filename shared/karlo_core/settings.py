"""One settings object for every process, read from the environment (prefix ``KARLOQ_``).

It is built once in each entry point and passed down; nothing reads ``os.environ`` elsewhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from karlo_core.karlo import rules
from karlo_core.secret_strength import HOW_TO_MAKE, weakness
from karlo_core.webhooks.schedule import parse_schedule

KAKAO_API_BASE_URL = "https://api.kakaobrain.com"
#: Secrets that guard other tenants' data: each must be strong (see secret_strength) when KARLOQ_ENV=production.
PRODUCTION_SECRETS = ("link_signing_secret", "webhook_secret_key")


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting must not print the values (secrets among them) it was read from.
    model_config = SettingsConfigDict(
        env_prefix="KARLOQ_", env_ignore_empty=True, extra="ignore", hide_input_in_errors=True
    )

    env: Literal["development", "production"] = "development"
    log_level: str = "INFO"

    # Redis holds the job store and, unless broker_url says otherwise, the Celery broker.
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str | None = None

    # Karlo upstream. Without a key, `make run` points this at the local simulator.
    kakao_rest_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KAKAO_REST_API_KEY", "KARLOQ_KAKAO_REST_API_KEY")
    )
    karlo_base_url: str = KAKAO_API_BASE_URL
    karlo_connect_timeout_seconds: float = 5.0
    karlo_read_timeout_seconds: float = 120.0
    karlo_download_timeout_seconds: float = 30.0

    # Storage: "s3://bucket/prefix" or "file:///absolute/dir" (the embedded default).
    storage_url: str = "file://./var/storage"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    image_url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)

    # API: where clients reach us (used in job URLs and local file links).
    public_base_url: str = "http://127.0.0.1:8000"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    link_signing_secret: SecretStr = SecretStr("dev-only-link-signing-secret")

    # Worker reliability.
    worker_concurrency: int = Field(default=8, ge=1, le=256)
    job_lease_seconds: float = Field(default=30.0, gt=0)
    sweep_interval_seconds: float = Field(default=1.0, gt=0)
    dispatch_grace_seconds: float = Field(default=900.0, gt=0)
    job_max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_seconds: float = Field(default=2.0, ge=0)
    retry_max_seconds: float = Field(default=60.0, ge=0)
    visibility_timeout_seconds: int = Field(default=3600, ge=60)
    #: Once Karlo has answered, a worker keeps retrying the image store this long (counted from Karlo's answer)
    #: before the job fails with storage_error; Karlo is never asked again because storage was down.
    storage_retry_deadline_seconds: float = Field(default=3600.0, gt=0)
    #: Where a worker keeps Karlo's images until the store has them (a directory on the worker's machine);
    #: a worker restarted on the same machine stores what its predecessor kept instead of asking Karlo again.
    worker_spool_dir: str = "/tmp/karloq-spool"  # noqa: S108 - one per container
    #: The spool's bound; past it, images are kept only in the worker's memory while it retries.
    worker_spool_max_bytes: int = Field(default=2 * 1024**3, ge=0)
    #: A run-job message a worker has held this long without its job being claimed died with that worker
    #: (a live one claims at once); its job is dispatched again. Bounds how long a queued job can go
    #: without a live message, whatever the visibility timeout.
    orphan_message_seconds: float = Field(default=5.0, gt=0)

    # Worker observability: a Prometheus exporter per worker process, and its liveness heartbeat.
    #: Port of the worker's exporter; 0 picks a free port (logged at start). -1 turns the exporter off.
    worker_metrics_port: int = Field(default=0, ge=-1, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    #: Every this many seconds the worker's consumer loop touches the heartbeat file and stamps Redis.
    worker_heartbeat_seconds: float = Field(default=10.0, gt=0)
    #: A heartbeat older than this is a dead (or hung) worker, for the probe and the live-workers gauge.
    worker_heartbeat_max_age_seconds: float = Field(default=60.0, gt=0)
    worker_heartbeat_file: str = "/tmp/karloq-worker-heartbeat"  # noqa: S108 - one per container

    # Input checks (job kinds that take images).
    allow_non_english_prompts: bool = False
    input_url_allow_networks: str = Field(
        default="", description="Comma-separated networks input-image URLs may reach besides public space"
    )
    input_url_allow_http: bool = False
    #: One overall deadline for fetching an input image: connecting, the headers and every byte of the body.
    input_fetch_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Input-image URLs one tenant may have being fetched at once, per API process; beyond, 429.
    input_fetches_per_tenant: int = Field(default=4, ge=1)
    #: Requests whose input images are decoded at once, per API process (each decodes at most 2048x2048).
    image_decode_concurrency: int = Field(default=2, ge=1)

    # Karlo's quotas, counted in generated images (see docs/karlo-api-notes.md for the figures' sources).
    quota_per_minute: int = Field(default=30, ge=1)
    quota_per_day: int = Field(default=3000, ge=1)
    quota_per_month: int = Field(default=600_000, ge=1)
    quota_minute_window_seconds: float = Field(default=60.0, gt=0)
    #: Added to the minute window so calls that reach Karlo a little late still fall in Karlo's window.
    quota_window_guard_seconds: float = Field(default=1.0, ge=0)
    quota_timezone: str = "Asia/Seoul"
    #: After a -10, reserve nothing for this long (then for the rest of the day after repeated -10s).
    quota_block_seconds: float = Field(default=60.0, gt=0)
    quota_test_clock: bool = False
    #: A share of the upstream quota for each tenant (0: no per-tenant limit in that window).
    tenant_quota_per_minute: int = Field(default=0, ge=0)
    tenant_quota_per_day: int = Field(default=0, ge=0)
    tenant_quota_per_month: int = Field(default=0, ge=0)

    # --- Fair scheduling (defaults of a tenant without a plan; ``admin set-plan`` sets one) ---
    #: A tenant's share of scarce capacity, relative to the other tenants with queued work.
    tenant_weight: float = Field(default=1.0, gt=0)
    #: The highest priority a tenant may give its jobs (high, normal or low).
    tenant_max_priority: str = Field(default="high", pattern="^(high|normal|low)$")
    #: A high job goes ahead of normal ones accepted up to this long before it.
    high_priority_offset_seconds: float = Field(default=3600.0, ge=0)
    #: A low job is passed only by normal ones accepted up to this long after it (its aging bound).
    low_priority_aging_seconds: float = Field(default=120.0, ge=0)
    #: Jobs one dispatch step hands out at most.
    dispatch_batch: int = Field(default=32, ge=1)
    #: Longest time between two dispatch steps of a worker's tick (it also wakes when quota frees up).
    dispatch_tick_seconds: float = Field(default=1.0, gt=0)
    #: Jobs a local backend (open Karlo) may have handed out at once; 0: one per ready worker of it.
    local_backend_slots: int = Field(default=0, ge=0)

    # --- API edge limits ---
    #: Request bodies over this many bytes are refused with 413 as they stream (inline images are <= 2 MB each).
    max_request_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    #: A request that takes longer is answered 503 request-timeout (a ``Prefer: wait`` adds its wait to this).
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    #: The longest ``Prefer: wait=N`` honoured on job creation.
    max_wait_seconds: int = Field(default=60, ge=0, le=300)
    #: An Idempotency-Key's claim lasts this long while its request runs (the job it makes is recorded for
    #: 24 h when made); if the API dies first, a retry with the key may run once it has passed.
    idempotency_lease_seconds: float = Field(default=60.0, gt=0)
    #: A job whose message is being sent (a new one by the API, a due one by the sweeper) is due again this soon
    #: unless the sender confirms the message went out (then KARLOQ_DISPATCH_GRACE_SECONDS, the last resort,
    #: applies): a sender that dies or loses Redis in between loses no job.
    dispatch_confirm_seconds: float = Field(default=10.0, gt=0)
    #: Jobs a tenant may have in progress (queued, waiting for quota or running); 0 for no cap.
    max_active_jobs_per_tenant: int = Field(default=1000, ge=0)

    # --- Retention ---
    #: Job records and their images (inputs and outputs) are deleted this long after the job was created,
    #: once it has finished.
    job_retention_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    retention_sweep_interval_seconds: float = Field(default=300.0, gt=0)

    # --- Webhooks ---
    #: Queues a worker consumes; a worker started with KARLOQ_WORKER_QUEUES=webhooks only delivers webhooks.
    worker_queues: str = "jobs,webhooks"
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)
    #: How often each worker moves due deliveries to the webhooks queue (the delay before a first attempt).
    webhook_dispatch_interval_seconds: float = Field(default=1.0, gt=0)
    #: An attempt not recorded this long after it was dispatched counts as lost (its worker died, its message
    #: vanished) and is dispatched again. Must be well over the timeout.
    webhook_dispatch_lease_seconds: float = Field(default=120.0, gt=0)
    #: Delays between attempts after the first (immediate) one; s/m/h/d units. Svix's schedule, about a day.
    webhook_retry_schedule: str = "5s,5m,30m,2h,5h,10h,10h"
    #: Each delay is spread by up to this fraction either way, so retries of many deliveries do not align.
    webhook_retry_jitter: float = Field(default=0.2, ge=0, le=1)
    #: A receiver's Retry-After is honoured up to this many seconds.
    webhook_retry_after_max_seconds: float = Field(default=3600.0, ge=0)
    #: Networks (CIDRs, comma-separated) receivers may be in besides public space, e.g. a trusted VPC.
    webhook_allow_networks: str = ""
    webhook_allow_http: bool = False
    #: After a rotation the previous secret keeps signing (next to the new one) this long.
    webhook_secret_grace_seconds: float = Field(default=86400.0, ge=0)
    #: Seals tenants' webhook signing secrets in Redis (AES-GCM under a key derived from it), so a Redis dump
    #: cannot sign webhooks. Every process needs the same value; changing it makes sealed secrets unreadable.
    webhook_secret_key: SecretStr = SecretStr("dev-only-webhook-secret-key")

    # --- Durability of an accepted job ---
    #: What a 202 waits for: "memory" (the job is in Redis; with appendfsync everysec a machine crash may lose
    #: up to ~1 s of accepted jobs), "aof" (Redis fsynced its AOF: WAITAOF, Redis 7.2+) or "replica"
    #: (KARLOQ_ACCEPT_DURABILITY_REPLICAS replicas have it: WAIT).
    accept_durability: Literal["memory", "aof", "replica"] = "memory"
    accept_durability_replicas: int = Field(default=1, ge=1)
    #: The longest wait; past it the job is still accepted, and a warning is logged.
    accept_durability_timeout_ms: int = Field(default=1000, ge=1)
    #: How long an API process may keep what it read of an API key (its tenant) and of a tenant's webhook
    #: default, so a request needs no Redis read for them: a revoked key stops working, and a changed default
    #: applies, within this many seconds (at once on the process that made the change). 0: never kept.
    auth_cache_seconds: float = Field(default=2.0, ge=0, le=60)

    # --- Generation backends ---
    #: Backends jobs may name (comma-separated): karlo (hosted Karlo, or the simulator), karlo-open (open Karlo
    #: on this service's own GPU workers).
    enabled_backends: str = "karlo"
    #: The backend of jobs that name none; must be enabled.
    default_backend: str = "karlo"
    #: Open Karlo text-to-image weights: a directory holding kakaobrain/karlo-v1-alpha, or that repository id,
    #: looked up in the local Hugging Face cache (HF_HOME) only: nothing is ever downloaded.
    open_karlo_model: str = "kakaobrain/karlo-v1-alpha"
    #: Open Karlo image-variation weights (kakaobrain/karlo-v1-alpha-image-variations), found the same way.
    open_karlo_variations_model: str = "kakaobrain/karlo-v1-alpha-image-variations"
    #: auto (CUDA when present, else CPU), cuda, cuda:N or cpu. float16 on CUDA, float32 on CPU.
    open_karlo_device: str = "auto"
    #: The size open Karlo's images come out at (256 with the published weights); other sizes are refused.
    open_karlo_image_size: int = Field(default=256, ge=8, le=2048)
    #: Weights of stabilityai/stable-diffusion-x4-upscaler (a directory, or that repository id in the local
    #: Hugging Face cache), which give open Karlo ``upscale`` with ``scale: 4``; empty: no upscale.
    open_karlo_upscaler_model: str = ""
    #: The upscaler's denoising steps per job (its own default is 75) and its guidance scale (9.0).
    open_karlo_upscale_steps: int = Field(default=75, ge=1, le=rules.STEPS_RANGE[1])
    open_karlo_upscale_guidance: float = Field(default=9.0, ge=rules.GUIDANCE_RANGE[0], le=rules.GUIDANCE_RANGE[1])

    @property
    def backend_names(self) -> list[str]:
        return [name.strip() for name in self.enabled_backends.split(",") if name.strip()]

    @model_validator(mode="after")
    def _backends_known(self) -> Settings:
        known = ("karlo", "karlo-open")
        unknown = [name for name in self.backend_names if name not in known]
        if unknown or not self.backend_names:
            names = ", ".join(known)
            raise ValueError(f"KARLOQ_ENABLED_BACKENDS must name some of {names}; got {self.enabled_backends!r}")
        if self.default_backend not in self.backend_names:
            raise ValueError(f"KARLOQ_DEFAULT_BACKEND {self.default_backend!r} is not in KARLOQ_ENABLED_BACKENDS")
        return self

    # --- Event streams and batches ---
    #: Events kept per tenant for streams to resume from (approximately: Redis trims whole nodes).
    event_stream_max_events: int = Field(default=10_000, ge=100)
    #: Events older than this are dropped from a tenant's stream; resuming from before them gets a reset.
    event_stream_max_age_seconds: int = Field(default=86_400, ge=60)
    #: Open event streams a tenant may hold on one API process; more are refused with 429.
    event_streams_per_tenant: int = Field(default=100, ge=1)
    #: An idle stream gets a comment line this often, so proxies do not close it.
    event_heartbeat_seconds: float = Field(default=15.0, gt=0)
    #: Jobs one POST /v1/batches may carry.
    max_batch_jobs: int = Field(default=1000, ge=1, le=1000)

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Settings:
        if self.webhook_dispatch_lease_seconds <= self.webhook_timeout_seconds + 1:
            raise ValueError("KARLOQ_WEBHOOK_DISPATCH_LEASE_SECONDS must exceed the webhook timeout by over a second")
        return self

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Settings:
        if self.env == "production":
            for name in PRODUCTION_SECRETS:
                secret: SecretStr = getattr(self, name)
                reason = weakness(secret.get_secret_value())
                if reason is not None:
                    raise ValueError(
                        f"KARLOQ_{name.upper()} is too weak for production: {reason}; make one with {HOW_TO_MAKE}"
                    )
            if self.kakao_rest_api_key is None and "karlo" in self.backend_names:
                raise ValueError("KAKAO_REST_API_KEY must be set in production")
        return self

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or self.redis_url
