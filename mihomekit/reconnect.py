"""Reconnecting with exponential backoff: the one way mihomekit keeps a link up.

:class:`ReconnectLoop` runs ``session()`` again and again until stopped. A session
connects, serves, and returns when the connection ends (or raises when it could not
connect or broke). Between two sessions the loop waits :meth:`Backoff.next` seconds; the
session calls :meth:`Backoff.reset` once it is up, so the first retry after a dropped
connection comes quickly and a peer that stays down is asked less and less often.

Users: the MQTT broker connection (:mod:`mihomekit.mqtt`), each ESPHome proxy
(:mod:`mihomekit.sources.esphome`), and the local radio's scanner restarts
(:mod:`mihomekit.sources.ble`, whose watchdog takes its delays from :class:`Backoff`).
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

    def delay(self, attempt: int) -> float:
        """The delay before attempt ``attempt`` (0 = the first retry), without jitter."""
        return min(self.initial * self.factor ** min(max(attempt, 0), 64), self.maximum)

    def next(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        delay = self.delay(self.attempts)
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
    short (to retry now). A session that can end cleanly (say goodbye to its peer)
    watches :attr:`stopping` and returns when it is set; :meth:`stop` gives it ``grace``
    seconds to do so before cancelling it.
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
        #: Set by :meth:`stop`: a session that can end cleanly returns when it sees it.
        self.stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self.stopping.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self, *, grace: float = 0.0) -> None:
        """End the loop: the session in progress gets ``grace`` seconds to return by itself
        (see :attr:`stopping`), then it is cancelled (its cleanup runs)."""
        self._running = False
        self.stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is None or task is asyncio.current_task():
            return
        if grace > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), grace)
        if not task.done():
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
