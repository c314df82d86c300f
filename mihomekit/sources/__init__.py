"""Sources of BLE advertisements: the radio (:mod:`.ble`) and recordings (:mod:`.recording`).

Every source hands each interesting service-data entry to an :data:`AdvertisementSink`.
This module stays free of heavy imports so that replaying a recording does not load bleak.
"""

from __future__ import annotations

from collections.abc import Callable

#: ``sink(mac, service_uuid, data, rssi)``: ``mac`` in display order and upper case
#: (``"A4:C1:38:12:34:56"``), ``service_uuid`` the 16-bit UUID (``0xFE95``), ``data`` the
#: service data after the UUID bytes, ``rssi`` in dBm when known. Sinks run on the event
#: loop for every advertisement, so they must be quick and must not block.
AdvertisementSink = Callable[[str, int, bytes, int | None], object]

#: 16-bit service UUIDs that carry Xiaomi and Xiaomi-compatible sensor data: MiBeacon,
#: ATC1441/pvvx custom firmware, Qingping, BTHome v2, the HHCCJCY10 plant sensor and the
#: Mi scales.
SENSOR_SERVICE_UUIDS: tuple[int, ...] = (0xFE95, 0x181A, 0xFDCD, 0xFCD2, 0xFD50, 0x181D, 0x181B)


def uuid16_to_str(uuid: int) -> str:
    """The full 128-bit UUID string (as bleak reports service data keys) for a 16-bit UUID."""
    return f"0000{uuid:04x}-0000-1000-8000-00805f9b34fb"


__all__ = ["SENSOR_SERVICE_UUIDS", "AdvertisementSink", "uuid16_to_str"]
