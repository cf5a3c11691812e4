"""Entries of a tenant's event stream, as the job transition scripts write them (``lua/job_events.lua``).

Each entry is one event: its name, the job (id, kind, batch) and, for job events, a snapshot of the job as it
was at the event (the same snapshot its webhook delivery renders); for ``batch.completed``, the batch record;
for ``job.progress`` (stream only: a local backend's denoising steps), the job's progress.
Entry ids (``<ms>-<seq>``) are the events' ids: they only grow, so a reader resumes after the last one it saw.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from karlo_core.batches import Batch, batch_from_hash
from karlo_core.jobs import Job, JobProgress
from karlo_core.jobstore import job_from_hash

#: Events that end a job: a stream of one job closes after one of them.
TERMINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.canceled"})
#: Every event a stream can carry.
STREAM_EVENTS = (
    "job.queued",
    "job.started",
    "job.waiting_for_quota",
    "job.progress",
    "job.succeeded",
    "job.failed",
    "job.canceled",
    "batch.completed",
)
ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


@dataclass(frozen=True)
class StreamEvent:
    id: str
    event: str
    job_id: str
    kind: str
    batch_id: str | None
    at: float
    job: Job | None
    batch: Batch | None
    progress: JobProgress | None = None

    @property
    def ends_job(self) -> bool:
        return self.event in TERMINAL_EVENTS


def parse_entry(entry_id: str, fields: dict[str, str]) -> StreamEvent:
    job = job_from_hash(json.loads(fields["job_snapshot"])) if fields.get("job_snapshot") else None
    batch = batch_from_hash(json.loads(fields["batch_snapshot"])) if fields.get("batch_snapshot") else None
    progress = JobProgress(**json.loads(fields["progress"])) if fields.get("progress") else None
    return StreamEvent(
        id=entry_id,
        event=fields["event"],
        job_id=fields["job"],
        kind=fields["kind"],
        batch_id=fields.get("batch") or None,
        at=float(fields["at"]),
        job=job,
        batch=batch,
        progress=progress,
    )


def entry_order(entry_id: str) -> tuple[int, int]:
    """A key that sorts entry ids as Redis does."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def previous_id(entry_id: str) -> str:
    """The greatest id below ``entry_id``: reading "after" it starts at ``entry_id`` itself."""
    ms, seq = entry_order(entry_id)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{2**64 - 1}" if ms > 0 else "0-0"


def id_at(epoch_seconds: float) -> str:
    """The first possible id of an entry added at ``epoch_seconds``."""
    return f"{max(int(epoch_seconds * 1000), 0)}-0"
