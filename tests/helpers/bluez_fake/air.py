"""What a sensor sends on air: one advertisement, its AD structures, BlueZ's or_pattern match."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

BASE_UUID = "0000{:04x}-0000-1000-8000-00805f9b34fb"
_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"

AD_FLAGS = 0x01
AD_UUID16_COMPLETE = 0x03
AD_UUID128_COMPLETE = 0x07
AD_NAME_COMPLETE = 0x09
AD_TX_POWER = 0x0A
AD_SERVICE_DATA16 = 0x16
AD_SERVICE_DATA128 = 0x21
AD_MANUFACTURER = 0xFF


def full_uuid(value: int | str) -> str:
    """A 16-bit UUID or any UUID text as BlueZ writes it (128-bit, lower case)."""
    if isinstance(value, int):
        return BASE_UUID.format(value)
    text = value.lower()
    if len(text) == 4:
        return BASE_UUID.format(int(text, 16))
    return str(uuidlib.UUID(text))


def short_uuid(value: str) -> int | None:
    """The 16-bit form of a Bluetooth base UUID, else None."""
    if value.startswith("0000") and value.endswith(_BASE_SUFFIX):
        return int(value[4:8], 16)
    return None


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One advertisement as a device sends it (keys of ``service_data``: 16-bit int or UUID)."""

    address: str
    service_data: Mapping[int | str, bytes] = field(default_factory=dict)
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    rssi: int = -60
    name: str | None = None
    service_uuids: tuple[str, ...] = ()
    tx_power: int | None = None
    address_type: str = "public"
    flags: int | None = 0x06

    def service_data_by_uuid(self) -> dict[str, bytes]:
        return {full_uuid(key): bytes(data) for key, data in self.service_data.items()}

    def structures(self) -> list[tuple[int, bytes]]:
        """The AD structures (type, content) this advertisement carries."""
        out: list[tuple[int, bytes]] = []
        if self.flags is not None:
            out.append((AD_FLAGS, bytes([self.flags])))
        shorts = [short_uuid(full_uuid(u)) for u in self.service_uuids]
        uuid16 = b"".join(s.to_bytes(2, "little") for s in shorts if s is not None)
        if uuid16:
            out.append((AD_UUID16_COMPLETE, uuid16))
        for text in self.service_uuids:
            if short_uuid(full_uuid(text)) is None:
                out.append((AD_UUID128_COMPLETE, uuidlib.UUID(full_uuid(text)).bytes[::-1]))
        if self.name is not None:
            out.append((AD_NAME_COMPLETE, self.name.encode()))
        if self.tx_power is not None:
            out.append((AD_TX_POWER, (self.tx_power & 0xFF).to_bytes(1, "little")))
        for text, data in self.service_data_by_uuid().items():
            short = short_uuid(text)
            if short is not None:
                out.append((AD_SERVICE_DATA16, short.to_bytes(2, "little") + data))
            else:
                out.append((AD_SERVICE_DATA128, uuidlib.UUID(text).bytes[::-1] + data))
        for company, data in self.manufacturer_data.items():
            out.append((AD_MANUFACTURER, company.to_bytes(2, "little") + bytes(data)))
        return out

    def advertised_uuids(self) -> set[str]:
        """Service UUIDs and service-data UUIDs (what a discovery filter's UUIDs match)."""
        return {full_uuid(u) for u in self.service_uuids} | set(self.service_data_by_uuid())


Pattern = tuple[int, int, bytes]


def matches(patterns: Iterable[Pattern], adv: Advertisement) -> bool:
    """True if one or-pattern (start, AD type, content) matches one AD structure's content."""
    structures = adv.structures()
    for start, ad_type, content in patterns:
        for kind, data in structures:
            if kind == ad_type and data[start : start + len(content)] == bytes(content):
                return True
    return False
