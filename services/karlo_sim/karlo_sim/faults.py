"""Scripted faults: the next N calls answer with a given error, hang, or are slow; and random faults: a share
of all other calls fails with one of a few transient answers."""

from __future__ import annotations

import random
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


class RandomFaults(BaseModel):
    """A share of the calls not scripted otherwise fails, each with one of ``answers`` (transient ones by
    default: Karlo's platform timeout and a bare 502 from a proxy)."""

    ratio: float = Field(ge=0, le=1)
    answers: list[FaultSpec] = Field(
        default_factory=lambda: [FaultSpec(code=-603, http_status=400), FaultSpec(http_status=502)], min_length=1
    )


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
        self._random: RandomFaults | None = None
        self.random_faults_answered = 0

    def replace(self, specs: list[FaultSpec]) -> None:
        self._queue.clear()
        for spec in specs:
            fault = Fault(spec.code, spec.http_status, spec.msg, spec.hang_ms)
            self._queue.extend([fault] * spec.times)

    def set_random(self, spec: RandomFaults | None) -> None:
        self._random = spec if spec is not None and spec.ratio > 0 else None
        self.random_faults_answered = 0

    def next(self) -> Fault | None:
        if self._queue:
            return self._queue.popleft()
        if self._random is not None and random.random() < self._random.ratio:  # noqa: S311 - not security
            spec = random.choice(self._random.answers)  # noqa: S311
            self.random_faults_answered += 1
            return Fault(spec.code, spec.http_status, spec.msg, spec.hang_ms)
        return None

    def __len__(self) -> int:
        return len(self._queue)
