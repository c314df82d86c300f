"""iBeacons: Apple's manufacturer data ``02 15`` + UUID + major + minor + measured power.

Pure: no I/O. An iBeacon advertises manufacturer data of company 0x004C (Apple) whose
first two bytes are ``02`` (type: iBeacon) and ``15`` (21 bytes follow): the 16-byte
proximity UUID, the major and the minor (big-endian 16-bit numbers) and the signed
measured power at 1 m (dBm).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["APPLE", "IBeacon", "IBeaconId", "parse_ibeacon", "parse_ibeacon_id"]

#: Apple's Bluetooth company id.
APPLE = 0x004C
_PREFIX = b"\x02\x15"


@dataclass(frozen=True, slots=True)
class IBeacon:
    """What one iBeacon advertisement says (``uuid`` lower-case text)."""

    uuid: str
    major: int
    minor: int
    power: int

    @property
    def id(self) -> str:
        """``UUID:MAJOR:MINOR``, the form ``[[presence]] ibeacon`` takes."""
        return f"{self.uuid}:{self.major}:{self.minor}"


@dataclass(frozen=True, slots=True)
class IBeaconId:
    """Which iBeacons an entry means: a UUID, and the major and minor when given."""

    uuid: str
    major: int | None = None
    minor: int | None = None

    def matches(self, beacon: IBeacon) -> bool:
        return (
            beacon.uuid == self.uuid
            and (self.major is None or beacon.major == self.major)
            and (self.minor is None or beacon.minor == self.minor)
        )

    def __str__(self) -> str:
        parts = [self.uuid]
        if self.major is not None:
            parts.append(str(self.major))
            if self.minor is not None:
                parts.append(str(self.minor))
        return ":".join(parts)


def parse_ibeacon(manufacturer_data: Mapping[int, bytes]) -> IBeacon | None:
    """The iBeacon in an advertisement's manufacturer data, or None."""
    data = manufacturer_data.get(APPLE)
    if data is None or len(data) < 23 or data[:2] != _PREFIX:
        return None
    power = data[22]
    return IBeacon(
        str(uuidlib.UUID(bytes=bytes(data[2:18]))),
        int.from_bytes(data[18:20], "big"),
        int.from_bytes(data[20:22], "big"),
        power - 256 if power > 127 else power,
    )


def parse_ibeacon_id(text: str) -> IBeaconId:
    """``"UUID:MAJOR:MINOR"`` (major and minor optional, 0-65535); ValueError saying why."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"expected UUID:MAJOR:MINOR, got {text!r}")
    try:
        beacon_uuid = str(uuidlib.UUID(parts[0].strip()))
    except ValueError:
        raise ValueError(f"not a UUID: {parts[0]!r} (expected UUID:MAJOR:MINOR)") from None
    numbers: list[int] = []
    for label, part in zip(("major", "minor"), parts[1:], strict=False):
        try:
            number = int(part.strip())
        except ValueError:
            raise ValueError(f"the {label} must be a number, got {part!r}") from None
        if not 0 <= number <= 0xFFFF:
            raise ValueError(f"the {label} must be between 0 and 65535, got {number}")
        numbers.append(number)
    return IBeaconId(
        beacon_uuid,
        numbers[0] if numbers else None,
        numbers[1] if len(numbers) > 1 else None,
    )
