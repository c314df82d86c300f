"""Everything that feeds the registry, behind one :class:`Source` protocol.

* :mod:`.ble`: the local radio (bleak); :mod:`.recording`: recordings and their replay;
* :mod:`.esphome` and :mod:`.mqtt_receivers`: radios elsewhere in the house;
* :mod:`.gateway` and :mod:`.miio`: Aqara gateways on the LAN; :mod:`.zigbee2mqtt`;
* :mod:`.device_list`: the mi32cfg, kept in step with the registry while running.

A source writes only to the registry's narrow side
(:class:`~mihomekit.registry.DeviceSink`): a BLE source hands each advertisement on as an
:class:`Advertisement` (the sensor's address, its service data by UUID and manufacturer
data by company id, the RSSI, which receiver heard it and when); a source that knows its
devices announces them and sends their readings. No source reaches HomeKit, the outputs
or the running app. Every source keeps a :class:`SourceStatus` that ``mihomekit scan``,
the logs and the dashboard read.

This module stays free of heavy imports so that replaying a recording does not load bleak.
"""

from __future__ import annotations

from typing import Protocol

from mihomekit.advertisement import LOCAL_RECEIVER, Advertisement, AdvertisementSink
from mihomekit.status import SourceStatus

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
