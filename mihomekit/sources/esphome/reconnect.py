"""A reconnect loop with exponential backoff, for a source that keeps one connection.

:class:`ReconnectLoop` runs ``session()`` again and again until stopped. A session
connects, serves, and returns when the connection ends (or raises when it could not
connect or broke). Between two sessions the loop waits :meth:`Backoff.next` seconds; the
session calls :meth:`Backoff.reset` once it is up, so the first retry after a dropped
connection comes quickly and a peer that stays down is asked less and less often.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class Backoff:
    """Delays ``initial``, ``initial * factor``, ... up to ``maximum`` seconds.

    Each delay is spread by up to ``jitter`` (a fraction) so that several sources that
    lost the same network do not retry in step.
    """

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.1
    attempts: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def next(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        delay = min(self.initial * self.factor ** min(self.attempts, 64), self.maximum)
        self.attempts += 1
        if self.jitter > 0:
            delay *= 1.0 + self._random.uniform(-self.jitter, self.jitter)
        return max(0.0, delay)

    def reset(self) -> None:
        """The connection is up: the next failure starts again at ``initial``."""
        self.attempts = 0


class ReconnectLoop:
    """Run ``session`` until :meth:`stop`, waiting ``backoff.next()`` between runs.

    ``on_error(err)`` is called (on the loop, never raising out of it) for every
    exception a session raises; the loop goes on. :meth:`wake` cuts the current wait
    short (to retry now).
    """

    def __init__(
        self,
        session: Callable[[], Awaitable[None]],
        *,
        backoff: Backoff,
        on_error: Callable[[BaseException], None],
        name: str = "reconnect",
    ) -> None:
        self._session = session
        self.backoff = backoff
        self._on_error = on_error
        self._name = name
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the session in progress (its cleanup runs) and the loop."""
        self._running = False
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while self._running:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                try:
                    self._on_error(err)
                except Exception:
                    _LOGGER.exception("%s: error handler failed", self._name)
            if not self._running:
                return
            delay = self.backoff.next()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)


__all__ = ["Backoff", "ReconnectLoop"]
