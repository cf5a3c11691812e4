"""The simulator's own quota, as Karlo counts it: generated images per rolling window, day and month."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel, Field


class QuotaSpec(BaseModel):
    """0 means unlimited. Day and month are counted from the simulator's start (it does not run for months)."""

    per_window: int = Field(default=0, ge=0)
    window_seconds: float = Field(default=60.0, gt=0)
    per_day: int = Field(default=0, ge=0)
    per_month: int = Field(default=0, ge=0)


@dataclass
class SimQuota:
    spec: QuotaSpec = field(default_factory=QuotaSpec)
    recent: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0
    refused: int = 0

    def allows(self, images: int, now: float | None = None) -> bool:
        """Karlo's check: would ``images`` more exceed any window? Counting happens in :meth:`charge`."""
        at = time.time() if now is None else now
        while self.recent and self.recent[0][0] <= at - self.spec.window_seconds:
            self.recent.popleft()
        in_window = sum(n for _, n in self.recent)
        over = (
            (self.spec.per_window and in_window + images > self.spec.per_window)
            or (self.spec.per_day and self.total + images > self.spec.per_day)
            or (self.spec.per_month and self.total + images > self.spec.per_month)
        )
        if over:
            self.refused += 1
        return not over

    def charge(self, images: int, now: float | None = None) -> None:
        self.recent.append((time.time() if now is None else now, images))
        self.total += images

    def reset(self, spec: QuotaSpec | None = None) -> None:
        self.spec = spec or self.spec
        self.recent.clear()
        self.total = 0
        self.refused = 0
