"""Writing a file whole or not at all: a ``.part-*`` file beside it, renamed into place, removed on failure.

Every write here replaces the file (a new one renamed over it), never changes it in place, so two names may
share one file: :func:`link_atomically` puts a file in place by a hard link, copying no bytes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
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
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.parent / f"{PART_PREFIX}{uuid.uuid4().hex}"
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


def write_atomically_with(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """:func:`write_atomically` with what ``write`` writes to the open part file (in pieces, as it comes); any
    exception it raises removes the part file too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=PART_PREFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise
