"""Server-sent event streams over the real wire: an API and worker processes, a webhook receiver, Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from karlo_devstack.processes import wait_until
from support.api import submit, wait_until_terminal
from support.events import Listener, Sse, finished, of_job, parse_sse
from support.receiver import Receiver
from support.stacks import AppStack, Services, base_env
from support.webhooks import rotate_secret, verified, wait_for_deliveries

INPUT = {"prompt": "a paper boat", "width": 384, "height": 384}
STREAM_ENV = {
    "KARLOQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "KARLOQ_WEBHOOK_ALLOW_HTTP": "true",
    "KARLOQ_SWEEP_INTERVAL_SECONDS": "0.2",
    "KARLOQ_WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.2",
    "KARLOQ_EVENT_HEARTBEAT_SECONDS": "0.5",
    "KARLOQ_EVENT_STREAMS_PER_TENANT": "250",
}


@pytest.fixture(scope="module")
def receiver(services: Services) -> Iterator[Receiver]:
    started = Receiver(Path(services.workdir), name="events-receiver").start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[AppStack]:
    app_stack = AppStack(Path(services.workdir) / "events", base_env(services, "local", **STREAM_ENV))
    app_stack.start(workers=1)
    yield app_stack
    app_stack.stop()


def accepted(stack: AppStack, body: dict[str, Any] | None = None) -> str:
    response = submit(stack, body or {"input": INPUT})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def without_links(body: dict[str, Any]) -> dict[str, Any]:
    """A job body less its image links, which are signed afresh each time a body is rendered."""
    output = body.get("output")
    if not output:
        return body
    images = [{k: v for k, v in image.items() if k != "url"} for image in output["images"]]
    return {**body, "output": {"images": images}}


def test_a_stream_opened_before_submitting_sees_the_job_as_its_webhooks_do(stack: AppStack, receiver: Receiver) -> None:
    secret = rotate_secret(stack)
    listener = Listener(stack).start()
    job_id = accepted(stack, {"input": INPUT, "webhook": {"url": receiver.hook("/streams")}})
    listener.wait_for(finished({job_id}), what=f"job {job_id} to finish")
    listener.stop()

    seen = of_job(listener.events, job_id)
    assert [e.event for e in seen] == ["job.queued", "job.started", "job.succeeded"]
    assert [e.data["status"] for e in seen] == ["queued", "running", "succeeded"]
    assert all(e.id for e in seen) and len({e.id for e in seen}) == 3

    wait_for_deliveries(stack, job_id, count=2, statuses={"delivered"})
    hooks = {headers["karloq-event"]: body for headers, body in verified(receiver, secret, "/streams")}
    assert set(hooks) == {"job.started", "job.succeeded"}
    for event in seen[1:]:
        assert without_links(event.data) == without_links(hooks[event.event])
    image = seen[-1].data["output"]["images"][0]
    assert httpx.get(image["url"], timeout=10).status_code == 200


def test_a_job_stream_replays_the_job_and_ends_after_its_terminal_event(stack: AppStack) -> None:
    job_id = accepted(stack)
    wait_until_terminal(stack, job_id)
    listener = Listener(stack, f"/v1/jobs/{job_id}/events").start()
    listener.wait_ended()
    assert [e.event for e in listener.events] == ["job.queued", "job.started", "job.succeeded"]

    live = Listener(stack, f"/v1/jobs/{accepted(stack)}/events").start()
    live.wait_ended()
    assert [e.event for e in live.events][-1] == "job.succeeded"


def test_a_stream_cut_and_resumed_misses_nothing_and_repeats_nothing(stack: AppStack) -> None:
    first = Listener(stack).start()
    jobs = {accepted(stack) for _ in range(3)}
    first.wait_for(lambda events: len(events) >= 4, what="some events")
    first.stop()
    cut_after = first.events[-1].id
    assert cut_after is not None
    jobs |= {accepted(stack) for _ in range(3)}  # submitted while no stream is open
    for job_id in jobs:
        wait_until_terminal(stack, job_id)

    resumed = Listener(stack, last_event_id=cut_after).start()
    resumed.wait_for(lambda events: finished(jobs)(first.events + events), what="the rest")
    resumed.stop()

    everything = Listener(stack, last_event_id="0-0").start()
    everything.wait_for(finished(jobs), what="the whole history")
    everything.stop()
    ids = [e.id for e in first.events] + [e.id for e in resumed.events]
    assert ids == [e.id for e in everything.events]
    assert len(ids) == len(set(ids)) == 3 * len(jobs)


def test_a_resume_from_before_what_is_kept_starts_with_a_reset(stack: AppStack) -> None:
    old = accepted(stack)
    wait_until_terminal(stack, old)
    newer = accepted(stack)
    wait_until_terminal(stack, newer)
    with stack.redis() as client:
        client.xtrim(f"karloq:events:{stack.tenant.tenant_id}", maxlen=3, approximate=False)
    listener = Listener(stack, last_event_id="1-0").start()
    listener.wait_for(finished({newer}), what="the kept events")
    listener.stop()
    assert listener.events[0].event == "reset" and listener.events[0].id
    assert [e.event for e in listener.events[1:4]] == ["job.queued", "job.started", "job.succeeded"]

    gone = Listener(stack, f"/v1/jobs/{old}/events").start()
    gone.wait_ended()
    assert [(e.event, e.data["job"]["status"]) for e in gone.events] == [("reset", "succeeded")]


def test_filters_pick_events_by_name(stack: AppStack) -> None:
    listener = Listener(stack, params={"event": ["job.succeeded"]}).start()
    job_id = accepted(stack)
    listener.wait_for(finished({job_id}))
    listener.stop()
    assert {e.event for e in listener.events} == {"job.succeeded"}
    bad = httpx.get(f"{stack.api_url}/v1/events", params={"event": "job.nope"}, headers=stack.headers, timeout=10)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_another_tenants_stream_never_shows_the_job(stack: AppStack) -> None:
    other = stack.new_tenant("events-other")
    theirs = Listener(other).start()
    ours = Listener(stack).start()
    job_id = accepted(stack)
    ours.wait_for(finished({job_id}))
    marker = accepted(other)  # the other tenant's own job shows the other stream is live
    theirs.wait_for(finished({marker}))
    ours.stop()
    theirs.stop()
    assert job_id not in {e.data.get("id") for e in theirs.events}
    assert marker not in {e.data.get("id") for e in ours.events}
    response = httpx.get(f"{stack.api_url}/v1/jobs/{job_id}/events", headers=other.headers, timeout=10)
    assert response.status_code == 404
    assert httpx.get(f"{stack.api_url}/v1/events", timeout=10).status_code == 401


def test_two_hundred_streams_on_one_api_all_get_their_events_while_jobs_are_accepted(stack: AppStack) -> None:
    async def scenario() -> tuple[list[list[Sse]], set[str]]:
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60), limits=limits) as client:
            opened = asyncio.Event()
            ready: list[int] = []
            jobs: set[str] = set()
            all_submitted = asyncio.Event()

            async def follow() -> list[Sse]:
                got: list[Sse] = []
                async with client.stream("GET", f"{stack.api_url}/v1/events", headers=stack.headers) as response:
                    assert response.status_code == 200
                    ready.append(1)
                    if len(ready) == 200:
                        opened.set()

                    async def lines() -> Any:
                        async for line in response.aiter_lines():
                            yield line

                    buffer: list[str] = []
                    async for line in lines():
                        buffer.append(line)
                        if line == "":
                            got += [e for e in parse_sse(iter(buffer)) if e is not None]
                            buffer = []
                            if all_submitted.is_set() and finished(jobs)(got):
                                return got
                return got

            followers = [asyncio.create_task(follow()) for _ in range(200)]
            await asyncio.wait_for(opened.wait(), 60)
            for _ in range(5):
                response = await client.post(f"{stack.api_url}/v1/jobs", json={"input": INPUT}, headers=stack.headers)
                assert response.status_code == 202, response.text
                jobs.add(response.json()["id"])
            all_submitted.set()
            return list(await asyncio.wait_for(asyncio.gather(*followers), 120)), jobs

    streams, jobs = asyncio.run(scenario())
    assert len(streams) == 200
    for events in streams:
        assert finished(jobs)(events)
        assert len([e for e in events if e.data.get("id") in jobs]) == 3 * len(jobs)


def test_streams_beyond_the_tenant_limit_are_refused_with_429(services: Services) -> None:
    env = base_env(services, "local", KARLOQ_EVENT_STREAMS_PER_TENANT="2", KARLOQ_EVENT_HEARTBEAT_SECONDS="0.5")
    small = AppStack(Path(services.workdir) / "events-limit", env).start(workers=0)
    try:
        open_streams = [Listener(small).start(), Listener(small).start()]
        refused = httpx.get(f"{small.api_url}/v1/events", headers=small.headers, timeout=10)
        assert refused.status_code == 429 and refused.json()["type"] == "/problems/too-many-streams"
        assert refused.headers["Retry-After"]
        other = Listener(small.new_tenant("limit-other")).start()  # the limit is each tenant's own
        assert other.status_code == 200
        metrics = httpx.get(f"{small.api_url}/metrics", timeout=10).text
        assert "karlo_queue_event_streams_open 3.0" in metrics
        for listener in [*open_streams, other]:
            listener.stop()

        def opens() -> bool:
            listener = Listener(small).start()
            listener.stop()
            return listener.status_code == 200

        wait_until(opens, timeout=10, what="a stream slot to free up")
    finally:
        small.stop()
