"""A dump of Redis holds no usable webhook signing secret, while deliveries stay signed with it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from support.api import submit, wait_until_terminal
from support.receiver import Receiver
from support.stacks import AppStack, Services, base_env
from support.webhooks import rotate_secret, verified, wait_for_deliveries

ENV = {
    "KARLOQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "KARLOQ_WEBHOOK_ALLOW_HTTP": "true",
    "KARLOQ_WEBHOOK_DISPATCH_INTERVAL_SECONDS": "0.2",
    "KARLOQ_WEBHOOK_SECRET_KEY": "a-key-only-the-processes-know-" + "x7Qp2Lm9" * 3,
}


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[AppStack]:
    app_stack = AppStack(Path(services.workdir) / "secrets-at-rest", base_env(services, "local", **ENV))
    app_stack.start(workers=1)
    yield app_stack
    app_stack.stop()


def dump(redis_url: str) -> list[bytes]:
    """Every key and every value in the database, whatever its type."""
    found: list[bytes] = []
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter("*", count=1000):
            found.append(key)
            kind = client.type(key)
            if kind == b"string":
                found.append(client.get(key) or b"")
            elif kind == b"hash":
                found += [part for pair in client.hgetall(key).items() for part in pair]
            elif kind == b"list":
                found += client.lrange(key, 0, -1)
            elif kind == b"set":
                found += list(client.smembers(key))
            elif kind == b"zset":
                found += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
            elif kind == b"stream":
                found += [part for _, fields in client.xrange(key) for pair in fields.items() for part in pair]
    return found


def test_a_redis_dump_holds_no_webhook_secret(stack: AppStack, receiver: Receiver) -> None:
    older = rotate_secret(stack)
    secret = rotate_secret(stack)  # the older one keeps signing during its grace period: both are kept
    response = submit(stack, {"input": {"prompt": "a lighthouse"}, "webhook": {"url": receiver.hook("/at-rest")}})
    assert response.status_code == 202, response.text
    job = wait_until_terminal(stack, response.json()["id"])
    wait_for_deliveries(stack, job["id"], count=2, statuses={"delivered"})
    assert len(verified(receiver, secret, "/at-rest")) == 2
    assert len(verified(receiver, older, "/at-rest")) == 2

    values = dump(stack.redis_url)
    assert len(values) > 20
    for whsec in (secret, older):
        body = whsec.removeprefix("whsec_")
        forms = [whsec.encode(), body.encode(), base64.b64decode(body), base64.b64decode(body).hex().encode()]
        assert not [v for v in values for form in forms if form in v]


@pytest.fixture(scope="module")
def receiver(services: Services) -> Iterator[Receiver]:
    started = Receiver(Path(services.workdir)).start()
    yield started
    started.stop()
