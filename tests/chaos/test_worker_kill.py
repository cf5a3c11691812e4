"""A worker killed with SIGKILL in the middle of a job does not lose it: another worker finishes it."""

from __future__ import annotations

from karlo_core import keys
from karlo_devstack.services import sim_control
from support.api import submit, wait_for_status, wait_until_terminal
from support.stacks import AppStack, Services, base_env, job_state_keys, sim_stats


def test_job_survives_a_sigkilled_worker(services: Services) -> None:
    env = base_env(services, "local", KARLOQ_JOB_LEASE_SECONDS="2", KARLOQ_SWEEP_INTERVAL_SECONDS="0.3")
    stack = AppStack(services.workdir / "worker-kill", env).start(workers=1)
    try:
        sim_control(services.sim_url, latency_ms=3000)
        job_id = submit(stack, {"input": {"prompt": "survive", "width": 384, "height": 384}}).json()["id"]
        wait_for_status(stack, job_id, {"running"}, timeout=30)
        # Killed while Karlo is still answering its call (3 s), before a new worker is started: starting one
        # takes seconds on a loaded machine, time in which the doomed worker could finish the job.
        stack.workers[0].kill()
        stack.add_worker()

        job = wait_until_terminal(stack, job_id, timeout=60)
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 2
        assert len(job["output"]["images"]) == 1
        assert sim_stats(services.sim_url)["calls"] == {"t2i": 2}
    finally:
        stack.stop()


def test_accepting_a_job_when_the_queue_is_down_keeps_it_safe_for_when_the_queue_is_back(services: Services) -> None:
    """The job store, not Celery, is the truth: the job is accepted into its tenant queue and handed out with a
    dispatch deadline, whose sweep sends its message once the queue answers again."""
    env = base_env(services, "local", KARLOQ_BROKER_URL="redis://127.0.0.1:1/0")
    stack = AppStack(services.workdir / "broker-down", env).start(workers=0)
    try:
        response = submit(stack, {"input": {"prompt": "lost?", "width": 384, "height": 384}})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        with stack.redis() as client:
            assert client.hget(keys.job(job_id), "status") == "queued"
            assert client.zscore(keys.job_deadlines(), job_id) is not None
            assert [k for k in job_state_keys(client) if k.startswith(keys.job(""))] == [keys.job(job_id)]
    finally:
        stack.stop()
