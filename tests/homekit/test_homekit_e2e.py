"""End to end: the bridge on 127.0.0.1, a real HomeKit controller (aiohomekit) pairing with it.

Covers pairing with the MAC-derived code, the accessory listing, events for replayed
advertisements (alert events immediately), and a restart that keeps the pairing, the aids
and the last values.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from bridge_helpers import SETUP_CODE, bridge_config
from homekit_helpers import (
    AccessoryView,
    EventLog,
    assert_sent_immediately,
    controller_on_loopback,
    free_port,
    pair,
)

from mihomekit import __version__
from mihomekit.app import App
from mihomekit.decoders import build
from mihomekit.mi32cfg import DeviceEntry

KEY_TH = bytes.fromhex("e9ea895fac7eea6d30532432a516f3a3")
KEY_DOOR = bytes.fromhex("0123456789abcdef0123456789abcdef")
KEY_LEAK = bytes.fromhex("fedcba9876543210fedcba9876543210")

TH = DeviceEntry(mac="A4C138112233", pid=0x055B, key=KEY_TH)
MOTION = DeviceEntry(mac="F8244120AABB", pid=0x07F6, key=None, name="Hallway")
DOOR = DeviceEntry(mac="E4AAEC000001", pid=0x098B, key=KEY_DOOR)
LEAK = DeviceEntry(mac="50EC50000002", pid=0x0863, key=KEY_LEAK)
REMOTE = DeviceEntry(mac="F82441000003", pid=0x0153, key=None)
FLORA = DeviceEntry(mac="C47C8D000004", pid=0x0098, key=None)
ATC = DeviceEntry(mac="A4C138445566", pid=0x0A1C, key=None)
ENTRIES = [TH, MOTION, DOOR, LEAK, REMOTE, FLORA, ATC]


def _mac(entry: DeviceEntry) -> str:
    return entry.display_mac


def _th_frame(counter: int, temperature: float) -> bytes:
    return build.mibeacon_frame(
        0x055B,
        counter,
        [(0x1004, struct.pack("<h", round(temperature * 10)))],
        mac=_mac(TH),
        key=KEY_TH,
        ext_counter=counter,
    )


def _feed(app: App, entry: DeviceEntry, data: bytes, uuid: int = 0xFE95) -> None:
    app.registry.handle_advertisement(_mac(entry), uuid, data, -60)


@asynccontextmanager
async def paired(tmp_path: Path, entries: list[DeviceEntry]) -> AsyncIterator[tuple[App, Any]]:
    """A bridge of ``entries`` on 127.0.0.1 and a controller paired with it."""
    app = App(bridge_config(tmp_path, free_port(), entries))
    await app.start()
    try:
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, SETUP_CODE)
            try:
                yield app, pairing
            finally:
                await pairing.close()
    finally:
        await app.stop()


@pytest.mark.timeout(60)
async def test_the_pink_plant_sensor_under_its_own_id(tmp_path: Path) -> None:
    """An HHCCJCY10 listed under mihomekit's id fd50 shows what its frames carry."""
    plant = DeviceEntry(mac="C47C8D000010", pid=0xFD50, key=None)
    async with paired(tmp_path, [plant]) as (app, pairing):
        view = AccessoryView(await pairing.list_accessories_and_characteristics())
        aid = view.aid_by_serial(_mac(plant))
        assert view.info(aid)["Model"] == "HHCCJCY10"
        chars = {
            "temperature": (aid, view.iid(aid, "TemperatureSensor", "CurrentTemperature")),
            "light": (aid, view.iid(aid, "LightSensor", "CurrentAmbientLightLevel")),
            "moisture": (aid, view.iid(aid, "HumiditySensor", "CurrentRelativeHumidity")),
            "battery": (aid, view.iid(aid, "BatteryService", "BatteryLevel")),
        }
        _feed(app, plant, build.hhccjcy10_frame(38, 22.4, 1250, 91, 410), uuid=0xFD50)
        read = await pairing.get_characteristics(list(chars.values()))
        assert {name: read[key]["value"] for name, key in chars.items()} == {
            "temperature": 22.4,
            "light": 1250,
            "moisture": 38,
            "battery": 91,
        }


