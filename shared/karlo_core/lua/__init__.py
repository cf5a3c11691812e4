"""Redis Lua scripts, loaded by name. Each reads the time from Redis (``TIME``), never from callers.

A line ``--!include NAME`` is replaced by the script ``NAME.lua``, so shared functions (such as recording a
job's webhook event, or canceling a job at once) live once and run inside every script that needs them,
atomically. A library is included once per script however many scripts and libraries ask for it, so a
library may include the libraries it uses.
"""

from __future__ import annotations

from importlib.resources import files

INCLUDE = "--!include "


def load(name: str) -> str:
    return _expand(name, set())


def _expand(name: str, included: set[str]) -> str:
    included.add(name)
    text = files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")
    lines: list[str] = []
    for line in text.splitlines():
        if not line.startswith(INCLUDE):
            lines.append(line)
            continue
        library = line.removeprefix(INCLUDE).strip()
        if library not in included:
            lines.append(_expand(library, included))
    return "\n".join(lines)
