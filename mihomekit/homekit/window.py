"""The pairing window: when an unpaired bridge accepts pair-setup at all.

An unpaired bridge answers pair-setup only while its window is open: for ``seconds``
after it starts, and again for that long after the owner opens it. The owner opens it with
``mihomekit pairing open`` (which writes :data:`WINDOW_FILE` in the bridge's state
directory: a running bridge reads it at the next pair-setup or status question, the way
``mihomekit pairing unlock`` reaches it), with the dashboard's "Open pairing" button, or by
removing the bridge's last pairing (from Apple Home or the dashboard's reset).
``seconds = 0`` means always open (no window).

The file holds ``{"open_until": <Unix time>}``: whoever opens the window writes it, and
``mihomekit pairing`` reads it to say until when pairing is open. The running bridge keeps
its own deadline on the monotonic clock, so a clock that jumps (a Raspberry Pi setting its
time from the network after boot) does not shorten or lengthen a window it already has.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mihomekit.atomicfile import read_text_or_none, write_atomic
from mihomekit.errors import StateError

__all__ = ["WINDOW_FILE", "PairingWindow", "WindowStatus", "read_open_until", "write_open_until"]

_LOGGER = logging.getLogger(__name__)

WINDOW_FILE = "pairing-window.json"


@dataclass(frozen=True, slots=True)
class WindowStatus:
    """Whether pair-setup is accepted now; ``until`` is the Unix time it closes."""

    open: bool
    until: float | None = None
    always: bool = False

    def describe(self) -> str:
        """``"open until 14:35"``, ``"always open"`` or ``"closed"``."""
        if self.always:
            return "always open"
        if self.open and self.until is not None:
            return "open until " + time.strftime("%H:%M:%S", time.localtime(self.until))
        return "closed"


def write_open_until(path: Path, until: float) -> None:
    """Write the window file (atomically); :class:`StateError` if it cannot be written."""
    try:
        write_atomic(path, json.dumps({"open_until": until}) + "\n")
    except OSError as err:
        raise StateError(f"cannot write {path}: {err.strerror or err}") from err


def read_open_until(path: Path) -> float | None:
    """The ``open_until`` of the window file; None if there is none or it is unreadable."""
    try:
        text = read_text_or_none(path)
    except (OSError, UnicodeDecodeError):
        return None
    if text is None:
        return None
    try:
        value = json.loads(text).get("open_until")
    except (ValueError, AttributeError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


class PairingWindow:
    """One bridge's pairing window (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.seconds = seconds
        self._clock = clock
        self._wall = wall
        self._deadline = -math.inf
        self._seen: float | None = None
        self._write_failed = False
        self._writes: set[asyncio.Future[None]] = set()

    @property
    def always_open(self) -> bool:
        return self.seconds <= 0

    def start(self) -> None:
        """The bridge starts: the window opens for :attr:`seconds`."""
        self.open(None)

    def open(self, why: str | None) -> WindowStatus:
        """Open the window now for :attr:`seconds` (logged with ``why``, if given)."""
        if self.always_open:
            return self.status()
        self._deadline = self._clock() + self.seconds
        until = round(self._wall() + self.seconds, 3)
        self._seen = until  # our own write is no news when the file is read again
        self._write(until)
        status = self.status()
        if why is not None:
            _LOGGER.warning("pairing window %s: %s", status.describe(), why)
        return status

    def _write(self, until: float) -> None:
        """Write the file for ``mihomekit pairing``: in a worker thread if the event loop
        runs (the window is open already; a controller's answer must not wait for it)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_now(until)
        else:
            pending = loop.run_in_executor(None, self._write_now, until)
            self._writes.add(pending)
            pending.add_done_callback(self._writes.discard)

    async def settle(self) -> None:
        """Wait for the window file's writes still in a worker thread (the bridge stops)."""
        while self._writes:
            await asyncio.gather(*self._writes)

    def _write_now(self, until: float) -> None:
        try:
            write_open_until(self.path, until)
        except StateError as err:
            if not self._write_failed:
                _LOGGER.error("%s (the window is open all the same)", err)
            self._write_failed = True
        else:
            self._write_failed = False

    def _check_file(self) -> None:
        """Pick up a window opened by ``mihomekit pairing open`` (a changed file)."""
        until = read_open_until(self.path)
        if until is None or until == self._seen:
            return
        self._seen = until
        left = min(until - self._wall(), self.seconds)
        deadline = self._clock() + left
        if left > 0 and deadline > self._deadline + 1.0:  # (not our own write, read early)
            self._deadline = deadline
            _LOGGER.warning(
                "pairing window %s: opened with mihomekit pairing open", self.status().describe()
            )

    def is_open(self) -> bool:
        """True while pair-setup may start."""
        if self.always_open:
            return True
        self._check_file()
        return self._clock() < self._deadline

    def status(self) -> WindowStatus:
        if self.always_open:
            return WindowStatus(open=True, always=True)
        self._check_file()
        left = self._deadline - self._clock()
        if left <= 0:
            return WindowStatus(open=False)
        return WindowStatus(open=True, until=self._wall() + left)
