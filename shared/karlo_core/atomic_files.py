"""Writing a file whole or not at all: a ``.part-*`` file beside it, renamed into place, removed on failure."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PART_PREFIX = ".part-"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (creating its directory); readers see the old file or the new one, never a
    part. On any failure (a full disk, say) the part file is removed and the ``OSError`` raised."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=PART_PREFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise
