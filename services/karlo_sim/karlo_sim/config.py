"""Simulator settings (prefix ``KARLO_SIM_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SIM_KEY = "local-simulator-key"


class SimSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KARLO_SIM_", env_ignore_empty=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8090
    api_key: str = DEFAULT_SIM_KEY
    latency_ms: int = Field(default=0, ge=0)
    public_base_url: str | None = None
    url_lifetime_seconds: int = Field(default=600, ge=1)
    # Karlo's own quota in images (0 = unlimited); the rolling window is 60 s unless told otherwise.
    quota_per_window: int = Field(default=0, ge=0)
    quota_window_seconds: float = Field(default=60.0, gt=0)
    quota_per_day: int = Field(default=0, ge=0)
    quota_per_month: int = Field(default=0, ge=0)
