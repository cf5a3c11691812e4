"""Which filesystem a benchmark's working directory is on, named beside its figures.

Figures that make and remove files per job (the worker's spool, the local store) depend on it: on ext4 without a
journal, every new inode walks past the inodes freed lately on the machine (docs/benchmarks.md, "Where the system
time goes: the benchmark's filesystem"), so the same code measures very differently there and on tmpfs.
"""

from __future__ import annotations

import os
from pathlib import Path


def describe(path: Path) -> str:
    """The filesystem type of the mount holding ``path`` (``/proc/self/mounts``), and for ext4 whether it has a
    journal; "unknown" where the mounts cannot be read."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    target = os.path.realpath(path)
    best: tuple[str, str, str] | None = None
    for line in mounts:
        device, point, kind = line.split()[:3]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best[1])):
            best = (device, point, kind)
    if best is None:
        return "unknown"
    device, point, kind = best
    if kind == "ext4":
        journal = Path("/sys/fs/ext4") / Path(device).name / "journal_task"
        if journal.exists():
            kind += " without a journal" if journal.read_text().strip() == "<none>" else " with a journal"
    return f"{kind} ({point})"
