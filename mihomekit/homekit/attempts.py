"""Failed pair-setup attempts: a short lockout, and a persisted total with HAP's limit.

Every failed setup-code proof is one guess at the code. After ``lockout_failures`` in a
row pair-setup answers Busy for ``lockout_seconds``; after ``max_failed_attempts`` in all
(counted across restarts in ``pair-setup.json``) it answers MaxTries until the owner runs
``mihomekit pairing unlock``. A successful pairing clears both.
"""

from __future__ import annotations

import json
import logging
import time
from enum import Enum
from pathlib import Path

from mihomekit.atomicfile import read_text_or_none, write_atomic
from mihomekit.errors import StateError

from .limits import ServerLimits

__all__ = ["ATTEMPTS_FILE", "Lock", "PairingAttempts", "reset_attempts"]

_LOGGER = logging.getLogger(__name__)

ATTEMPTS_FILE = "pair-setup.json"


class Lock(Enum):
    """Why pair-setup is refused right now."""

    NONE = "none"
    BUSY = "busy"
    MAX_TRIES = "max_tries"


class PairingAttempts:
    """The failed-attempt counters of one bridge, kept in ``<state dir>/pair-setup.json``."""

    def __init__(self, path: Path, limits: ServerLimits) -> None:
        self.path = path
        self._limits = limits
        self._consecutive = 0
        self._locked_until = 0.0
        self._save_failed = False
        self.total = self._load()

    def _load(self) -> int:
        try:
            text = read_text_or_none(self.path)
        except (OSError, UnicodeDecodeError) as err:
            raise StateError(f"{self.path}: cannot read ({err})") from err
        if text is None:
            return 0
        try:
            data = json.loads(text)
            total = data["failed_attempts"]
        except (ValueError, KeyError, TypeError) as err:
            raise StateError(
                f"{self.path}: not a pair-setup counter file ({err}); "
                "`mihomekit pairing unlock` writes a fresh one"
            ) from err
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise StateError(f"{self.path}: failed_attempts must be a whole number")
        return total

    def _reload(self) -> None:
        try:
            total = self._load()
        except StateError:
            return
        if total < self.total:
            _LOGGER.warning("pair-setup allowed again (the failed-attempt count was reset)")
            self.total = total
            self._consecutive = 0

    def _save(self) -> None:
        try:
            write_atomic(self.path, json.dumps({"failed_attempts": self.total}) + "\n")
        except OSError as err:
            if not self._save_failed:
                _LOGGER.error("cannot save the pair-setup attempt count to %s: %s", self.path, err)
            self._save_failed = True
        else:
            self._save_failed = False

    @property
    def lock(self) -> Lock:
        """Whether pair-setup must be refused now, and how."""
        if self.total >= self._limits.max_failed_attempts:
            self._reload()  # `mihomekit pairing unlock` may have reset the file meanwhile
        if self.total >= self._limits.max_failed_attempts:
            return Lock.MAX_TRIES
        if time.monotonic() < self._locked_until:
            return Lock.BUSY
        return Lock.NONE

    def failed(self) -> None:
        """Count one failed proof (a wrong setup code, or a refused client key)."""
        self.total += 1
        self._consecutive += 1
        self._save()
        if self.total == self._limits.max_failed_attempts:
            _LOGGER.error(
                "pair-setup refused after %d failed attempts; `mihomekit pairing unlock` "
                "allows it again",
                self.total,
            )
        elif self._consecutive >= self._limits.lockout_failures:
            self._consecutive = 0
            self._locked_until = time.monotonic() + self._limits.lockout_seconds
            _LOGGER.warning(
                "pair-setup locked for %.0f s after %d wrong setup codes in a row",
                self._limits.lockout_seconds,
                self._limits.lockout_failures,
            )

    def succeeded(self) -> None:
        """A pairing was made: forget earlier failures."""
        self._consecutive = 0
        self._locked_until = 0.0
        if self.total:
            self.total = 0
            self._save()

    def reset(self) -> None:
        """The owner allows pair-setup again (``mihomekit pairing unlock``)."""
        self._consecutive = 0
        self._locked_until = 0.0
        self.total = 0
        reset_attempts(self.path)


def reset_attempts(path: Path) -> None:
    """Write a zero count to ``path`` (also over a damaged file); a running bridge reads it
    at the next pair-setup."""
    try:
        write_atomic(path, json.dumps({"failed_attempts": 0}) + "\n")
    except OSError as err:
        raise StateError(f"cannot write {path}: {err}") from err
