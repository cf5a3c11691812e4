"""Writing a file whole or not at all: a ``.part-*`` file beside it, renamed into place, removed on failure.

Every write here replaces the file (a new one renamed over it), never changes it in place, so two names may
share one file: :func:`link_atomically` puts a file in place by a hard link, copying no bytes.

A part file is named by a random UUID and created exclusively, readable and writable by its owner only (as
``tempfile.mkstemp`` makes one, without its name retries in Python). The directory is made only when the first
try finds it missing, so writing into one that exists costs no ``mkdir``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

PART_PREFIX = ".part-"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (creating its directory); readers see the old file or the new one, never a
    part. On any failure (a full disk, say) the part file is removed and the ``OSError`` raised."""
    write_atomically_with(path, lambda handle: handle.write(data))


def copy_atomically(source: Path, path: Path) -> None:
    """:func:`write_atomically` with the content of the file ``source``, copied in pieces."""
    with source.open("rb") as reader:
        write_atomically_with(path, lambda handle: shutil.copyfileobj(reader, handle))


def link_atomically(source: Path, path: Path) -> None:
    """:func:`copy_atomically` by a hard link to ``source``, no bytes copied; a copy where the filesystem
    cannot link (``source`` on another one, or no hard links there). Later writes to either name replace
    that name's file only (see the module)."""
    part = _part_of(path)
    try:
        try:
            os.link(source, part)
        except FileNotFoundError:  # the directory is missing (or ``source`` is: then the copy fails too)
            path.parent.mkdir(parents=True, exist_ok=True)
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


def write_atomically_with(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """:func:`write_atomically` with what ``write`` writes to the open part file (in pieces, as it comes); any
    exception it raises removes the part file too."""
    part = _part_of(path)
    try:
        fd = os.open(part, _CREATE, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(part, _CREATE, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise


#: A new part file, never an existing one.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _part_of(path: Path) -> str:
    """A new part file's name beside ``path``."""
    return os.path.join(os.path.dirname(path), f"{PART_PREFIX}{uuid.uuid4().hex}")
