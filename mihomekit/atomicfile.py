"""Crash-safe file writes: the target holds either the old or the new content, never a mix."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

__all__ = ["read_text_or_none", "write_atomic"]


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    mode: int = 0o600,
    keep_mode: bool = True,
) -> None:
    """Replace ``path`` with ``data`` atomically.

    The data goes to a temporary file in the same directory, which is flushed, fsync'ed and
    then renamed over the target with :func:`os.replace`; finally the directory is fsync'ed
    so that the rename itself survives a power cut. ``str`` data is written as UTF-8. On any
    failure the temporary file is removed, the old target (if any) is left untouched and
    the exception propagates.

    Who may read the file does not change: a file that is replaced keeps its owner, group
    and permission bits (``keep_mode=False``: it gets ``mode`` instead); a new file gets
    ``mode``, and when root creates it in a directory owned by another user, it belongs to
    that user and the directory's group (``sudo mihomekit scan --write`` into the service
    user's directory gives a file the service can read and write).
    """
    target = os.fspath(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    directory = os.path.dirname(os.path.abspath(target))
    owner, new_mode = _ownership(target, directory, mode, keep_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            os.fchmod(handle.fileno(), new_mode)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _ownership(
    target: str, directory: str, mode: int, keep_mode: bool
) -> tuple[tuple[int, int] | None, int]:
    """The owner (uid, gid) to give the new file, None to leave it ours, and its mode."""
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    me, my_group = os.geteuid(), os.getegid()
    if old is not None:
        new_mode = stat.S_IMODE(old.st_mode) if keep_mode else mode
        owner = (old.st_uid, old.st_gid)
        if owner == (me, my_group):
            return None, new_mode
        if me == 0:
            return owner, new_mode
        # Others may only keep the file's group, and only one they belong to.
        if old.st_uid == me and old.st_gid in os.getgroups():
            return owner, new_mode
        return None, new_mode
    if me != 0:
        return None, mode
    parent = os.stat(directory)
    return ((parent.st_uid, parent.st_gid) if parent.st_uid != 0 else None), mode


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
