"""The worker's spool: images Karlo made, kept on local disk until the image store has them.

Once Karlo has answered, its images are paid for. They are written here (each file whole or not at all)
with a manifest written last, before the first upload; the job's directory goes once the job has settled.
A worker that dies while storage is down leaves the directory behind, and the next worker to claim the job
on this machine (the same process restarted, or another sharing the directory) stores those images instead
of asking Karlo again. The spool is bounded (``KARLOQ_WORKER_SPOOL_MAX_BYTES``): past the bound, images are
kept only in the worker's memory for its storage retries. Directories of finished or forgotten jobs and
part files of interrupted writes are cleaned by the sweeper.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from karlo_core.atomic_files import PART_PREFIX, write_atomically
from karlo_core.ids import is_job_id
from karlo_core.karlo import rules

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: A part file this old belongs to a write that was interrupted (its process died).
STALE_PART_SECONDS = 600.0


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    format: str
    width: int
    height: int
    seed: int | None
    nsfw_content_detected: bool | None
    nsfw_score: float | None


@dataclass(frozen=True)
class Generated:
    """What one Karlo call produced, and when (the storage retry deadline counts from then)."""

    images: list[GeneratedImage]
    upstream: dict[str, Any]
    generated_at: float


class Spool:
    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self._max_bytes = max_bytes

    def keep(self, job_id: str, generated: Generated) -> bool:
        """Write the images and their manifest; False (and nothing left) when over the bound or the disk fails."""
        size = sum(len(image.data) for image in generated.images)
        directory = self._directory(job_id)
        entries = []
        try:
            if self.used_bytes() + size > self._max_bytes:
                log.warning("spool full: images kept in memory only", extra={"job_id": job_id, "bytes": size})
                return False
            for index, image in enumerate(generated.images):
                name = f"{index}.{rules.FILE_EXTENSIONS[image.format]}"
                write_atomically(directory / name, image.data)
                entries.append({"file": name, **{k: v for k, v in asdict(image).items() if k != "data"}})
            manifest = {"generated_at": generated.generated_at, "upstream": generated.upstream, "images": entries}
            write_atomically(directory / MANIFEST, json.dumps(manifest).encode())
        except OSError as exc:
            log.warning("images not spooled", extra={"job_id": job_id, "error": exc.strerror})
            self.discard(job_id)
            return False
        return True

    def load(self, job_id: str) -> Generated | None:
        """The images a worker kept for this job, if a whole set is here."""
        directory = self._directory(job_id)
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
            images = [
                GeneratedImage(data=(directory / entry.pop("file")).read_bytes(), **entry)
                for entry in manifest["images"]
            ]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("unreadable spool entry dropped", extra={"job_id": job_id}, exc_info=True)
            self.discard(job_id)
            return None
        return Generated(images=images, upstream=manifest["upstream"], generated_at=float(manifest["generated_at"]))

    def discard(self, job_id: str) -> None:
        shutil.rmtree(self._directory(job_id), ignore_errors=True)

    def job_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [entry.name for entry in self.root.iterdir() if entry.is_dir() and is_job_id(entry.name)]

    def used_bytes(self) -> int:
        """The spool's size; other threads add and drop directories meanwhile, so vanished files count 0."""
        total = 0
        for directory, _, files in os.walk(self.root):
            for name in files:
                with contextlib.suppress(FileNotFoundError):
                    total += os.stat(os.path.join(directory, name)).st_size
        return total

    def remove_stale_parts(self, *, older_than: float = STALE_PART_SECONDS) -> int:
        removed = 0
        cutoff = time.time() - older_than
        for directory, _, files in os.walk(self.root):
            for name in files:
                part = Path(directory, name)
                with contextlib.suppress(FileNotFoundError):
                    if name.startswith(PART_PREFIX) and part.stat().st_mtime < cutoff:
                        part.unlink()
                        removed += 1
        return removed

    def _directory(self, job_id: str) -> Path:
        if not is_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / job_id
