"""Devices show what they report: BTHome devices (an empty catalog entry) and a b-parasite
listed under the pvvx id get the HomeKit services of the readings they send, on the same
accessory, without changing any earlier instance id, and keep them across a restart.

The devices are in a real mi32cfg file; frames come from the decoders' builders; a real
aiohomekit controller pairs over 127.0.0.1 and reads the accessory list.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from bridge_helpers import SETUP_CODE, bridge_config
from homekit_helpers import AccessoryView, EventLog, controller_on_loopback, free_port, pair
from state_helpers import count_state_writes

from mihomekit.app import App
from mihomekit.decoders import build
from mihomekit.mi32cfg import DeviceEntry, load_mi32cfg

pytestmark = pytest.mark.timeout(120)

BTHOME_UUID = 0xFCD2
PVVX_UUID = 0x181A
THERMO = "38:1F:8D:00:00:01"  # a Shelly BLU H&T
DOOR = "38:1F:8D:00:00:02"  # a Shelly BLU Door/Window
BUTTON = "38:1F:8D:00:00:03"  # a Shelly BLU Button
PLANT = "F0:CA:FE:00:00:04"  # a b-parasite, written under the pvvx id


def _mi32cfg(path: Path, devices: list[tuple[str, int]]) -> list[DeviceEntry]:
    path.write_text(
        json.dumps([{"MAC": m.replace(":", ""), "PID": f"{p:04x}", "key": ""} for m, p in devices]),
        encoding="utf-8",
    )
    return load_mi32cfg(path)


def _app(tmp_path: Path, port: int, devices: list[tuple[str, int]], **extra: Any) -> App:
    mi32cfg = tmp_path / "mi32cfg.json"
    entries = _mi32cfg(mi32cfg, devices)
    return App(bridge_config(tmp_path / "state", port, entries, mi32cfg=mi32cfg, **extra))


class Frames:
    """BTHome v2 frames of one device, each with the next packet id."""

    def __init__(self, mac: str) -> None:
        self.mac = mac
        self.packet = 0

    def __call__(self, *objects: tuple[int, bytes]) -> bytes:
        self.packet += 1
        return build.bthome_frame([(0x00, bytes((self.packet,))), *objects], mac=self.mac)


def battery(percent: int) -> tuple[int, bytes]:
    return 0x01, bytes((percent,))


def temperature(celsius: float) -> tuple[int, bytes]:
    return 0x02, struct.pack("<h", round(celsius * 100))


def humidity(percent: float) -> tuple[int, bytes]:
    return 0x03, struct.pack("<H", round(percent * 100))


def illuminance(lux: float) -> tuple[int, bytes]:
    return 0x05, round(lux * 100).to_bytes(3, "little")


def window(is_open: bool) -> tuple[int, bytes]:
    return 0x2D, bytes((is_open,))


def button(event: int) -> tuple[int, bytes]:
    return 0x3A, bytes((event,))


def bparasite(counter: int, moisture: float, lux: int) -> bytes:
    """An 18-byte b-parasite frame (protocol 2): 21.5 °C, 50 % air humidity, 3.0 V."""
    mac = bytes.fromhex(PLANT.replace(":", ""))
    soil = round(moisture * 65536 / 100)
    return struct.pack(">BBHhHH6sH", 0x20, counter, 3000, 2150, 32768, soil, mac, lux)


def _hear(app: App, mac: str, frame: bytes, uuid: int = BTHOME_UUID) -> None:
    result = app.registry.handle_advertisement(mac, uuid, frame, -60)
    assert result is not None and result.ok, result


async def _view(pairing: Any) -> AccessoryView:
    return AccessoryView(await pairing.list_accessories_and_characteristics())


Layout = list[tuple[int, str, list[tuple[int, str]]]]


def _layout(view: AccessoryView, aid: int) -> Layout:
    """Every service of an accessory with its iid and type, and its characteristics'."""
    return [
        (
            service["iid"],
            service["type"],
            [(char["iid"], char["type"]) for char in service["characteristics"]],
        )
        for service in view.by_aid[aid]["services"]
    ]


