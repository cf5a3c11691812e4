"""Scripted faults: the next N calls answer with a given error, hang, or are slow."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pydantic import BaseModel, Field


class FaultSpec(BaseModel):
    """One scripted answer. ``code`` set: Karlo's ``{code,msg}`` error; ``hang_ms`` set: sleep first
    (longer than the client's read timeout makes a timeout); ``http_status`` without ``code``: a bare
    status with a non-JSON body, like a failing proxy."""

    code: int | None = None
    http_status: int = 400
    msg: str = "injected fault"
    hang_ms: int = Field(default=0, ge=0)
    times: int = Field(default=1, ge=1)


@dataclass
class Fault:
    code: int | None
    http_status: int
    msg: str
    hang_ms: int


class FaultPlan:
    """A queue of faults consumed one per call, in order (the event loop serialises access)."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()

    def replace(self, specs: list[FaultSpec]) -> None:
        self._queue.clear()
        for spec in specs:
            fault = Fault(spec.code, spec.http_status, spec.msg, spec.hang_ms)
            self._queue.extend([fault] * spec.times)

    def next(self) -> Fault | None:
        return self._queue.popleft() if self._queue else None

    def __len__(self) -> int:
        return len(self._queue)
