"""Production refuses to start with a secret anyone could guess: a default, an example, or a short one."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from karlo_core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
#: As ``secrets.token_urlsafe(32)`` makes one, but fixed: a part of it names a test case, and names stay the same.
STRONG = "kq6Y0pZr3vN8aTqL2mXw9dHc4bJf7sUe1gRi5oWy0zA"


def _example_values() -> list[str]:
    """The link-signing secrets this project prints anywhere: the k8s Secret template and the default."""
    (secret,) = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "secret.example.yaml").read_text())
    default = Settings.model_fields["link_signing_secret"].default.get_secret_value()
    return [secret["stringData"]["KARLOQ_LINK_SIGNING_SECRET"], default]


WEAK = [
    *_example_values(),
    "replace-me-replace-me-replace-me-replace-me",
    "changeme",
    "a" * 64,
    "abcdefabcdefabcdefabcdefabcdefabcdef",
    STRONG[:20],
    "my-production-secret-0123456789abcdefghij",
]


def _production(**values: str) -> Settings:
    strong = {"link_signing_secret": STRONG, "webhook_secret_key": secrets.token_urlsafe(32)}
    return Settings(env="production", kakao_rest_api_key="k", **{**strong, **values})  # type: ignore[arg-type]


@pytest.mark.parametrize("weak", WEAK)
def test_production_refuses_a_weak_link_signing_secret(weak: str) -> None:
    with pytest.raises(ValidationError, match="KARLOQ_LINK_SIGNING_SECRET is too weak") as caught:
        _production(link_signing_secret=weak)
    assert "input_value" not in str(caught.value)  # the values read are never printed


@pytest.mark.parametrize("weak", ["replace-me", Settings.model_fields["webhook_secret_key"].default.get_secret_value()])
def test_production_refuses_a_weak_webhook_secret_key(weak: str) -> None:
    with pytest.raises(ValidationError, match="KARLOQ_WEBHOOK_SECRET_KEY is too weak"):
        _production(webhook_secret_key=weak)


def test_production_refuses_the_defaults() -> None:
    with pytest.raises(ValidationError, match="KARLOQ_LINK_SIGNING_SECRET"):
        Settings(env="production", kakao_rest_api_key="k")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="KARLOQ_WEBHOOK_SECRET_KEY"):
        Settings(env="production", kakao_rest_api_key="k", link_signing_secret=STRONG)  # type: ignore[arg-type]


def test_a_random_secret_is_accepted_and_development_keeps_its_default() -> None:
    assert _production(link_signing_secret=STRONG).link_signing_secret.get_secret_value() == STRONG
    assert Settings(env="development").link_signing_secret.get_secret_value().startswith("dev-only")


@pytest.mark.parametrize("module", ["karlo_api", "karlo_worker"])
def test_the_processes_refuse_to_start_with_the_example_secret(module: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KARLOQ_", "KAKAO_"))},
        "KARLOQ_ENV": "production",
        "KAKAO_REST_API_KEY": "a-real-looking-key",
        "KARLOQ_LINK_SIGNING_SECRET": "replace-me",
        "KARLOQ_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    done = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "KARLOQ_LINK_SIGNING_SECRET is too weak for production" in done.stderr
    assert "a-real-looking-key" not in done.stderr + done.stdout
