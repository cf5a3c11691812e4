"""The SDK's event streams and batches, and ``karloq jobs wait`` / ``karloq batch submit``, over the real wire."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from karloq import AsyncClient, Batch, Client, GenerateInput, InvalidRequestError
from karloq.cli import ExitCode
from support.stacks import AppStack

SMALL = GenerateInput(prompt="a paper boat", width=384, height=384)
KARLOQ = str(Path(sys.executable).with_name("karloq"))


def _client(stack: AppStack) -> Client:
    return Client(stack.api_url, stack.tenant.api_key)


def test_a_jobs_events_end_with_its_terminal_event_and_follow_returns_it(stack: AppStack) -> None:
    with _client(stack) as client:
        job = client.jobs.create(SMALL)
        seen = [event.event for event in client.jobs.events(job)]
        assert seen == ["job.queued", "job.started", "job.succeeded"]
        statuses: list[str] = []
        done = client.jobs.follow(
            client.jobs.create(SMALL), timeout=60, on_progress=lambda j: statuses.append(j.status)
        )
        assert done.status == "succeeded" and statuses[-1] == "succeeded"


def test_the_tenant_stream_resumes_after_the_last_event_seen(stack: AppStack) -> None:
    with _client(stack) as client:
        job = client.jobs.create(SMALL)
        first = next(iter(client.jobs.events(job)))  # job.queued, from the job's own stream
        rest = []
        for event in client.events.follow(kind="generate", last_event_id=first.id):
            if event.data.get("id") == job.id:
                rest.append(event.event)
            if event.data.get("id") == job.id and event.ends_job:
                break
        assert [first.event, *rest] == ["job.queued", "job.started", "job.succeeded"]


def test_a_batch_is_created_listed_and_waited_for(stack: AppStack) -> None:
    with _client(stack) as client:
        batch = client.batches.create([SMALL, SMALL, {"input": {"prompt": "a kite", "width": 384, "height": 384}}])
        assert isinstance(batch, Batch) and batch.total == 3
        done = client.batches.wait(batch, timeout=120)
        assert done.is_completed and done.counts["succeeded"] == 3
        assert {job.batch_id for job in client.jobs.list(batch=batch.id)} == {batch.id}
        with pytest.raises(InvalidRequestError) as refused:
            client.batches.create([SMALL, GenerateInput(prompt="x", width=5000, height=384)])
        assert [e.field for e in refused.value.errors] == ["jobs[1].input.width"]


def test_the_async_client_streams_and_batches_too(stack: AppStack) -> None:
    async def scenario() -> tuple[list[str], int]:
        async with AsyncClient(stack.api_url, stack.tenant.api_key) as client:
            job = await client.jobs.create(SMALL)
            names = [event.event async for event in client.jobs.events(job)]
            batch = await client.batches.create([SMALL])
            done = await client.batches.wait(batch, timeout=60)
            return names, done.counts["succeeded"]

    names, succeeded = asyncio.run(scenario())
    assert names == ["job.queued", "job.started", "job.succeeded"] and succeeded == 1


def test_the_cli_submits_a_json_lines_batch_and_waits_on_the_stream(stack: AppStack, tmp_path: Path) -> None:
    env = {"KARLOQ_API_URL": stack.api_url, "KARLOQ_API_KEY": stack.tenant.api_key, "PATH": "/usr/bin:/bin"}
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        "\n".join(json.dumps({"input": {"prompt": f"boat {i}", "width": 384, "height": 384}}) for i in range(3))
    )

    def karloq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KARLOQ, "--json", *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    submitted = karloq("batch", "submit", str(jobs), "--wait")
    assert submitted.returncode == ExitCode.OK, submitted.stderr
    batch = json.loads(submitted.stdout)
    assert batch["status"] == "completed" and batch["counts"]["succeeded"] == 3
    with _client(stack) as client:
        job = client.jobs.create(SMALL)
    waited = karloq("jobs", "wait", job.id)
    assert waited.returncode == ExitCode.OK, waited.stderr
    assert json.loads(waited.stdout)["job"]["status"] == "succeeded"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": {"prompt": "ok", "width": 384, "height": 384}}\n{"input": {"prompt": ""}}\n')
    refused = karloq("batch", "submit", str(bad))
    assert refused.returncode == ExitCode.REFUSED and "jobs[1]" in refused.stderr
