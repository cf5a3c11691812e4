"""Redis Lua scripts, loaded by name. Each reads the time from Redis (``TIME``), never from callers.

A line ``--!include NAME`` is replaced by the script ``NAME.lua``, so shared functions (such as recording a
job's webhook event) live once and run inside every script that needs them, atomically.
"""

from __future__ import annotations

from importlib.resources import files

INCLUDE = "--!include "


def load(name: str) -> str:
    text = files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")
    lines = text.splitlines()
    return "\n".join(load(line.removeprefix(INCLUDE).strip()) if line.startswith(INCLUDE) else line for line in lines)
