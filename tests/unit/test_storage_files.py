"""Storing an image from a file against a real S3 server and a local directory: whole, in pieces (multipart
past the threshold on S3), replacing what was there; and removing one object."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from karlo_core.atomic_files import write_atomically
from karlo_core.errors import StorageError
from karlo_core.storage import Storage
from karlo_core.storage.links import LinkSigner
from karlo_core.storage.local import LocalStorage
from karlo_core.storage.s3 import MULTIPART_BYTES, S3Storage
from support.stacks import BUCKET, Services, s3_client


@pytest.fixture(params=["s3", "local"])
def storage(request: pytest.FixtureRequest, services: Services, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store", public_base_url="http://x", signer=LinkSigner(b"k"))
    return S3Storage(s3_client(services.s3_url), bucket=BUCKET, prefix=f"files-{time.time_ns()}")


@pytest.mark.parametrize("size", [10, MULTIPART_BYTES * 2 + 123])
def test_a_file_is_stored_whole_and_replaces_the_old_object(storage: Storage, tmp_path: Path, size: int) -> None:
    source = tmp_path / "image"
    source.write_bytes(os.urandom(size))
    storage.put("jobs/j/0.png", b"old", "image/png")
    storage.put_file("jobs/j/0.png", source, "image/png")
    assert storage.get("jobs/j/0.png") == source.read_bytes()
    storage.delete("jobs/j/0.png")
    storage.delete("jobs/j/0.png")  # gone already: no error
    assert storage.delete_prefix("jobs/j/") == 0


def test_a_local_store_links_the_file_and_keeps_it_when_the_source_is_replaced_or_removed(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store", public_base_url="http://x", signer=LinkSigner(b"k"))
    source = tmp_path / "spool" / "0"
    write_atomically(source, b"first")
    storage.put_file("jobs/j/0.png", source, "image/png")
    assert storage.path_of("jobs/j/0.png").stat().st_ino == source.stat().st_ino  # no bytes copied
    write_atomically(source, b"second")  # a later write replaces the spool's name only
    assert storage.get("jobs/j/0.png") == b"first"
    source.unlink()
    assert storage.get("jobs/j/0.png") == b"first"
    assert [p.name for p in storage.path_of("jobs/j/0.png").parent.iterdir()] == ["0.png"]  # no part left


def test_a_local_store_copies_where_it_cannot_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*_: object) -> None:
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    storage = LocalStorage(tmp_path / "store", public_base_url="http://x", signer=LinkSigner(b"k"))
    source = tmp_path / "spool" / "0"
    write_atomically(source, b"bytes")
    storage.put_file("jobs/j/0.png", source, "image/png")
    assert storage.get("jobs/j/0.png") == b"bytes"
    assert storage.path_of("jobs/j/0.png").stat().st_ino != source.stat().st_ino


@pytest.mark.parametrize("key", ["../out.png", "jobs/../../out.png", "/etc/out.png", "jobs//0.png", "jobs/./0.png", ""])
def test_a_local_store_refuses_keys_that_are_not_plain_relative_paths(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "store", public_base_url="http://x", signer=LinkSigner(b"k"))
    source = tmp_path / "image"
    source.write_bytes(b"x")
    for call in (
        lambda: storage.put(key, b"x", "image/png"),
        lambda: storage.put_file(key, source, "image/png"),
        lambda: storage.get(key),
        lambda: storage.delete(key),
    ):
        with pytest.raises(StorageError, match="invalid key"):
            call()
    assert storage.existing_file(key) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image"]  # nothing written anywhere


def test_a_local_store_serves_no_file_through_a_link_that_leaves_it(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store", public_base_url="http://x", signer=LinkSigner(b"k"))
    storage.put("jobs/j/0.png", b"inside", "image/png")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "0.png").write_bytes(b"outside")
    (tmp_path / "store" / "jobs" / "k").symlink_to(tmp_path / "outside")
    assert storage.existing_file("jobs/j/0.png") == tmp_path / "store" / "jobs" / "j" / "0.png"
    assert storage.existing_file("jobs/k/0.png") is None
