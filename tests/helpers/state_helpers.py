"""Watching the state files: every atomic write of :mod:`mihomekit.state`, by path."""

from __future__ import annotations

import os

import pytest

import mihomekit.state


def count_state_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the path of every file :mod:`mihomekit.state` writes, in order (the
    writes still happen)."""
    writes: list[str] = []
    real_write = mihomekit.state.write_atomic

    def counting_write(path: str | os.PathLike[str], data: str | bytes, **kwargs: int) -> None:
        writes.append(os.fspath(path))
        real_write(path, data, **kwargs)

    monkeypatch.setattr(mihomekit.state, "write_atomic", counting_write)
    return writes
