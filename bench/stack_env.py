"""The environment of the API and worker processes a benchmark starts on one machine: its own Redis, the
simulator as Karlo, a local store, no cap on active jobs, and an upstream quota the benchmark sets (large, so
that quota never paces a throughput figure)."""

from __future__ import annotations

from pathlib import Path

from karlo_sim.config import DEFAULT_SIM_KEY


def local_stack_env(workdir: Path, redis_url: str, sim_url: str, *, quota: int) -> dict[str, str]:
    return {
        "KARLOQ_REDIS_URL": redis_url,
        "KAKAO_REST_API_KEY": DEFAULT_SIM_KEY,
        "KARLOQ_KARLO_BASE_URL": sim_url,
        "KARLOQ_STORAGE_URL": f"file://{workdir / 'storage'}",
        "KARLOQ_MAX_ACTIVE_JOBS_PER_TENANT": "0",
        "KARLOQ_QUOTA_PER_MINUTE": str(quota),
        "KARLOQ_QUOTA_PER_DAY": str(quota),
        "KARLOQ_QUOTA_PER_MONTH": str(quota),
    }
