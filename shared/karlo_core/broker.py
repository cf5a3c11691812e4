"""The broker as kombu's Redis transport keeps it: the transport itself, with one fix, and the messages that
workers hold unacknowledged.

Two changes to kombu's channel: one Redis client object for the channel's own short commands, and a channel
whose connection is gone fails as a connection error.

kombu makes a new ``redis.Redis`` object (its constructor copies the command table) for every short command
a channel sends outside its ``BRPOP`` connection: each delivered message's entry in the unacknowledged index,
each acknowledgement. Here the channel keeps one, bound to its connection pool (thread-safe: each command
takes a connection from the pool), and makes a new one only when the pool changed (after a reconnect).

When the broker dies while a worker holds unacknowledged messages, the consumer closes its connection: kombu
closes the connection's channels one after the other, and the first one's restore of unacknowledged messages
fails (Redis is down), which stops the loop, so later channels (the remote-control mailbox, say) stay open.
The connection then forgets its transport's client. Anything that next touches such a channel (closing it
when the consumer restarts, a periodic restore) asks for a new Redis pool, and kombu reads the host from that
forgotten client: ``AttributeError: 'NoneType' object has no attribute 'hostname'``. That is no connection
error, so Celery cannot recover from it and the worker exits. Here the same situation raises
:class:`redis.exceptions.ConnectionError`, which Celery answers by reconnecting.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

#: For Celery's ``broker_transport`` setting.
TRANSPORT = "karlo_core.broker:Transport"


class Channel(kombu_redis.Channel):
    _short_client: redis.Redis | None = None

    @contextmanager
    def conn_or_acquire(self, client: redis.Redis | None = None) -> Iterator[redis.Redis]:
        if client:
            yield client
            return
        pool = self.pool
        short = self._short_client
        if short is None or short.connection_pool is not pool:
            short = self._short_client = self._create_client()  # type: ignore[attr-defined]
        yield short

    def _connparams(self, asynchronous: bool = False) -> Any:
        transport = self.connection
        if transport is None or transport.client is None:
            raise redis.exceptions.ConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel


#: kombu's Redis transport keeps each delivered, unacknowledged message in this hash (tag -> JSON
#: ``[message, exchange, routing_key]``) and its delivery time in this sorted set, until it is acknowledged.
UNACKED_HASH: str = kombu_redis.Channel.unacked_key
UNACKED_INDEX: str = kombu_redis.Channel.unacked_index_key


@dataclass(frozen=True)
class HeldMessage:
    """A message some worker took from its queue and has not acknowledged yet."""

    tag: str
    task: str
    kwargs: dict[str, Any]
    delivered_at: float


def held_messages(client: redis.Redis, *, delivered_before: float, limit: int) -> list[HeldMessage]:
    """Unacknowledged Celery messages delivered before ``delivered_before`` (a Unix time), oldest first.

    ``client`` is a client of the broker's Redis that decodes responses.
    """
    entries = client.zrangebyscore(UNACKED_INDEX, "-inf", delivered_before, start=0, num=limit, withscores=True)
    if not entries:
        return []
    tags = [str(entry[0]) for entry in entries]
    raws = client.hmget(UNACKED_HASH, tags)
    held = []
    for tag, entry, raw in zip(tags, entries, raws, strict=True):
        message = _celery_message(str(raw)) if raw is not None else None  # None: acknowledged meanwhile
        if message is not None:
            task, kwargs = message
            held.append(HeldMessage(tag, task, kwargs, float(entry[1])))
    return held


#: Celery puts a message's keyword arguments, as Python's repr, in its headers: the job id is readable there
#: without decoding the body.
_JOB_ID_ARGUMENT = re.compile(r"'job_id': '([0-9a-z]{26})'")


def jobs_with_messages(client: redis.Redis, queue: str) -> set[str]:
    """Ids of the jobs that have a message waiting in ``queue`` or held unacknowledged by some worker, read
    in one transaction so that no message moving from one to the other is missed."""
    return jobs_with_messages_near(client, queue, oldest=None).ids


@dataclass(frozen=True)
class MessageJobs:
    """Jobs with a message waiting or held; ``whole``: the whole queue was read (else only its oldest end)."""

    ids: set[str]
    whole: bool


def jobs_with_messages_near(client: redis.Redis, queue: str, *, oldest: int | None) -> MessageJobs:
    """:func:`jobs_with_messages`, reading only the ``oldest`` messages waiting in ``queue`` (the next to be
    taken: kombu pushes at the head and takes from the tail) besides all held ones; None reads them all. One
    transaction, so a message moving from the queue to a worker is seen in one place or the other."""
    with client.pipeline(transaction=True) as pipe:
        pipe.llen(queue)
        pipe.lrange(queue, 0 if oldest is None else -oldest, -1)
        pipe.hvals(UNACKED_HASH)
        length, waiting, held = pipe.execute()
    ids = {match.group(1) for raw in [*waiting, *held] for match in _JOB_ID_ARGUMENT.finditer(str(raw))}
    return MessageJobs(ids, whole=oldest is None or int(length) <= oldest)


def forget_held(client: redis.Redis, tag: str) -> None:
    """Drop a held message that is no longer needed, so kombu never restores it (its holder's ack is a no-op)."""
    with client.pipeline(transaction=True) as pipe:
        pipe.zrem(UNACKED_INDEX, tag)
        pipe.hdel(UNACKED_HASH, tag)
        pipe.execute()


def _celery_message(raw: str) -> tuple[str, dict[str, Any]] | None:
    """The task name and keyword arguments of a Celery (protocol 2, JSON) message; None for anything else."""
    try:
        message = json.loads(raw)[0]
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        _, kwargs, _ = json.loads(body)
        return str(message["headers"]["task"]), dict(kwargs)
    except (ValueError, TypeError, KeyError, IndexError):
        return None
