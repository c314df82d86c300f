"""Model operations over an open connection: set the clock, set the display units, read
the battery. What to write where comes from the model's catalog entry (its ``gatt``)."""

from __future__ import annotations

import asyncio

from mihomekit.catalog import DeviceModel, GattBattery

from .link import GattError, GattLink
from .operations import (
    OperationError,
    battery_percent,
    clock_payload,
    profile_of,
    unit_payload,
)

__all__ = ["read_battery", "set_clock", "set_units"]


async def set_clock(link: GattLink, model: DeviceModel, now: float, utc_offset: int) -> bytes:
    """Write the time ``now`` (UTC seconds) and the offset; returns the bytes written."""
    profile = profile_of(model, "clock")
    if profile.clock is None:
        raise OperationError(f"{model.model} has no clock mihomekit knows how to set")
    payload = clock_payload(now, utc_offset)
    await link.write(profile.clock.service, profile.clock.char, payload, response=True)
    return payload


async def set_units(link: GattLink, model: DeviceModel, unit: str) -> bytes:
    """Switch the display to ``unit`` (``c`` or ``f``); returns the byte written."""
    profile = profile_of(model, "display units")
    payload = unit_payload(profile, unit, model.model)
    assert profile.units is not None
    await link.write(profile.units.service, profile.units.char, payload, response=True)
    return payload


async def read_battery(link: GattLink, model: DeviceModel, *, timeout: float = 15.0) -> int:
    """The battery level in %, read or taken from the first notification."""
    profile = profile_of(model, "battery level")
    battery = profile.battery
    if battery is None:
        raise OperationError(f"{model.model} has no battery level mihomekit knows how to read")
    return battery_percent(battery, await _battery_value(link, battery, timeout))


async def _battery_value(link: GattLink, battery: GattBattery, timeout: float) -> bytes:
    at = battery.at
    if battery.how == "read":
        return await link.read(at.service, at.char)
    loop = asyncio.get_running_loop()
    first: asyncio.Future[bytes] = loop.create_future()

    def take(data: bytes) -> None:
        if not first.done():
            first.set_result(data)

    await link.start_notify(at.service, at.char, take)
    try:
        return await asyncio.wait_for(first, timeout)
    except TimeoutError:
        raise GattError(f"no notification from {at.char} in {timeout:g} s") from None
