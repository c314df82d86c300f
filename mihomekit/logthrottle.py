"""Warnings that stay quiet under abuse: the first of a kind is logged, the rest counted.

A :class:`LogThrottle` is keyed (a key names one kind of trouble: ``"malformed:10.0.0.9"``,
``"command failed: plug is offline"``). The first occurrence of a key is logged at the
level asked for; further ones within ``interval`` seconds go to DEBUG and are counted; the
first one after the interval is logged again, with the count of those held back. So a
flood of one warning costs at most one line per key and interval, and a key seen once is
logged at once. ``interval=None`` logs each key once only. At most ``max_keys`` keys are
remembered (the oldest is forgotten first), so hostile keys cannot grow memory.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LogThrottle"]


@dataclass(slots=True)
class _Key:
    logged_at: float
    held: int = 0
    total: int = 1


class LogThrottle:
    """Rate-limits log lines per key (see the module docstring)."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float | None = 60.0,
        max_keys: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Key] = OrderedDict()

    def warning(self, key: str, message: str, *args: object) -> bool:
        """Log ``message % args`` at WARNING unless ``key`` was logged recently."""
        return self.log(logging.WARNING, key, message, *args)

    def error(self, key: str, message: str, *args: object) -> bool:
        return self.log(logging.ERROR, key, message, *args)

    def info(self, key: str, message: str, *args: object) -> bool:
        return self.log(logging.INFO, key, message, *args)

    def log(self, level: int, key: str, message: str, *args: object) -> bool:
        """Log at ``level`` (True), or count it and log at DEBUG (False)."""
        now = self._clock()
        entry = self._keys.get(key)
        if entry is None:
            self._keys[key] = _Key(logged_at=now)
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
            self._logger.log(level, message, *args)
            return True
        entry.total += 1
        self._keys.move_to_end(key)
        if self.interval is None or now - entry.logged_at < self.interval:
            entry.held += 1
            self._logger.debug(message, *args)
            return False
        held, entry.held, entry.logged_at = entry.held, 0, now
        if held:
            self._logger.log(
                level,
                message + " (%d more like it since the last such line)",
                *args,
                held,
            )
        else:
            self._logger.log(level, message, *args)
        return True

    def count(self, key: str) -> int:
        """How often ``key`` occurred (logged or not) while remembered."""
        entry = self._keys.get(key)
        return 0 if entry is None else entry.total

    def forget(self, key: str) -> None:
        """The trouble is over: the next occurrence is logged at once."""
        self._keys.pop(key, None)
