"""Tasmota MI32's removed commands as a mihomekit extension: a sensor's clock (MI32Time),
its display units (MI32Unit) and its battery (MI32Battery), over GATT.

Tasmota dropped these commands from its driver and left them to Berry scripts; this is
the same in Python. (The bridge can do clocks and batteries itself: ``[ble] set_clocks``
and ``battery_poll_hours``. This example shows how an extension talks to a sensor.)

    [[extensions]]
    module = "/etc/mihomekit/extensions/mi32_commands.py"
    [extensions.options]
    devices = ["A4:C1:38:12:34:56"]  # default: every LYWSD02, LYWSD03MMC and MHO-C401
    every = 86400                    # seconds between two rounds
    first = 60                       # seconds before the first round
    clock = true                     # set the clock to this host's time and time zone
    units = "c"                      # "c" or "f": the display units; "" leaves them
    battery = true                   # read the battery level into HomeKit

Each sensor is reached through the radio that hears it best, one connection at a time
(the queue ``mihomekit ble`` and the bridge's own jobs use). A sensor out of reach is
logged and tried again next round.
"""

from __future__ import annotations

import asyncio
import struct
import time

from mihomekit.extensions import DeviceInfo, ExtensionApi, GattError, GattLink

SERVICE = "ebe0ccb0-7a0a-4b0c-8a1a-6ff2997da3a6"
CLOCK = "ebe0ccb7-7a0a-4b0c-8a1a-6ff2997da3a6"  # uint32 UTC seconds + int8 hours from UTC
UNITS = "ebe0ccbe-7a0a-4b0c-8a1a-6ff2997da3a6"  # one byte
DATA = "ebe0ccc1-7a0a-4b0c-8a1a-6ff2997da3a6"  # notify: int16 °C x 100, humidity, uint16 mV
BATTERY = "ebe0ccc4-7a0a-4b0c-8a1a-6ff2997da3a6"  # LYWSD02: one byte, %
MODELS = ("LYWSD02", "LYWSD03MMC", "MHO-C401")
#: The units byte per model: (°C, °F).
UNIT_BYTES = {"LYWSD02": (b"\xff", b"\x01"), "LYWSD03MMC": (b"\x00", b"\x01")}


def clock_payload(now: float) -> bytes:
    """What the clock characteristic takes: UTC seconds and this host's offset in hours."""
    offset = time.localtime(now).tm_gmtoff // 3600
    return struct.pack("<Ib", int(now), offset)


def battery_from_millivolts(millivolts: int) -> int:
    """Tasmota's estimate for a CR2032: 2.1 V is empty, 3.3 V full."""
    return max(0, min(100, (millivolts - 2100) // 12))


class Commands:
    def __init__(self, api: ExtensionApi) -> None:
        self.api = api
        options = api.options
        self.only = {str(mac).upper() for mac in options.get("devices", [])}
        self.clock = bool(options.get("clock", True))
        self.units = str(options.get("units", "")).lower().lstrip("°")
        self.battery = bool(options.get("battery", True))
        #: What each round did, for the curious (and the tests).
        self.done: list[str] = []

    def sensors(self) -> list[DeviceInfo]:
        return [
            d
            for d in self.api.devices()
            if d.mac is not None
            and d.model in MODELS
            and (not self.only or d.mac in self.only)
            and d.age is not None  # heard since the start: it is in reach of a radio
        ]

    async def round(self) -> None:
        for sensor in self.sensors():
            try:
                async with self.api.connect(sensor.id) as link:
                    await self.commands(link, sensor)
            except GattError as err:
                self.api.log.warning("%s (%s): %s", sensor.name, sensor.mac, err)

    async def commands(self, link: GattLink, sensor: DeviceInfo) -> None:
        assert sensor.model is not None
        if self.clock:
            await link.write(SERVICE, CLOCK, clock_payload(time.time()))
            self.done.append(f"clock {sensor.mac}")
        if self.units in ("c", "f"):
            values = UNIT_BYTES.get(sensor.model, UNIT_BYTES["LYWSD03MMC"])
            await link.write(SERVICE, UNITS, values[0 if self.units == "c" else 1])
            self.done.append(f"units {sensor.mac}")
        if self.battery:
            level = await self.read_battery(link, sensor.model)
            self.api.set_values(sensor.id, {"battery": level})
            self.done.append(f"battery {sensor.mac} {level}")
            self.api.log.info("battery of %s: %d %%", sensor.name, level)

    async def read_battery(self, link: GattLink, model: str) -> int:
        if model == "LYWSD02":
            return (await link.read(SERVICE, BATTERY))[0]
        # LYWSD03MMC and MHO-C401: the voltage of the first data notification
        first: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        def take(data: bytes) -> None:
            if not first.done():
                first.set_result(data)

        await link.start_notify(SERVICE, DATA, take)
        try:
            data = await asyncio.wait_for(first, 15)
        except TimeoutError:
            raise GattError("no data notification in 15 s") from None
        return battery_from_millivolts(struct.unpack_from("<H", data, 3)[0])


def setup(api: ExtensionApi) -> Commands:
    commands = Commands(api)
    every = float(api.options.get("every", 86400))
    api.every(every, commands.round, first=float(api.options.get("first", 60)))
    return commands
