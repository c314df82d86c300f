"""Atomic file writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mihomekit.atomicfile import read_text_or_none, write_atomic


def _leftovers(directory: Path, target: str) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name != target)


def test_write_bytes_and_text(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    write_atomic(target, b"\x00\x01binary")
    assert target.read_bytes() == b"\x00\x01binary"
    write_atomic(str(target), "text ünïcode")
    assert target.read_bytes() == "text ünïcode".encode()
    assert _leftovers(tmp_path, "file.bin") == []


def test_mode_default_and_explicit(tmp_path: Path) -> None:
    old_umask = os.umask(0o077)
    try:
        write_atomic(tmp_path / "secret", "x")
        write_atomic(tmp_path / "public", "x", mode=0o644)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(tmp_path / "secret").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "public").st_mode) == 0o644


def test_replace_keeps_old_file_when_replace_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cfg"
    target.write_text("old content")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, "new content")
    assert target.read_text() == "old content"
    assert _leftovers(tmp_path, "cfg") == []


def test_failing_fsync_removes_temp_and_keeps_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cfg"
    target.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path, "cfg") == []


def test_fsyncs_file_and_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_atomic(tmp_path / "f", "data")
    assert synced == [False, True]


def test_missing_directory_raises_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "absent" / "f", "data")
    assert os.listdir(tmp_path) == []


def test_read_text_or_none(tmp_path: Path) -> None:
    assert read_text_or_none(tmp_path / "missing") is None
    (tmp_path / "present").write_text("hello\n", encoding="utf-8")
    assert read_text_or_none(tmp_path / "present") == "hello\n"
    with pytest.raises(IsADirectoryError):
        read_text_or_none(tmp_path)


def test_replacing_keeps_owner_group_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "mi32cfg"
    target.write_text("old")
    os.chown(target, 1234, 1235)
    os.chmod(target, 0o640)
    write_atomic(target, "new")  # as root, with the default mode 0600
    info = os.stat(target)
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 1235, 0o640)
    assert target.read_text() == "new"
    write_atomic(target, "newer", mode=0o600, keep_mode=False)
    info = os.stat(target)
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 1235, 0o600)


def test_root_gives_a_new_file_to_the_directory_owner(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "the suite runs as root"
    service_dir = tmp_path / "etc-mihomekit"
    service_dir.mkdir()
    os.chown(service_dir, 1234, 1236)
    write_atomic(service_dir / "mi32cfg", "[]")
    info = os.stat(service_dir / "mi32cfg")
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, 1236, 0o600)
    # In root's own directory a new file stays root's.
    write_atomic(tmp_path / "own", "x")
    assert (os.stat(tmp_path / "own").st_uid, os.stat(tmp_path / "own").st_gid) == (0, 0)
