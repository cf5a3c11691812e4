"""kombu's Redis transport, with one fix: a channel whose connection is gone fails as a connection error.

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

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

#: For Celery's ``broker_transport`` setting.
TRANSPORT = "karlo_core.broker:Transport"


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        transport = self.connection
        if transport is None or transport.client is None:
            raise redis.exceptions.ConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel
