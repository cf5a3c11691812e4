"""A local directory as the image store; the API serves it through signed, expiring links."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from karlo_core.atomic_files import link_atomically, write_atomically
from karlo_core.errors import StorageError
from karlo_core.storage.links import LinkSigner

FILES_ROUTE = "/v1/files"
#: Names a key's parts may not be: an empty one (a leading, trailing or doubled '/'), and the two that move.
_NOT_PLAIN = frozenset({"", ".", ".."})


class LocalStorage:
    def __init__(self, root: Path, *, public_base_url: str, signer: LinkSigner) -> None:
        self.root = root.resolve()
        self._base_url = public_base_url.rstrip("/")
        self._signer = signer

    def path_of(self, key: str) -> Path:
        """The file behind ``key``, a relative path of plain names ('/'-separated, none empty, ``.`` or ``..``, no
        NUL), so it names neither the root nor anything outside it. Checked by its text, with no system call (a
        worker puts every image through here): the directories below the root are made by this class alone, as
        directories, never as links. A file served to a client is checked on disk too (:meth:`existing_file`)."""
        names = key.split("/")
        if "\0" in key or any(name in _NOT_PLAIN for name in names):
            raise StorageError(f"invalid key {key!r}")
        return self.root.joinpath(*names)

    def existing_file(self, key: str) -> Path | None:
        """The file behind ``key`` when there is one; None for a missing file or a key that would leave the root,
        by its text or through a link on disk."""
        try:
            path = self.path_of(key)
        except StorageError:
            return None
        if not path.resolve().is_relative_to(self.root):
            return None
        return path if path.is_file() else None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_of(key)
        try:
            write_atomically(path, data)
        except OSError as exc:
            raise StorageError(f"cannot store {key}: {exc.strerror}") from exc

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """A hard link to ``path`` where the filesystem allows (the worker's spool beside the store copies no
        bytes), else a copy."""
        target = self.path_of(key)
        try:
            link_atomically(path, target)
        except OSError as exc:
            raise StorageError(f"cannot store {key}: {exc.strerror}") from exc

    def delete(self, key: str) -> None:
        try:
            self.path_of(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc.strerror}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self.path_of(key).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from exc

    def url_for(self, key: str, *, ttl_seconds: int) -> str:
        expires = int(time.time()) + ttl_seconds
        query = urlencode({"expires": expires, "signature": self._signer.sign(key, expires)})
        return f"{self._base_url}{FILES_ROUTE}/{quote(key)}?{query}"

    def delete_prefix(self, prefix: str) -> int:
        """Only whole directories are deleted here: ``prefix`` must end with ``/``."""
        if not prefix.endswith("/"):
            raise StorageError(f"not a directory prefix: {prefix!r}")
        directory = self.path_of(prefix.rstrip("/"))
        if not directory.is_dir():
            return 0
        count = sum(1 for item in directory.rglob("*") if item.is_file())
        try:
            shutil.rmtree(directory)
        except OSError as exc:
            raise StorageError(f"cannot delete {prefix}: {exc.strerror}") from exc
        return count

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"storage directory unusable: {exc.strerror}") from exc
        if not os.access(self.root, os.W_OK):
            raise StorageError("storage directory is not writable")
