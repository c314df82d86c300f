"""One GATT connection at a time per radio, shared by the commands and the bridge's jobs.

Inside one process an :class:`asyncio.Lock` per radio orders the connections; between
processes (``mihomekit bind`` next to a running bridge) a lock file per radio does
(``flock``, in :data:`LOCK_DIRS`). A connection is made inside a :meth:`GattQueue.session`
and closed when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
import weakref
from collections.abc import AsyncIterator

from .link import GattError, GattLink, Radio

__all__ = ["LOCK_DIRS", "GattQueue", "shared_queue"]

#: Where lock files go: the first writable directory.
LOCK_DIRS = ("/run/lock", tempfile.gettempdir())
#: Seconds between polls of a lock held by another process.
POLL = 0.1


def _lock_dir() -> str:
    for directory in LOCK_DIRS:
        if os.path.isdir(directory) and os.access(directory, os.W_OK):
            return directory
    return tempfile.gettempdir()


class GattQueue:
    """Hands out one connection at a time per radio.

    ``wait``: how long :meth:`session` waits for the radio before giving up (another
    connection is running).
    """

    def __init__(self, *, lock_dir: str | None = None, wait: float = 120.0) -> None:
        self._lock_dir = lock_dir
        self._wait = wait
        #: Per event loop (an asyncio lock belongs to one), per radio.
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def _lock(self, key: str) -> asyncio.Lock:
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        return locks.setdefault(key, asyncio.Lock())

    def _path(self, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return os.path.join(self._lock_dir or _lock_dir(), f"mihomekit-gatt-{digest}.lock")

    @contextlib.asynccontextmanager
    async def _hold(self, radio: Radio) -> AsyncIterator[None]:
        key = radio.lock_key
        lock = self._lock(key)
        deadline = time.monotonic() + self._wait
        try:
            await asyncio.wait_for(lock.acquire(), self._wait)
        except TimeoutError:
            raise GattError(f"{radio.name} is busy with another connection") from None
        try:
            fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise GattError(
                                f"{radio.name} is busy with a connection of another mihomekit "
                                "process (a running bridge or command)"
                            ) from None
                        await asyncio.sleep(POLL)
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        finally:
            lock.release()

    @contextlib.asynccontextmanager
    async def session(self, radio: Radio, mac: str, *, timeout: float) -> AsyncIterator[GattLink]:
        """A connection to ``mac`` through ``radio``, once it is free; closed afterwards."""
        async with self._hold(radio):
            link = await radio.connect(mac, timeout)
            try:
                yield link
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(link.close(), 10.0)

    def busy(self, radio: Radio) -> bool:
        """True while this process has a session on ``radio``."""
        return self._lock(radio.lock_key).locked()


_SHARED: GattQueue | None = None


def shared_queue() -> GattQueue:
    """The queue of this process: commands, the dashboard and the bridge's jobs use it."""
    global _SHARED
    if _SHARED is None:
        _SHARED = GattQueue()
    return _SHARED
