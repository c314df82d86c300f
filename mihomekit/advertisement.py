"""One BLE advertisement as a receiver heard it: the unit every BLE source hands on."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["LOCAL_RECEIVER", "Advertisement", "AdvertisementSink"]

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
