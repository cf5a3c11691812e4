"""``make run`` tells the truth: links that work on any port, an admin CLI that reaches its Redis, and a
restart that keeps the previous run's jobs, keys and quota counters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from karlo_devstack.processes import free_port
from support.api import Tenant, submit, wait_until_terminal
from support.devstack import REPO, RunningStack, clean_env, devstack_command
from support.receiver import Receiver
from support.webhooks import rotate_secret, verified, wait_for_deliveries


def admin(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "karlo_api.admin", "--env-file", str(workdir / "stack.env"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=clean_env(), cwd=REPO, check=False)


def test_make_run_twice_on_one_directory(tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    port = free_port()
    env = clean_env(KARLOQ_API_PORT=str(port))
    receiver = Receiver(tmp_path).start()
    first = RunningStack(devstack_command(workdir), env=env, log_path=tmp_path / "first.log")
    try:
        assert "first run on" in first.banner
        assert first.exports["KARLOQ_API_URL"] == f"http://127.0.0.1:{port}"
        created = admin(workdir, "create-tenant", "acme")
        assert created.returncode == 0, created.stderr
        tenant_id = created.stdout.strip()
        issued = admin(workdir, "issue-key", tenant_id, "--export")
        assert issued.returncode == 0, issued.stderr
        key = issued.stdout.strip().removeprefix("export KARLOQ_API_KEY=")
        acme = Tenant(first.exports["KARLOQ_API_URL"], tenant_id, key)
        secret = rotate_secret(acme)
        body = {"input": {"prompt": "a lighthouse at dusk"}, "webhook": {"url": receiver.hook("/run")}}
        response = submit(acme, body)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert wait_until_terminal(acme, job_id)["status"] == "succeeded"
        wait_for_deliveries(acme, job_id, count=2, statuses={"delivered"})
        [succeeded] = [job for headers, job in verified(receiver, secret, "/run") if job["status"] == "succeeded"]
        link = succeeded["output"]["images"][0]["url"]
        assert link.startswith(f"http://127.0.0.1:{port}/"), link  # the workers know where the API is
        assert httpx.get(link, timeout=10).status_code == 200
    finally:
        first.stop()
        receiver.stop()

    second = RunningStack(devstack_command(workdir), env=env, log_path=tmp_path / "second.log")
    try:
        assert "restarted on" in second.banner and "kept 1 jobs" in second.banner, second.banner
        assert second.exports == first.exports  # the dev tenant's key still works
        job = httpx.get(f"{acme.api_url}/v1/jobs/{job_id}", headers=acme.headers, timeout=10)
        assert job.status_code == 200 and job.json()["status"] == "succeeded"
        quota = httpx.get(f"{acme.api_url}/v1/quota", headers=acme.headers, timeout=10).json()
        day = next(w for w in quota["scopes"][0]["windows"] if w["window"] == "day")
        assert day["used"] == 1
    finally:
        second.stop()


def test_the_admin_cli_refuses_a_redis_without_our_data(tmp_path: Path) -> None:
    from karlo_devstack.services import start_redis

    proc, url = start_redis(tmp_path, persist=False)
    try:
        (tmp_path / "stack.env").write_text(f"KARLOQ_REDIS_URL={url}\n")
        refused = admin(tmp_path, "create-tenant", "acme")
        assert refused.returncode == 2
        assert "holds no karlo-queue data" in refused.stderr and "--allow-empty-redis" in refused.stderr
        assert admin(tmp_path, "list").stdout == ""
        allowed = admin(tmp_path, "create-tenant", "acme", "--allow-empty-redis")
        assert allowed.returncode == 0, allowed.stderr
        assert admin(tmp_path, "create-tenant", "second").returncode == 0  # now it holds our data
    finally:
        proc.stop()
