"""Crash-safe file writes: the target holds either the old or the new content, never a mix."""

from __future__ import annotations

import contextlib
import os
import tempfile

__all__ = ["read_text_or_none", "write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically.

    The data goes to a temporary file in the same directory, which is flushed, fsync'ed and
    then renamed over the target with :func:`os.replace`; finally the directory is fsync'ed
    so that the rename itself survives a power cut. ``str`` data is written as UTF-8. The new
    file gets permission bits ``mode``. On any failure the temporary file is removed, the
    old target (if any) is left untouched and the exception propagates.
    """
    target = os.fspath(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Persist a rename in ``directory``; silently skipped where directories cannot be opened."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        dir_fd = os.open(directory, flags)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_text_or_none(path: str | os.PathLike[str]) -> str | None:
    """Return the UTF-8 text of ``path``, or ``None`` if the file does not exist.

    Other problems (permissions, a directory in the way, invalid UTF-8) raise as usual.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
