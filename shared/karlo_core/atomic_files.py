"""Writing a file whole or not at all: a ``.part-*`` file beside it, renamed into place, removed on failure.

Every write here replaces the file (a new one renamed over it), never changes it in place, so two names may
share one file: :func:`link_atomically` puts a file in place by a hard link, copying no bytes.

A part file is named by a random UUID and created exclusively, readable and writable by its owner only (as
``tempfile.mkstemp`` makes one, without its name retries in Python), and written with plain ``write`` calls
on its descriptor (:class:`FileSink`): no buffered file object, whose opening asks the file's type, block size,
terminal and position. The directory is made only when the first try finds it missing, so writing into one that
exists costs no ``mkdir``. Each of these system calls lets another thread take the interpreter, which a busy
worker pays for far more than for the call itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

PART_PREFIX = ".part-"


class FileSink:
    """An open part file's descriptor: each ``write`` writes all it is given (looping on a short write)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        #: Bytes written so far.
        self.size = 0

    def write(self, data: bytes, /) -> int:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(data)
        return len(data)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (creating its directory); readers see the old file or the new one, never a
    part. On any failure (a full disk, say) the part file is removed and the ``OSError`` raised."""
    write_atomically_with(path, lambda sink: sink.write(data))


def copy_atomically(source: Path, path: Path) -> None:
    """:func:`write_atomically` with the content of the file ``source``, copied in pieces."""
    with source.open("rb") as reader:
        write_atomically_with(path, lambda sink: shutil.copyfileobj(reader, sink))


def link_atomically(source: Path, path: Path) -> None:
    """:func:`copy_atomically` by a hard link to ``source``, no bytes copied; a copy where the filesystem
    cannot link (``source`` on another one, or no hard links there). Later writes to either name replace
    that name's file only (see the module)."""
    _make_directory(path.parent)  # a store's directories are mostly new: made first, not after a failed try
    part = _part_of(path)
    try:
        os.link(source, part)
    except OSError:
        copy_atomically(source, path)
        return
    try:
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise


def write_atomically_with(path: Path, write: Callable[[FileSink], object]) -> int:
    """:func:`write_atomically` with what ``write`` writes to the part file (in pieces, as it comes); the bytes
    written. Any exception it raises removes the part file too."""
    part = _part_of(path)
    try:
        fd = os.open(part, _CREATE, 0o600)
    except FileNotFoundError:
        _make_directory(path.parent)
        fd = os.open(part, _CREATE, 0o600)
    try:
        try:
            sink = FileSink(fd)
            write(sink)
        finally:
            os.close(fd)
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise
    return sink.size


#: A new part file, never an existing one.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _part_of(path: Path) -> str:
    """A new part file's name beside ``path``."""
    return os.path.join(os.path.dirname(path), f"{PART_PREFIX}{uuid.uuid4().hex}")


def _make_directory(directory: Path) -> None:
    """``directory`` and any missing parents, fine when it exists: one ``mkdir`` when only it is missing or it
    is there."""
    try:
        os.mkdir(directory)
    except FileExistsError:
        if not os.path.isdir(directory):
            raise
    except FileNotFoundError:
        directory.mkdir(parents=True, exist_ok=True)
