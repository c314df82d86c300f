"""The two example extensions in ``examples/``, loaded by the bridge ``mihomekit run`` builds,
against advertisements and sensors of the BlueZ stand-in: the iBeacon and tag scanner, and
Tasmota MI32's removed commands (clock, units, battery over GATT)."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from pathlib import Path

import pytest
from bluez_fake import FakeBluez
from bridge_helpers import planned_app
from mi_peripherals import CLOCK, DATA, UNITS, MmcSensor, lywsd03_data, on_bluez
from mqtt_helpers import until
from presence_helpers import APPLE, ibeacon_data, make_rpa
from repo import ROOT
from run_helpers import settings_args
from sensor_air import Beacons, on_air

pytestmark = pytest.mark.timeout(90)

THERMO = "A4:C1:38:12:34:56"  # LYWSD03MMC
CLOCK_02 = "E7:2E:00:12:34:57"  # LYWSD02
BEACON = "fda50693-a4e2-4fb1-afcf-c6eb07647825"


def bridge(tmp_path: Path, extension: str, options: str, devices: list[tuple[str, int]]):  # type: ignore[no-untyped-def]
    mi32cfg = tmp_path / "mi32cfg.json"
    mi32cfg.write_text(
        json.dumps([{"MAC": m.replace(":", ""), "PID": f"{p:04x}", "key": ""} for m, p in devices]),
        encoding="utf-8",
    )
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(
        f'[ble]\nadapter = "hci0"\n[web]\nenabled = false\n'
        f'[[extensions]]\nmodule = "{ROOT / "examples" / extension}"\n'
        f"[extensions.options]\n{options}\n",
        encoding="utf-8",
    )
    return planned_app(settings_args(settings, tmp_path / "state", mi32cfg=mi32cfg))


async def test_the_beacon_scanner_lists_beacons_and_tags_once(
    tmp_path: Path, bluez: FakeBluez, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mihomekit.extensions")
    app = bridge(tmp_path, "beacon_scanner.py", "report_every = 0.5", [(THERMO, 0x055B)])
    await app.start()
    phone = make_rpa(bytes(range(16)), 0x0BCDEF)
    try:
        sensor = Beacons(THERMO)
        for n in range(12):
            rssi = -60 - n % 2
            bluez.advertise(
                "D0:11:22:33:44:55",
                manufacturer_data={APPLE: ibeacon_data(BEACON, 3, 4)},
                rssi=rssi,
            )
            bluez.advertise(
                "C8:FD:19:AA:BB:CC", name="Tile", manufacturer_data={0x067C: b"\x01"}, rssi=rssi
            )
            bluez.advertise(
                phone, manufacturer_data={APPLE: bytes.fromhex("100501184400")}, rssi=rssi
            )
            bluez.advertise(THERMO, service_data={0xFE95: sensor.frame()}, rssi=rssi)
            await asyncio.sleep(0.05)

        def lines(text: str) -> list[str]:
            return [r.getMessage() for r in caplog.records if text in r.getMessage()]

        await until(lambda: lines("heard 1 iBeacons, 1 tags and 1 private"), "the report")
        beacon = lines(f"new ibeacon {BEACON}:3:4")
        assert len(beacon) == 1 and f'ibeacon = "{BEACON}:3:4"' in beacon[0]
        tag = lines("new tag C8:FD:19:AA:BB:CC 'Tile'")
        assert len(tag) == 1 and 'mac = "C8:FD:19:AA:BB:CC"' in tag[0]
        assert not lines(f"new tag {THERMO}")  # a sensor is not a tag
        assert not lines(f"new tag {phone}")  # a phone is counted, not listed
        assert app.registry.get(THERMO.replace(":", "")).values  # type: ignore[union-attr]
    finally:
        await app.stop()


async def test_the_mi32_commands_set_clocks_and_units_and_read_batteries(
    tmp_path: Path, bluez: FakeBluez
) -> None:
    lywsd03 = MmcSensor(data=lywsd03_data(21.5, 48, 3000))  # 3.0 V: (3000-2100)/12 = 75 %
    lywsd02 = MmcSensor(battery=64)
    thermo_peripheral = on_bluez(bluez, THERMO, lywsd03)
    on_bluez(bluez, CLOCK_02, lywsd02)

    async def pump() -> None:  # the LYWSD03MMC notifies its data every few seconds
        while True:
            thermo_peripheral.notify(DATA, lywsd03.data)
            await asyncio.sleep(0.05)

    options = 'every = 30\nfirst = 0.5\nunits = "f"'
    app = bridge(tmp_path, "mi32_commands.py", options, [(THERMO, 0x055B), (CLOCK_02, 0x045B)])

    def send(mac: str, data: bytes) -> None:
        bluez.advertise(mac, service_data={0xFE95: data})

    await app.start()
    notifying = asyncio.create_task(pump())
    try:
        async with on_air(send, Beacons(THERMO)), on_air(send, Beacons(CLOCK_02, 0x045B)):
            thermo, clock = (
                app.registry.get(THERMO.replace(":", "")),
                app.registry.get(CLOCK_02.replace(":", "")),
            )
            assert thermo is not None and clock is not None
            await until(lambda: thermo.values.get("battery") == 75, "the LYWSD03MMC's battery", 30)
            await until(lambda: clock.values.get("battery") == 64, "the LYWSD02's battery", 30)
    finally:
        notifying.cancel()
        await app.stop()
    for sensor, fahrenheit in ((lywsd03, b"\x01"), (lywsd02, b"\x01")):
        (written,) = sensor.writes_to(CLOCK)
        seconds, _offset = struct.unpack("<Ib", written)
        assert abs(seconds - time.time()) < 60
        assert sensor.writes_to(UNITS) == [fahrenheit]
