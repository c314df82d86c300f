"""Which receiver hears a tag best, with hysteresis so the room does not flap.

Pure: time comes from the caller. Each receiver's RSSI is smoothed (an exponential
moving average, so one strong or weak advertisement moves it only part way). The room
stays where it is until another receiver is heard at least ``margin`` dB louder than the
current one (both smoothed), or the current one has not heard the tag for ``window``
seconds; then the loudest receiver heard within ``window`` takes over.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MARGIN", "SMOOTHING", "WINDOW", "RoomChooser"]

#: How much louder (dB) another receiver must hear the tag to take the room over.
MARGIN = 6.0
#: A receiver that has not heard the tag for this many seconds no longer counts.
WINDOW = 30.0
#: Weight of a new RSSI in the moving average.
SMOOTHING = 0.3


@dataclass(slots=True)
class _Heard:
    rssi: float
    seen: float


class RoomChooser:
    """The receiver (room) a tag is heard best by, once it has been heard."""

    def __init__(
        self, *, margin: float = MARGIN, window: float = WINDOW, smoothing: float = SMOOTHING
    ) -> None:
        self.margin = margin
        self.window = window
        self.smoothing = smoothing
        self._heard: dict[str, _Heard] = {}
        #: The receiver chosen, None before the tag was heard with an RSSI.
        self.room: str | None = None

    def heard(self, receiver: str, rssi: int | None, now: float) -> str | None:
        """Note one advertisement; returns the room (changed or not)."""
        if rssi is None:
            return self.room
        known = self._heard.get(receiver)
        if known is None:
            self._heard[receiver] = _Heard(float(rssi), now)
        else:
            known.rssi += self.smoothing * (rssi - known.rssi)
            known.seen = now
        self.room = self._choose(now)
        return self.room

    def _choose(self, now: float) -> str | None:
        recent = {
            name: heard.rssi
            for name, heard in self._heard.items()
            if now - heard.seen <= self.window
        }
        for name in [n for n in self._heard if n not in recent]:
            del self._heard[name]  # forgotten: the table stays as small as the house
        if not recent:
            return self.room
        best = max(recent, key=lambda name: recent[name])
        current = self.room
        if current is None or current not in recent:
            return best
        if recent[best] >= recent[current] + self.margin:
            return best
        return current
