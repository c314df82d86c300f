"""The 24-hour reception strip: in which of the last 24 hours each device was heard.

One cell per clock hour (hours since the epoch, so no daylight-saving jumps), the newest
last. Unlike Tasmota's strip (indexed by hour of day, the coming hour cleared ahead), this
one rolls: the last cell is the current hour, filled as soon as the device is heard in it.

Kept in ``reception.json`` in the state directory, written atomically when it changed
(at most every :data:`SAVE_INTERVAL` seconds, and at stop)::

    {"version": 1, "hours": {"A4C138DE0001": [493210, 493211, ...]}}
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from mihomekit.atomicfile import write_atomic

__all__ = ["HOURS", "RECEPTION_FILE", "SAVE_INTERVAL", "ReceptionLog"]

_LOGGER = logging.getLogger(__name__)

RECEPTION_FILE = "reception.json"
HOURS = 24
#: A changed strip is on disk within this many seconds.
SAVE_INTERVAL = 60.0


def _hour(when: float) -> int:
    return int(when // 3600)


class ReceptionLog:
    """Per device, the hours (of the last :data:`HOURS`) it was heard in."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._hours: dict[str, set[int]] = {}
        self._last: dict[str, int] = {}
        self.dirty = False
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as err:
            _LOGGER.warning("%s unreadable (%s); the reception strips start empty", self.path, err)
            return
        try:
            data = json.loads(text)
            hours = data["hours"]
            if not isinstance(hours, dict):
                raise TypeError("hours is not an object")
            now = _hour(self._clock())
            for device_id, cells in hours.items():
                kept = {
                    int(h)
                    for h in cells
                    if isinstance(h, int) and not isinstance(h, bool) and now - HOURS < h <= now
                }
                if isinstance(device_id, str) and kept:
                    self._hours[device_id] = kept
                    self._last[device_id] = max(kept)
        except (ValueError, KeyError, TypeError) as err:
            _LOGGER.warning("%s is not a reception file (%s); strips start empty", self.path, err)
            self._hours.clear()
            self._last.clear()

    def heard(self, device_id: str) -> None:
        """Note that ``device_id`` was heard now (cheap when already noted this hour)."""
        hour = _hour(self._clock())
        if self._last.get(device_id) == hour:
            return
        self._last[device_id] = hour
        cells = self._hours.setdefault(device_id, set())
        cells.add(hour)
        for old in [h for h in cells if h <= hour - HOURS]:
            cells.discard(old)
        self.dirty = True

    def strip(self, device_id: str) -> list[bool]:
        """:data:`HOURS` cells, oldest first; the last one is the current hour."""
        now = _hour(self._clock())
        cells = self._hours.get(device_id, set())
        return [now - offset in cells for offset in range(HOURS - 1, -1, -1)]

    def forget(self, device_id: str) -> None:
        if self._hours.pop(device_id, None) is not None:
            self._last.pop(device_id, None)
            self.dirty = True

    def save(self) -> bool:
        """Write the strips if they changed; False (logged) if the write failed."""
        if not self.dirty:
            return True
        now = _hour(self._clock())
        hours = {
            device_id: kept
            for device_id, cells in sorted(self._hours.items())
            if (kept := sorted(h for h in cells if h > now - HOURS))
        }
        text = json.dumps({"version": 1, "hours": hours}, separators=(",", ":"))
        try:
            write_atomic(self.path, text)
        except OSError as err:
            _LOGGER.error("cannot save the reception strips to %s: %s", self.path, err)
            return False
        self.dirty = False
        return True