@pytest.mark.timeout(60)
async def test_an_air_monitor_shows_co2_and_air_quality(tmp_path: Path) -> None:
    """A Qingping Air Monitor Lite (CGDN1) filed under the CGD1's id, as scan --write files
    it: its first frame brings a CarbonDioxideSensor and AirQualitySensors for PM2.5 and
    PM10 after the services it had, which a paired controller reads, graded."""
    monitor = DeviceEntry(mac="582D34000011", pid=0x0576, key=None)
    async with paired(tmp_path, [monitor]) as (app, pairing):
        before = AccessoryView(await pairing.list_accessories_and_characteristics())
        aid = before.aid_by_serial(_mac(monitor))
        temperature = before.iid(aid, "TemperatureSensor", "CurrentTemperature")
        battery = before.iid(aid, "BatteryService", "BatteryLevel")
        frame = build.qingping_frame(
            _mac(monitor),
            0x0E,  # CGDN1
            [
                (0x01, struct.pack("<hH", 231, 456)),
                (0x12, struct.pack("<HH", 41, 60)),  # PM2.5, PM10 µg/m³
                (0x13, struct.pack("<H", 1320)),  # CO2 ppm
            ],
        )
        _feed(app, monitor, frame, uuid=0xFDCD)
        # The accessory grew at once: the listing is read again.
        view = AccessoryView(await pairing.list_accessories_and_characteristics())
        assert view.iid(aid, "TemperatureSensor", "CurrentTemperature") == temperature
        assert view.iid(aid, "BatteryService", "BatteryLevel") == battery
        pm = {view.char(aid, "AirQualitySensor", "Name", index=i)["value"]: i for i in range(2)}
        wanted = {
            "temperature": ("TemperatureSensor", "CurrentTemperature", 0),
            "co2": ("CarbonDioxideSensor", "CarbonDioxideLevel", 0),
            "co2 abnormal": ("CarbonDioxideSensor", "CarbonDioxideDetected", 0),
            "pm2.5": ("AirQualitySensor", "PM2.5Density", pm["PM2.5"]),
            "pm2.5 quality": ("AirQualitySensor", "AirQuality", pm["PM2.5"]),
            "pm10": ("AirQualitySensor", "PM10Density", pm["PM10"]),
            "pm10 quality": ("AirQualitySensor", "AirQuality", pm["PM10"]),
        }
        keys = {name: (aid, view.iid(aid, *where)) for name, where in wanted.items()}
        read = await pairing.get_characteristics(list(keys.values()))
        assert {name: read[key]["value"] for name, key in keys.items()} == {
            "temperature": 23.1,
            "co2": 1320,
            "co2 abnormal": 1,
            "pm2.5": 41,
            "pm2.5 quality": 3,  # fair
            "pm10": 60,
            "pm10 quality": 3,  # fair
        }