async def test_bthome_devices_show_what_they_report(tmp_path: Path) -> None:
    """A thermometer shows its temperature and humidity after its first frame, a
    door/window sensor a contact sensor, a button a programmable switch."""
    devices = [(THERMO, 0xB770), (DOOR, 0xB770), (BUTTON, 0xB770)]
    app = _app(tmp_path, free_port(), devices)
    await app.start()
    try:
        assert app.driver is not None
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, SETUP_CODE)
            view = await _view(pairing)
            thermo, door, remote = (view.aid_by_serial(mac) for mac, _ in devices)
            for aid in (thermo, door, remote):
                assert view.service_names(aid) == ["AccessoryInformation"]

            version = app.driver.state.config_version
            frames = Frames(THERMO)
            _hear(app, THERMO, frames(battery(87), temperature(21.37), humidity(48.5)))
            view = await _view(pairing)
            shown = ["TemperatureSensor", "HumiditySensor", "BatteryService"]
            assert view.service_names(thermo) == ["AccessoryInformation", *shown]
            assert view.char(thermo, "TemperatureSensor", "CurrentTemperature")["value"] == 21.4
            assert view.char(thermo, "HumiditySensor", "CurrentRelativeHumidity")["value"] == 48.5
            assert view.char(thermo, "BatteryService", "BatteryLevel")["value"] == 87
            assert view.char(thermo, "TemperatureSensor", "StatusActive")["value"] is True
            assert app.driver.state.config_version > version  # c#: controllers re-read

            _hear(app, DOOR, Frames(DOOR)(battery(95), window(True)))
            view = await _view(pairing)
            assert view.service_names(door) == [
                "AccessoryInformation",
                "ContactSensor",
                "BatteryService",
            ]
            assert view.char(door, "ContactSensor", "ContactSensorState")["value"] == 1  # open
            assert view.aid_by_serial(DOOR) == door  # the same accessory: its room stays

            presses = Frames(BUTTON)
            _hear(app, BUTTON, presses(battery(100), button(0x01)))
            view = await _view(pairing)
            switch = ["ServiceLabel", "StatelessProgrammableSwitch"]
            assert view.service_names(remote) == ["AccessoryInformation", "BatteryService", *switch]
            assert view.char(remote, "StatelessProgrammableSwitch", "Name")["value"] == "Button 1"
            event = view.iid(remote, "StatelessProgrammableSwitch", "ProgrammableSwitchEvent")
            log = EventLog()
            pairing.dispatcher_connect(log)
            await pairing.subscribe([(remote, event)])
            _hear(app, BUTTON, presses(button(0x04)))  # a long press
            await log.wait_for((remote, event), 2)
            await pairing.close()
    finally:
        await app.stop()


