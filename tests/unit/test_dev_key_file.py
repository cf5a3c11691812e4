"""The local stack's key file is its owner's alone from the moment it exists."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from karlo_devstack import stack


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_the_key_is_written_only_to_a_file_no_one_else_can_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
) -> None:
    modes: list[int] = []
    real_write = os.write

    def spying_write(fd: int, data: bytes) -> int:
        modes.append(os.fstat(fd).st_mode & 0o777)
        return real_write(fd, data)

    monkeypatch.setattr(stack.os, "write", spying_write)
    key_file = tmp_path / "dev-api-key"
    stack.write_private(key_file, "kq_secret\n")
    assert modes == [0o600]
    assert key_file.read_text() == "kq_secret\n"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["dev-api-key"]


def test_a_world_readable_key_file_is_replaced_not_reused(tmp_path: Path, open_umask: None) -> None:
    key_file = tmp_path / "dev-api-key"
    key_file.write_text("old\n")
    key_file.chmod(0o644)
    old_inode = key_file.stat().st_ino
    stack.write_private(key_file, "new\n")
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.stat().st_ino != old_inode
    assert key_file.read_text() == "new\n"
