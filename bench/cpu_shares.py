"""Where a benchmark's CPU goes: the CPU time each of its processes spent over a block, and how many of the
machine's cores were busy meanwhile (``/proc``).

When every core is busy in both cases compared (the drain benchmark on a small machine: the simulator drawing,
the worker, redis-server), throughput follows the CPU all processes together spend per job, so the ratio of
those totals explains a throughput ratio, and says how much CPU a faster case would have to shed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: The name under which this process's own CPU time is reported.
THIS_PROCESS = "this process"


@dataclass(frozen=True)
class CpuShares:
    """CPU seconds by process over one block (this process's own under :data:`THIS_PROCESS`), and the machine's
    busy cores on average over it."""

    seconds_by_process: dict[str, float]
    busy_cores: float

    def total(self) -> float:
        return sum(self.seconds_by_process.values())


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far, user and system (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_jiffies() -> tuple[int, int]:
    """All CPU time and idle time (idle and waiting on I/O) of the machine so far, in clock ticks."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    return sum(values), values[3] + values[4]


@contextmanager
def watching(pids: Mapping[str, int], found: list[CpuShares]) -> Iterator[None]:
    """The CPU each named process and this one spent over the block, with the machine's busy cores, added to
    ``found`` when the block ends."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    own, machine = time.process_time(), _machine_jiffies()
    yield
    spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    spent[THIS_PROCESS] = time.process_time() - own
    total, idle = (now - then for now, then in zip(_machine_jiffies(), machine, strict=True))
    busy_share = 1 - idle / total if total else 0.0
    found.append(CpuShares(spent, busy_share * (os.cpu_count() or 1)))
