"""Inputs built to exhaust the API are refused cheaply: a pixel flood does not move its memory, and slow
image servers do not hold the threads every other request needs."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.api import Caller, Tenant, submit
from support.image_servers import image_servers
from support.images import animated, b64, image_bytes, pixel_flood_png
from support.stacks import AppStack, Services, base_env, job_state_keys

MIB = 1024 * 1024
FETCH_DEADLINE = 6.0


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[AppStack]:
    env = base_env(
        services,
        "local",
        KARLOQ_INPUT_URL_ALLOW_NETWORKS="127.0.0.0/8",
        KARLOQ_INPUT_URL_ALLOW_HTTP="true",
        KARLOQ_INPUT_FETCH_TIMEOUT_SECONDS=str(FETCH_DEADLINE),
    )
    app_stack = AppStack(Path(services.workdir) / "input-floods", env).start(workers=0)
    yield app_stack
    app_stack.stop()


def memory_kib(pid: int) -> dict[str, int]:
    """The process's resident set now (VmRSS) and at its peak so far (VmHWM), in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


def variation(**values: Any) -> dict[str, Any]:
    return {"kind": "variation", "input": values}


def at_once(calls: list[Any]) -> list[httpx.Response]:
    results: list[httpx.Response] = [None] * len(calls)  # type: ignore[list-item]

    def run(index: int) -> None:
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_pixel_flood_is_refused_from_its_header_with_memory_barely_moved(api: AppStack) -> None:
    assert api.api is not None
    flood = b64(pixel_flood_png(13000, 13000))
    # Warm up: a real image of the largest allowed size takes the decoding path once.
    assert submit(api, variation(image=b64(image_bytes(2048, 2048)))).status_code == 202
    before = memory_kib(api.api.pid)
    started = time.monotonic()
    answers = at_once([lambda: submit(api, variation(image=flood)) for _ in range(4)])
    seconds = time.monotonic() - started
    after = memory_kib(api.api.pid)
    for answer in answers:
        assert answer.status_code == 422, answer.text
        (issue,) = answer.json()["errors"]
        assert issue["field"] == "input.image"
        assert "13000x13000" in issue["message"]
    grown = (after["VmHWM"] - before["VmHWM"]) / 1024
    print(
        f"\n4 PNGs of 13000x13000 ({len(flood) * 3 // 4 // 1024} KB each) at once: 422 in {seconds:.2f} s; "
        f"API RSS {before['VmRSS'] / 1024:.0f} -> {after['VmRSS'] / 1024:.0f} MiB, peak grew {grown:.1f} MiB"
    )
    assert grown < 32


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_images_are_refused_from_their_header(api: AppStack, fmt: str) -> None:
    answer = submit(api, variation(image=b64(animated(fmt, frames=3))))
    assert answer.status_code == 422, answer.text
    assert "3 frames" in answer.json()["errors"][0]["message"]


def test_an_image_url_is_fetched_and_accepted(api: AppStack) -> None:
    with image_servers(image_bytes(64, 64)) as server:
        answer = submit(api, variation(image_url=server.urls[0]))
    assert answer.status_code == 202, answer.text
    assert answer.json()["input"]["image"]["width"] == 64


def healthz_seconds(caller: Caller) -> float:
    started = time.monotonic()
    assert httpx.get(f"{caller.api_url}/healthz", timeout=30).status_code == 200
    return time.monotonic() - started


def test_slow_image_servers_do_not_stall_the_api(api: AppStack) -> None:
    tenants = [api.new_tenant(f"slow-{i}") for i in range(15)]
    with image_servers(image_bytes(64, 64), count=45, interval=3.0) as servers:
        callers: list[Tenant] = [tenants[i % len(tenants)] for i in range(45)]
        started = time.monotonic()
        box: list[list[httpx.Response]] = []
        calls = [lambda c=c, u=u: submit(c, variation(image_url=u)) for c, u in zip(callers, servers.urls, strict=True)]
        flood = threading.Thread(target=lambda: box.append(at_once(calls)))
        flood.start()
        time.sleep(1.0)  # every fetch is under way
        latencies = []
        while flood.is_alive():
            latencies.append(healthz_seconds(api))
            time.sleep(0.2)
        flood.join()
        seconds = time.monotonic() - started
    answers = box[0]
    assert [a.status_code for a in answers] == [422] * 45, [a.text for a in answers if a.status_code != 422]
    assert all(f"within {FETCH_DEADLINE:g} seconds" in a.json()["errors"][0]["message"] for a in answers)
    print(
        f"\n45 image URLs at one byte every 3 s: /healthz answered {len(latencies)} times meanwhile, median "
        f"{statistics.median(latencies) * 1000:.1f} ms, worst {max(latencies) * 1000:.1f} ms; "
        f"all 422 after {seconds:.1f} s"
    )
    # Unguarded, the flood held /healthz until the fetches ended (~24 s): one or two answers in all. Guarded,
    # /healthz keeps answering while all 45 fetches wait on their servers: several answers, every one before
    # any fetch could give up (the fetch deadline), whatever the machine's load makes of the milliseconds.
    assert len(latencies) >= 10
    assert max(latencies) < FETCH_DEADLINE
    with api.redis() as client:
        assert job_state_keys(client) == []


def test_a_tenant_has_a_bounded_number_of_fetches_in_flight(api: AppStack) -> None:
    tenant = api.new_tenant("greedy")
    with image_servers(image_bytes(64, 64), count=6, interval=1.0) as servers:
        answers = at_once([lambda u=u: submit(tenant, variation(image_url=u)) for u in servers.urls])
    codes = sorted(a.status_code for a in answers)
    assert codes == [422] * 4 + [429] * 2, [a.text for a in answers]
    refused = [a for a in answers if a.status_code == 429]
    assert all(a.json()["type"] == "/problems/too-many-input-fetches" for a in refused)
    assert all("Retry-After" in a.headers for a in refused)
