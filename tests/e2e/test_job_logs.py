"""A job's worker log lines: each carries the job id and tenant (and Karlo's request id once known), none a
secret or image data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from karlo_devstack.services import sim_control
from support.api import submit, wait_until_terminal
from support.stacks import SIM_KEY, AppStack, Services, base_env

BODY = {"input": {"prompt": "a quiet harbour", "width": 384, "height": 384, "samples": 2}}
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{120,}")


def json_lines(path: Path) -> list[dict[str, Any]]:
    entries = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def test_worker_logs_of_a_job_carry_its_context_and_no_secrets(services: Services) -> None:
    stack = AppStack(services.workdir / "job-logs", base_env(services, "s3")).start(workers=1)
    try:
        ok = wait_until_terminal(stack, submit(stack, BODY).json()["id"])
        sim_control(services.sim_url, faults=[{"code": -2, "http_status": 400, "msg": "bad parameter", "times": 1}])
        bad = wait_until_terminal(stack, submit(stack, BODY).json()["id"])
        assert (ok["status"], bad["status"]) == ("succeeded", "failed")
        assert "X-Amz-Signature=" in ok["output"]["images"][0]["url"]
    finally:
        stack.stop()

    worker_log = stack.workers[0].log_path
    entries = json_lines(worker_log)
    for job in (ok, bad):
        pipeline = [e for e in entries if e["logger"].startswith("karlo_worker") and e.get("job_id") == job["id"]]
        assert {e["msg"] for e in pipeline} >= {"job started"}
        assert all(e["tenant"] == stack.tenant.tenant_id and e["kind"] == "generate" for e in pipeline), pipeline
    succeeded = next(e for e in entries if e["msg"] == "job succeeded" and e["job_id"] == ok["id"])
    assert succeeded["karlo_request_id"] == ok["upstream"]["request_id"]
    failed = next(e for e in entries if e["msg"] == "job failed" and e["job_id"] == bad["id"])
    assert failed["upstream_code"] == -2

    text = worker_log.read_text() + stack.api.log_path.read_text()  # type: ignore[union-attr]
    assert SIM_KEY not in text
    assert stack.tenant.api_key not in text
    assert "KakaoAK" not in text
    assert "X-Amz-Signature" not in text
    assert "testing" not in text  # the S3 secret key
    assert BASE64_RUN.search(text) is None
