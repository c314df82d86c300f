"""Everything that feeds the registry, behind one :class:`Source` protocol.

* :mod:`.ble`: the local radio (bleak); :mod:`.recording`: recordings and their replay;
* :mod:`.gateway` and :mod:`.miio`: Aqara gateways on the LAN;
* remote receivers and Zigbee2MQTT (one module each).

A BLE source hands each advertisement to an :data:`AdvertisementSink` as an
:class:`Advertisement`: the sensor's address, its service data by UUID (and its
manufacturer data by company id), the RSSI, which receiver heard it and when. Every source
keeps a :class:`SourceStatus` that ``mihomekit scan``, the logs and the dashboard read.

This module stays free of heavy imports so that replaying a recording does not load bleak.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

#: The receiver id of this host's own radio.
LOCAL_RECEIVER = "local"


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One advertisement as a receiver heard it.

    ``mac`` in display order and upper case (``"A4:C1:38:12:34:56"``); ``service_data``
    maps 16-bit service UUIDs (``0xFE95``) to the bytes after the UUID;
    ``manufacturer_data`` maps company ids to the bytes after the id; ``rssi`` in dBm when
    known; ``receiver`` names the radio that heard it (:data:`LOCAL_RECEIVER` for this
    host's); ``time`` is the receiver's monotonic time in seconds (0 when unknown).
    """

    mac: str
    service_data: Mapping[int, bytes]
    rssi: int | None = None
    receiver: str = LOCAL_RECEIVER
    time: float = 0.0
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)


#: ``sink(advertisement)``. Sinks run on the event loop for every advertisement, so they
#: must be quick and must not block.
AdvertisementSink = Callable[[Advertisement], object]

#: 16-bit service UUIDs that carry Xiaomi and Xiaomi-compatible sensor data: MiBeacon
#: (0xFE95), ATC1441/pvvx custom firmware and b-parasite (0x181A), Qingping (0xFDCD,
#: 0xFFF9), BTHome v2 (0xFCD2) and v1 (0x181C, 0x181E), the HHCCJCY10 plant sensor (0xFD50)
#: and the Mi scales (0x181D, 0x181B). ``tests/test_registry.py`` checks this list and
#: :data:`SENSOR_COMPANY_IDS` against the decoders.
SENSOR_SERVICE_UUIDS: tuple[int, ...] = (
    0xFE95,
    0x181A,
    0xFDCD,
    0xFFF9,
    0xFCD2,
    0x181C,
    0x181E,
    0xFD50,
    0x181D,
    0x181B,
)


#: Bluetooth company ids whose manufacturer data a decoder reads
#: (:data:`mihomekit.decoders.COMPANY_IDS`, kept here so that sources need not import the
#: decoders); a radio forwards an advertisement with only manufacturer data when its
#: company id is listed here.
SENSOR_COMPANY_IDS: frozenset[int] = frozenset()


def uuid16_to_str(uuid: int) -> str:
    """The full 128-bit UUID string (as bleak reports service data keys) for a 16-bit UUID."""
    return f"0000{uuid:04x}-0000-1000-8000-00805f9b34fb"


@dataclass(slots=True)
class SourceStatus:
    """How a source is doing: kept by the source, read by ``scan``, logs and dashboard.

    ``since`` is the wall-clock time ``connected`` last changed (None before the first
    attempt); ``advertisements`` counts what the source received (advertisements or
    messages), ``errors`` what it could not use or do; ``last_error`` says why, in words.
    """

    kind: str
    name: str
    connected: bool = False
    since: float | None = None
    advertisements: int = 0
    errors: int = 0
    last_error: str | None = None

    def set_connected(self, connected: bool, *, error: str | None = None) -> bool:
        """Record a (dis)connection; True if the state changed. ``error`` counts as one."""
        if error is not None:
            self.error(error)
        if connected == self.connected and self.since is not None:
            return False
        self.connected = connected
        self.since = time.time()
        return True

    def error(self, reason: str) -> None:
        """Count one error and remember why."""
        self.errors += 1
        self.last_error = reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "connected": self.connected,
            "since": self.since,
            "advertisements": self.advertisements,
            "errors": self.errors,
            "last_error": self.last_error,
        }


class Source(Protocol):
    """Something that feeds the registry: a radio, a replay, a receiver, a gateway."""

    @property
    def status(self) -> SourceStatus: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


__all__ = [
    "LOCAL_RECEIVER",
    "SENSOR_COMPANY_IDS",
    "SENSOR_SERVICE_UUIDS",
    "Advertisement",
    "AdvertisementSink",
    "Source",
    "SourceStatus",
    "uuid16_to_str",
]
