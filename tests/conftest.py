"""Session fixtures: real servers (redis-server, the Karlo simulator, an S3 API server) on free ports."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from karlo_devstack.services import start_moto, start_redis, start_simulator
from support.stacks import BUCKET, IDENTITY_KEYS, SIM_KEY, Services, s3_client


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("karloq")


@pytest.fixture(scope="session")
def services(workdir: Path) -> Iterator[Services]:
    redis_proc, redis_url = start_redis(workdir, persist=False)
    sim_proc, sim_url = start_simulator(workdir, {"KARLO_SIM_API_KEY": SIM_KEY})
    moto_proc, s3_url = start_moto(workdir)
    s3 = s3_client(s3_url)
    s3.create_bucket(Bucket=BUCKET)
    try:
        yield Services(workdir=workdir, redis_url=redis_url, sim_url=sim_url, s3_url=s3_url)
    finally:
        for proc in (moto_proc, sim_proc, redis_proc):
            proc.stop()


@pytest.fixture(scope="session")
def open_karlo_models(workdir: Path) -> Path:
    """Tiny random-weight open Karlo pipelines (text2img/ and variations/), built once per session in a
    process of their own, so the model stack is imported only by the workers that load them."""
    directory = workdir / "open-karlo-models"
    subprocess.run([sys.executable, "-m", "karlo_devstack.unclip_models", str(directory)], check=True, timeout=300)
    return directory


@pytest.fixture(scope="session")
def open_karlo_upscaler(workdir: Path) -> Path:
    """A tiny random-weight x4 upscaler (a StableDiffusionUpscalePipeline directory), built the same way."""
    directory = workdir / "open-karlo-upscaler"
    subprocess.run([sys.executable, "-m", "karlo_devstack.upscaler_model", str(directory)], check=True, timeout=300)
    return directory


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> None:
    """Each test that uses the servers starts with no jobs and a reset simulator."""
    if "services" not in request.fixturenames:
        return
    services: Services = request.getfixturevalue("services")
    # Only our own keys, in every database test stacks use: kombu's routing tables must survive for the
    # workers already running, and so must the tenants and API keys issued when a stack started.
    for db in range(16):
        client = redis.Redis.from_url(services.redis_url.rsplit("/", 1)[0] + f"/{db}", decode_responses=True)
        for key in client.scan_iter("karloq:*", count=1000):
            if not key.startswith(IDENTITY_KEYS):
                client.delete(key)
        client.close()
    httpx.post(f"{services.sim_url}/_sim/reset", timeout=5).raise_for_status()