async def test_learned_services_keep_every_iid_and_outlive_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Services learned later come after the others: no earlier service or characteristic
    changes its instance id. What was learned is saved soon (once, not per reading) and
    is in HomeKit after a restart before the first frame."""
    writes = count_state_writes(monkeypatch)
    port = free_port()
    devices = [(THERMO, 0xB770), (PLANT, 0x944A)]
    app = _app(tmp_path, port, devices, persist_delay=60.0)
    await app.start()
    frames = Frames(THERMO)
    try:
        assert app.driver is not None
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, SETUP_CODE, "learn")
            view = await _view(pairing)
            thermo, plant = view.aid_by_serial(THERMO), view.aid_by_serial(PLANT)
            catalog = _layout(view, plant)
            assert view.service_names(plant) == [
                "AccessoryInformation",
                "TemperatureSensor",
                "HumiditySensor",
                "BatteryService",
            ]

            _hear(app, PLANT, bparasite(1, 40.0, 1234), PVVX_UUID)
            view = await _view(pairing)
            plant_layout = _layout(view, plant)
            assert plant_layout[: len(catalog)] == catalog
            assert view.service_names(plant)[len(catalog) :] == ["HumiditySensor", "LightSensor"]
            assert view.char(plant, "HumiditySensor", "Name", 1)["value"] == "Moisture"
            assert view.char(plant, "HumiditySensor", "CurrentRelativeHumidity", 1)["value"] == 40
            assert view.char(plant, "LightSensor", "CurrentAmbientLightLevel")["value"] == 1234

            _hear(app, THERMO, frames(battery(87), temperature(21.37), humidity(48.5)))
            view = await _view(pairing)
            first = _layout(view, thermo)
            _hear(app, THERMO, frames(temperature(21.0), illuminance(321.0)))
            view = await _view(pairing)
            thermo_layout = _layout(view, thermo)
            assert thermo_layout[: len(first)] == first
            assert view.service_names(thermo)[len(first) :] == ["LightSensor"]
            assert view.char(thermo, "LightSensor", "CurrentAmbientLightLevel")["value"] == 321
            pairing_data = dict(pairing.pairing_data)

            # Saved soon after it learned, in one write; later readings write nothing
            # before the values' own delay.
            saved = tmp_path / "state" / "bridge.json"
            for _ in range(100):
                if saved.read_text().count("illuminance") >= 2:
                    break
                await asyncio.sleep(0.02)
            learned = json.loads(saved.read_text())["learned"]
            assert learned == {
                PLANT.replace(":", ""): {"model": "PVVX", "learned": ["moisture", "illuminance"]},
                THERMO.replace(":", ""): {
                    "model": "BTHome",
                    "learned": ["temperature", "humidity", "battery", "illuminance"],
                },
            }
            state_writes = writes.count(os.fspath(saved))
            for n in range(5):
                _hear(app, THERMO, frames(temperature(22.0 + n), illuminance(300.0 + n)))
                await asyncio.sleep(0.02)
            assert writes.count(os.fspath(saved)) == state_writes
            await pairing.close()
    finally:
        await app.stop()

    app = _app(tmp_path, port, devices)
    await app.start()
    try:
        async with controller_on_loopback() as controller:
            pairing = controller.load_pairing("learn", pairing_data)
            view = await _view(pairing)
            assert _layout(view, thermo) == thermo_layout
            assert _layout(view, plant) == plant_layout
            assert view.char(thermo, "LightSensor", "CurrentAmbientLightLevel")["value"] == 304
            assert view.char(plant, "LightSensor", "CurrentAmbientLightLevel")["value"] == 1234
            await pairing.close()
    finally:
        await app.stop()


async def test_an_upgrade_learns_from_the_saved_values(tmp_path: Path) -> None:
    """A BTHome device heard by a version that did not learn: its saved values bring their
    services at the first start, before any frame, and what they taught is saved."""
    state = tmp_path / "state"
    state.mkdir()
    device_id = THERMO.replace(":", "")
    saved = {
        "version": 1,
        "setup_id": "MI32",
        "next_aid": 3,
        "aids": {device_id: 2},
        "known_devices": {},
        "last_values": {device_id: {"values": {"humidity": 51.0, "packet_id": 9}, "seen": 1.0}},
    }
    (state / "bridge.json").write_text(json.dumps(saved))
    app = _app(tmp_path, free_port(), [(THERMO, 0xB770)])
    await app.start()
    try:
        bridge = app.hubs.first.accessory
        assert bridge is not None
        accessory = bridge.accessories[2]
        names = [service.display_name for service in accessory.services]
        assert names == ["AccessoryInformation", "HumiditySensor"]
        for _ in range(100):
            if "learned" in json.loads((state / "bridge.json").read_text()):
                break
            await asyncio.sleep(0.02)
        learned = json.loads((state / "bridge.json").read_text())["learned"]
        assert learned == {device_id: {"model": "BTHome", "learned": ["humidity"]}}
    finally:
        await app.stop()
