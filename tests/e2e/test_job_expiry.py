"""Retention over the wire: a finished job's record and images disappear once it is older than the period."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from support.api import submit, wait_until_terminal
from support.stacks import BUCKET, AppStack, Services, base_env, s3_client


def test_a_finished_job_expires_with_its_images(services: Services) -> None:
    env = base_env(services, "s3", KARLOQ_JOB_RETENTION_SECONDS="3", KARLOQ_RETENTION_SWEEP_INTERVAL_SECONDS="0.5")
    stack = AppStack(Path(services.workdir) / "retention", env).start(workers=1)
    try:
        job = wait_until_terminal(stack, submit(stack, {"input": {"prompt": "fleeting", "samples": 2}}).json()["id"])
        assert job["status"] == "succeeded"
        s3 = s3_client(services.s3_url)
        prefix = f"images/jobs/{job['id']}/"
        assert s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["KeyCount"] == 2
        deadline = time.monotonic() + 30
        while True:
            response = httpx.get(f"{stack.api_url}/v1/jobs/{job['id']}", headers=stack.headers, timeout=10)
            if response.status_code == 404 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert response.status_code == 404
        assert s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["KeyCount"] == 0
        listed = httpx.get(f"{stack.api_url}/v1/jobs", headers=stack.headers, timeout=10).json()
        assert listed["data"] == []
    finally:
        stack.stop()
