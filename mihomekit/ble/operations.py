"""What a model's characteristics mean: clock and unit payloads, battery levels. Pure.

The characteristics themselves are data in the device catalog
(:class:`~mihomekit.catalog.GattProfile`); this module only turns values into bytes and
bytes into values.
"""

from __future__ import annotations

import re
import struct
import time

from mihomekit.catalog import DeviceModel, GattBattery, GattProfile
from mihomekit.errors import MihomekitError

__all__ = [
    "OperationError",
    "battery_percent",
    "clock_payload",
    "local_utc_offset",
    "normalize_uuid",
    "profile_of",
    "unit_payload",
]

#: Unit names accepted for :func:`unit_payload`.
UNITS = ("c", "f")
_BASE_UUID = "-0000-1000-8000-00805f9b34fb"
_UUID128 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_UUID_SHORT = re.compile(r"(?:0x)?([0-9a-f]{4}|[0-9a-f]{8})")


class OperationError(MihomekitError):
    """An operation the model does not offer, or a value it cannot be given."""


def profile_of(model: DeviceModel, what: str) -> GattProfile:
    """The model's GATT profile; :class:`OperationError` naming ``what`` if it has none."""
    if model.gatt is None:
        raise OperationError(f"{model.model} offers no {what} mihomekit knows how to reach")
    return model.gatt


def local_utc_offset(now: float | None = None) -> int:
    """This host's UTC offset in seconds at ``now`` (daylight saving time included)."""
    return time.localtime(time.time() if now is None else now).tm_gmtoff


def clock_payload(now: float, utc_offset: int) -> bytes:
    """The clock value: UTC seconds (4 bytes, little-endian) and the offset in whole hours.

    Offsets that are not whole hours are cut toward zero (the clock has no finer field).
    """
    hours = int(utc_offset / 3600)
    if not -12 <= hours <= 14:
        raise OperationError(f"a UTC offset of {hours} hours is out of range")
    return struct.pack("<Ib", int(now) & 0xFFFFFFFF, hours)


def unit_payload(profile: GattProfile, unit: str, model: str = "this model") -> bytes:
    """The byte that sets the display to ``unit`` (``"c"`` or ``"f"``)."""
    if profile.units is None or profile.unit_values is None:
        raise OperationError(f"{model} has no display unit setting mihomekit knows")
    choice = unit.strip().lower().lstrip("°")
    if choice not in UNITS:
        raise OperationError(f"the unit must be c or f, not {unit!r}")
    return profile.unit_values[UNITS.index(choice)]


def battery_percent(battery: GattBattery, data: bytes) -> int:
    """The battery level (0-100) in a value read or notified from ``battery.at``."""
    if battery.kind == "millivolts":
        end = battery.offset + 2
        if len(data) < end:
            raise OperationError(f"the battery value has {len(data)} bytes, expected {end}")
        millivolts = int.from_bytes(data[battery.offset : end], "little")
        return max(0, min(100, round((millivolts - 2100) / 12)))
    if len(data) <= battery.offset:
        raise OperationError(
            f"the battery value has {len(data)} bytes, expected {battery.offset + 1}"
        )
    level = data[battery.offset]
    if level > 100:
        raise OperationError(f"the sensor reports a battery level of {level} %")
    return level


def normalize_uuid(text: str) -> str:
    """A UUID as bleak and the catalog write it: 128-bit, lower case.

    ``fe95``, ``0xFE95`` and ``0000fe95`` (16 and 32 bits, on the Bluetooth base UUID) and
    full UUIDs are accepted; :class:`OperationError` for anything else.
    """
    value = text.strip().lower()
    if _UUID128.fullmatch(value):
        return value
    short = _UUID_SHORT.fullmatch(value)
    if short:
        return short.group(1).rjust(8, "0") + _BASE_UUID
    raise OperationError(f"not a UUID: {text!r} (give fe95, 0x2a19 or a full 128-bit UUID)")
