"""Writing a file whole or not at all: a ``.part-*`` file beside it, renamed into place, removed on failure."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
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
