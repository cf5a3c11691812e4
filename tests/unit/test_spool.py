"""The worker's spool and atomic writes: whole files or none, a bound, and no part files left on failure."""

from __future__ import annotations

import errno
import time
from pathlib import Path
from typing import Any

import pytest

from karlo_core.atomic_files import FileSink, write_atomically
from karlo_core.errors import StorageError
from karlo_core.ids import new_job_id
from karlo_core.storage.links import LinkSigner
from karlo_core.storage.local import LocalStorage
from karlo_worker.spool import ROOM_RECHECK_SECONDS, Generated, GeneratedImage, Spool


def generated(spool: Spool, job_id: str, *sizes: int) -> Generated:
    images = []
    for index, size in enumerate(sizes):
        path = spool.write(job_id, index, lambda handle, size=size: handle.write(b"x" * size))
        images.append(GeneratedImage("png", 8, 8, size, index, None, None, path=path))
    return Generated(images=images, upstream={"request_id": "r", "model_version": "v"}, generated_at=123.5)


def test_a_sealed_set_loads_back_whole_and_goes_when_discarded(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1000)
    job_id = new_job_id()
    assert spool.load(job_id) is None
    kept = generated(spool, job_id, 10, 20)
    assert spool.load(job_id) is None  # not whole until sealed
    spool.seal(job_id, kept)
    assert spool.load(job_id) == kept
    assert spool.job_ids() == [job_id] and spool.used_bytes() > 30
    spool.discard(job_id)
    assert spool.load(job_id) is None and spool.job_ids() == []


def test_discarding_by_what_was_spooled_removes_the_directory_whatever_else_is_there(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1000)
    plain, cluttered = new_job_id(), new_job_id()
    for job_id in (plain, cluttered):
        spool.seal(job_id, generated(spool, job_id, 10, 20))
    (tmp_path / cluttered / ".part-left-by-another-attempt").write_bytes(b"x")
    spool.discard(plain, spool.load(plain))
    spool.discard(cluttered, spool.load(cluttered))
    spool.discard(new_job_id(), generated(spool, new_job_id()))  # nothing spooled: nothing to remove
    assert list(tmp_path.iterdir()) == []


def test_the_spool_has_no_room_past_its_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100)
    assert spool.has_room()
    generated(spool, new_job_id(), 120)
    assert not spool.has_room()  # its own write counts at once


def test_room_freed_or_taken_by_others_shows_at_the_next_measure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool, other = Spool(tmp_path, max_bytes=100), Spool(tmp_path, max_bytes=100)
    job_id = new_job_id()
    assert spool.has_room()
    generated(other, job_id, 120)  # another worker sharing the spool
    assert spool.has_room()  # measured a moment ago
    clock = time.monotonic() + ROOM_RECHECK_SECONDS
    monkeypatch.setattr(time, "monotonic", lambda: clock)
    assert not spool.has_room()
    other.discard(job_id)
    clock += ROOM_RECHECK_SECONDS
    assert spool.has_room()


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1000)

    def fails(handle: Any) -> None:
        handle.write(b"half")
        raise ValueError("the link broke")

    with pytest.raises(ValueError):
        spool.write(new_job_id(), 0, fails)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def _disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write to a part file fails as on a full disk."""

    def full(self: FileSink, data: bytes, /) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSink, "write", full)


def test_a_full_disk_leaves_no_part_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _disk_full(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        write_atomically(tmp_path / "a" / "image.png", b"data")
    storage = LocalStorage(tmp_path / "store", public_base_url="http://x", signer=LinkSigner(b"secret"))
    with pytest.raises(StorageError):
        storage.put("jobs/j/0.png", b"data", "image/png")
    spool = Spool(tmp_path / "spool", max_bytes=1000)
    with pytest.raises(OSError):
        generated(spool, new_job_id(), 10)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
