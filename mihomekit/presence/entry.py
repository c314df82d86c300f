"""One ``[[presence]]`` entry: what the settings read and the tracker follows."""

from __future__ import annotations

from dataclasses import dataclass

from .ibeacon import IBeaconId

__all__ = ["AWAY_AFTER", "PresenceSettings"]

#: ``[[presence]] away_after`` by default (seconds without an advertisement).
AWAY_AFTER = 180.0


@dataclass(frozen=True, slots=True)
class PresenceSettings:
    """One ``[[presence]]`` entry: a tag, an iBeacon or a phone whose presence is a sensor.

    Exactly one of ``mac`` (a fixed address), ``ibeacon`` and ``irk`` (the Identity
    Resolving Key of a device with rotating private addresses, 16 bytes) is set.
    """

    name: str
    mac: str | None = None
    ibeacon: IBeaconId | None = None
    irk: bytes | None = None
    #: Seconds without an advertisement after which it is away.
    away_after: float = AWAY_AFTER
    #: Also say which receiver (room) hears it best.
    rooms: bool = False
