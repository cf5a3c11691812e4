"""Redis Lua scripts, loaded by name. Each reads the time from Redis (``TIME``), never from callers."""

from __future__ import annotations

from importlib.resources import files


def load(name: str) -> str:
    return files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")
