"""What Redis ran for some calls: the commands outside scripts (``MONITOR``, where a script's own commands
show as ``lua``) and the ``evalsha`` calls (``INFO commandstats``), as the benchmarks count round trips."""

from __future__ import annotations

from collections.abc import Callable

import redis


def commands_and_scripts(client: redis.Redis, run: Callable[[], object]) -> tuple[int, int]:
    """(commands Redis ran outside scripts, ``evalsha`` calls) while ``run`` ran."""
    before = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    commands = 0
    with client.monitor() as monitor:  # type: ignore[no-untyped-call]
        run()
        marker = "bench-monitor-end"
        client.echo(marker)
        for command in monitor.listen():
            if marker in str(command.get("command", "")):
                break
            if command.get("client_type") != "lua":
                commands += 1
    after = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    return commands, after - before
