"""The worker's spool: images a backend made, kept on local disk until the image store has them.

Once Karlo has answered, its images are paid for. Each is written here as it is taken (fetched from Karlo's
link, or decoded from the answer), whole or not at all, before the next is taken, so a worker's memory holds
one piece of one image per job whatever the size and number of images; the upload to the image store reads
the file back in pieces too. A manifest is written once the whole set is here; the job's directory goes once
the job has settled. A worker that dies while storage is down leaves the directory behind, and the next worker
to claim the job on this machine (the same process restarted, or another sharing the directory) stores those
images instead of asking Karlo again. The spool is bounded (``KARLOQ_WORKER_SPOOL_MAX_BYTES``): a job that
starts past the bound, or whose disk write fails, keeps its images in the worker's memory for its storage
retries instead. Directories of finished or forgotten jobs and part files of interrupted writes are cleaned by
the sweeper. The spool's size is measured (a walk over its files) at most every
:data:`ROOM_RECHECK_SECONDS`, with this process's own writes added meanwhile, so a job's check costs no walk
over a spool grown large while storage is down.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from karlo_core.atomic_files import PART_PREFIX, FileSink, write_atomically, write_atomically_with
from karlo_core.ids import is_job_id

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: A part file this old belongs to a write that was interrupted (its process died).
STALE_PART_SECONDS = 600.0
#: How long a measure of the spool's size stands (other workers sharing it, and removals, show by then).
ROOM_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class GeneratedImage:
    """One image a backend made, with the facts its header gives: in the spool (``path``), or in memory
    (``data``) when the spool could not take it."""

    format: str
    width: int
    height: int
    size: int
    seed: int | None
    nsfw_content_detected: bool | None
    nsfw_score: float | None
    path: Path | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class Generated:
    """What one backend call produced, and when (the storage retry deadline counts from then)."""

    images: list[GeneratedImage]
    upstream: dict[str, Any]
    generated_at: float


_FACTS = ("format", "width", "height", "seed", "nsfw_content_detected", "nsfw_score")


class Spool:
    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._used = 0
        self._measured_at: float | None = None

    def has_room(self) -> bool:
        """Whether a new job's images may be spooled: the spool is under its bound (as last measured, with
        this process's writes since)."""
        now = time.monotonic()
        with self._lock:
            if self._measured_at is not None and now - self._measured_at < ROOM_RECHECK_SECONDS:
                return self._used < self._max_bytes
        used = self.used_bytes()
        with self._lock:
            self._used, self._measured_at = used, now
        return used < self._max_bytes

    def write(self, job_id: str, index: int, write: Callable[[FileSink], object]) -> Path:
        """Write one image of the job with ``write`` (in pieces, as they come), whole or not at all; its path.
        OSError when the disk fails; whatever ``write`` raises leaves no file behind either."""
        path = self._directory(job_id) / str(index)
        size = write_atomically_with(path, write)
        with self._lock:
            self._used += size
        return path

    def seal(self, job_id: str, generated: Generated) -> None:
        """Record the whole set (every image spooled): from now on a later attempt stores it from here."""
        entries = []
        for image in generated.images:
            assert image.path is not None
            entries.append({"file": image.path.name, **{name: getattr(image, name) for name in _FACTS}})
        manifest = {"generated_at": generated.generated_at, "upstream": generated.upstream, "images": entries}
        try:
            write_atomically(self._directory(job_id) / MANIFEST, json.dumps(manifest).encode())
        except OSError as exc:  # the images are still here for this attempt; a later one asks again
            log.warning("spooled images not recorded", extra={"job_id": job_id, "error": exc.strerror})

    def load(self, job_id: str) -> Generated | None:
        """The images a worker kept for this job, if a whole set is here."""
        directory = self._directory(job_id)
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
            images = []
            for entry in manifest["images"]:
                path = directory / entry["file"]
                facts = {name: entry[name] for name in _FACTS}
                images.append(GeneratedImage(**facts, size=path.stat().st_size, path=path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("unreadable spool entry dropped", extra={"job_id": job_id}, exc_info=True)
            self.discard(job_id)
            return None
        return Generated(images=images, upstream=manifest["upstream"], generated_at=float(manifest["generated_at"]))

    def discard(self, job_id: str, generated: Generated | None = None) -> None:
        """Remove the job's directory. Given what was spooled for it, its files are removed by name (three
        system calls for one image instead of a walk); anything else found there (a part file of another
        attempt) is then walked away too."""
        directory = self._directory(job_id)
        if generated is not None:
            names = [image.path.name for image in generated.images if image.path is not None]
            try:
                for name in [*names, MANIFEST]:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(directory / name)
                os.rmdir(directory)
                return
            except OSError:
                pass
        shutil.rmtree(directory, ignore_errors=True)

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