@pytest.mark.timeout(120)
async def test_pair_list_events_restart(tmp_path: Path) -> None:
    port = free_port()
    app = App(bridge_config(tmp_path, port, ENTRIES))
    await app.start()
    assert app.setup_code == SETUP_CODE
    assert app.setup_uri == "X-HM://0023RRVZ6MI32"
    try:
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, SETUP_CODE)
            assert app.paired
            view = AccessoryView(await pairing.list_accessories_and_characteristics())

            # One bridge plus one accessory per configured device, aids from 2 up.
            assert view.aids() == {1, *range(2, 2 + len(ENTRIES))}
            th = view.aid_by_serial(_mac(TH))
            assert view.info(th) == {
                "Name": "LYWSD03MMC-112233",
                "Manufacturer": "Xiaomi",
                "Model": "LYWSD03MMC",
                "SerialNumber": _mac(TH),
                "FirmwareRevision": __version__,
            }
            motion = view.aid_by_serial(_mac(MOTION))
            assert view.info(motion)["Name"] == "Hallway"
            door = view.aid_by_serial(_mac(DOOR))
            leak = view.aid_by_serial(_mac(LEAK))
            remote = view.aid_by_serial(_mac(REMOTE))
            flora = view.aid_by_serial(_mac(FLORA))
            atc = view.aid_by_serial(_mac(ATC))
            assert {"TemperatureSensor", "HumiditySensor"} <= set(view.service_names(th))
            assert {"MotionSensor", "LightSensor", "BatteryService"} <= set(
                view.service_names(motion)
            )
            assert "ContactSensor" in view.service_names(door)
            assert "LeakSensor" in view.service_names(leak)
            assert view.service_names(remote).count("StatelessProgrammableSwitch") == 6
            assert "ServiceLabel" in view.service_names(remote)
            assert [
                view.char(remote, "StatelessProgrammableSwitch", "ServiceLabelIndex", i)["value"]
                for i in range(6)
            ] == [1, 2, 3, 4, 5, 6]
            flora_humidity = view.services(flora, "HumiditySensor")
            assert len(flora_humidity) == 1  # soil moisture, shown as "Moisture"
            assert view.char(flora, "HumiditySensor", "Name")["value"] == "Moisture"
            assert {"TemperatureSensor", "HumiditySensor"} <= set(view.service_names(atc))

            keys = {
                "temp": (th, view.iid(th, "TemperatureSensor", "CurrentTemperature")),
                "motion": (motion, view.iid(motion, "MotionSensor", "MotionDetected")),
                "door": (door, view.iid(door, "ContactSensor", "ContactSensorState")),
                "leak": (leak, view.iid(leak, "LeakSensor", "LeakDetected")),
                "button3": (
                    remote,
                    view.iid(remote, "StatelessProgrammableSwitch", "ProgrammableSwitchEvent", 2),
                ),
            }
            log = EventLog()
            pairing.dispatcher_connect(log)
            await pairing.subscribe(list(keys.values()))
            # Alert sensors and buttons go out at once; a temperature change made right
            # after each is held by HAP-python's coalescing and arrives in a later message.
            th_counter = iter(range(10, 100))

            async def temperature_after(value: float) -> tuple[tuple[int, int], float]:
                await asyncio.sleep(0)  # the next advertisement comes in a later callback
                _feed(app, TH, _th_frame(next(th_counter), value))
                return keys["temp"], value

            _feed(
                app,
                DOOR,
                build.mibeacon_frame(
                    0x098B, 7, [(0x1019, b"\x00")], mac=_mac(DOOR), key=KEY_DOOR, ext_counter=1
                ),
            )
            # 1 = open (contact not detected)
            await assert_sent_immediately(log, (keys["door"], 1), await temperature_after(18.0))

            _feed(
                app,
                LEAK,
                build.mibeacon_frame(
                    0x0863, 3, [(0x1014, b"\x01")], mac=_mac(LEAK), key=KEY_LEAK, ext_counter=1
                ),
            )
            await assert_sent_immediately(log, (keys["leak"], 1), await temperature_after(18.5))

            _feed(
                app,
                MOTION,
                build.mibeacon_frame(
                    0x07F6, 9, [(0x000F, (120).to_bytes(3, "little"))], mac=_mac(MOTION), version=4
                ),
            )
            await assert_sent_immediately(
                log, (keys["motion"], True), await temperature_after(19.0)
            )

            _feed(
                app,
                REMOTE,
                build.mibeacon_frame(
                    0x0153, 11, [(0x1001, bytes([2, 0, 2]))], mac=_mac(REMOTE), version=3
                ),
            )
            # long press on button 3
            await assert_sent_immediately(log, (keys["button3"], 2), await temperature_after(19.5))

            # The same frame again (a repeat) makes no second event.
            before = len(log.values(keys["button3"]))
            _feed(
                app,
                REMOTE,
                build.mibeacon_frame(
                    0x0153, 11, [(0x1001, bytes([2, 0, 2]))], mac=_mac(REMOTE), version=3
                ),
            )
            await asyncio.sleep(0.3)
            assert len(log.values(keys["button3"])) == before

            # Climate values arrive too (HAP-python may hold them up to 0.5 s).
            _feed(app, TH, _th_frame(105, 21.5))
            await log.wait_for(keys["temp"], 21.5, timeout=3)

            # A replayed (older) encrypted frame is dropped.
            _feed(app, TH, _th_frame(104, 30.0))
            assert app.registry.stats["dropped_replay"] == 1
            assert app.registry.get(TH.mac) is not None
            assert app.registry.get(TH.mac).values["temperature"] == 21.5  # type: ignore[union-attr]

            # ATC custom firmware on 0x181A.
            _feed(app, ATC, build.atc1441_frame(_mac(ATC), 23.4, 45, 88, 2.95, 1), 0x181A)
            pairing_data = dict(pairing.pairing_data)
            aids = {e.mac: view.aid_by_serial(_mac(e)) for e in ENTRIES}
    finally:
        await app.stop()

    # Restart on the same state: still paired, same aids, last values back (no zeros).
    newcomer = DeviceEntry(mac="000000000001", pid=0x055B, key=KEY_TH)
    app = App(bridge_config(tmp_path, port, [newcomer, *ENTRIES]))
    await app.start()
    try:
        assert app.paired
        async with controller_on_loopback() as controller:
            pairing = controller.load_pairing("test", pairing_data)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            for entry in ENTRIES:
                assert view.aid_by_serial(_mac(entry)) == aids[entry.mac]
            assert view.aid_by_serial(newcomer.display_mac) == max(aids.values()) + 1
            th = aids[TH.mac]
            assert view.char(th, "TemperatureSensor", "CurrentTemperature")["value"] == 21.5
            assert view.char(th, "TemperatureSensor", "StatusActive")["value"] is True
            atc = aids[ATC.mac]
            assert view.char(atc, "TemperatureSensor", "CurrentTemperature")["value"] == 23.4
            door = aids[DOOR.mac]
            assert view.char(door, "ContactSensor", "ContactSensorState")["value"] == 1
            # The never-heard newcomer is present but shown as not active.
            new = view.aid_by_serial(newcomer.display_mac)
            assert view.char(new, "TemperatureSensor", "StatusActive")["value"] is False
            await pairing.close()
    finally:
        await app.stop()
