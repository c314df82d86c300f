"""End to end: Zigbee2MQTT (simulated) → mosquitto → the bridge → a paired HomeKit controller.

The door opens (and ``contact: true`` shows closed), motion, leak, a double click, a plug
switched from the controller with the state Zigbee2MQTT reports back, a light's brightness;
a retained ``action`` after a reconnect fires nothing; a device going offline shows not
active; a renamed device keeps its aid; a restart keeps aids and values before the broker
answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from homekit_helpers import AccessoryView, EventLog, controller_on_loopback, pair
from mosquitto import HOST, Mosquitto
from z2m_helpers import (
    BRIDGED,
    CLIMATE,
    DOOR,
    LAMP,
    LEAK,
    MINI,
    MOTION,
    PLUG,
    WALL,
    SourceSlot,
    make_app,
    until,
)
from z2m_simulator import Z2mSimulator

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def z2m(mosquitto: Mosquitto) -> AsyncIterator[Z2mSimulator]:
    sim = Z2mSimulator(HOST, mosquitto.port)
    await sim.start()
    yield sim
    await sim.stop()


async def test_sensors_buttons_plug_light_and_availability(
    tmp_path: Path, mosquitto: Mosquitto, z2m: Z2mSimulator
) -> None:
    slot = SourceSlot()
    app = make_app(tmp_path, mosquitto, slot)
    await app.start()
    try:
        await until(lambda: all(app.registry.get(d) for d in BRIDGED), "the devices")
        source = slot.source
        assert source is not None
        # The coordinator, the disabled and the unsupported device are left out, with why.
        reasons = {s.ieee: s.reason for s in source.skipped}
        assert reasons["0x00124b0018e2a1c4"] == "the coordinator"
        assert "disabled" in reasons["0x00158d0001a2b399"]
        assert "no definition" in reasons["0xa4c138ffff000001"]
        await z2m.state(CLIMATE, temperature=21.5, humidity=48.2, pressure=1008.4, battery=97)
        await z2m.state(DOOR, contact=True, battery=100, voltage=3015)
        await until(lambda: app.registry.get(DOOR).values.get("opening") is False, "closed")

        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, app.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            door, motion, leak = (view.aid_by_serial(d) for d in (DOOR, MOTION, LEAK))
            mini, plug, lamp = (view.aid_by_serial(d) for d in (MINI, PLUG, LAMP))
            wall, climate = view.aid_by_serial(WALL), view.aid_by_serial(CLIMATE)
            assert view.info(door)["Model"] == "MCCGQ11LM"
            assert view.info(door)["Manufacturer"] == "Aqara"
            assert view.info(lamp)["Manufacturer"] == "Philips"
            assert "Outlet" in view.service_names(plug)
            assert view.service_names(wall).count("StatelessProgrammableSwitch") == 3
            # Pressure is kept (and published) but has no HomeKit service.
            assert app.registry.get(CLIMATE).values["pressure"] == pytest.approx(1008.4)
            temp = view.char(climate, "TemperatureSensor", "CurrentTemperature")["value"]
            assert temp == pytest.approx(21.5)
            # contact: true is closed (ContactSensorState 0 = contact detected).
            assert view.char(door, "ContactSensor", "ContactSensorState")["value"] == 0

            contact = (door, view.iid(door, "ContactSensor", "ContactSensorState"))
            door_active = (door, view.iid(door, "ContactSensor", "StatusActive"))
            moving = (motion, view.iid(motion, "MotionSensor", "MotionDetected"))
            water = (leak, view.iid(leak, "LeakSensor", "LeakDetected"))
            button = (
                mini,
                view.iid(mini, "StatelessProgrammableSwitch", "ProgrammableSwitchEvent"),
            )
            outlet = (plug, view.iid(plug, "Outlet", "On"))
            lamp_on = (lamp, view.iid(lamp, "Lightbulb", "On"))
            brightness = (lamp, view.iid(lamp, "Lightbulb", "Brightness"))
            log = EventLog()
            pairing.dispatcher_connect(log)
            await pairing.subscribe(
                [contact, door_active, moving, water, button, outlet, lamp_on, brightness]
            )

            await z2m.state(DOOR, contact=False)
            await log.wait_for(contact, 1)  # open
            await z2m.state(MOTION, occupancy=True, illuminance=120)
            await log.wait_for(moving, True)
            await z2m.state(LEAK, water_leak=True, battery_low=False)
            await log.wait_for(water, 1)
            await z2m.state(MINI, action="double")
            await log.wait_for(button, 1)  # DOUBLE_PRESS
            await z2m.state(MINI, action="release")  # no HomeKit event for release
            await z2m.state(MINI, action="hold")
            await log.wait_for(button, 2)
            assert log.values(button) == [1, 2]

            # The plug, switched from HomeKit; HomeKit then shows what Zigbee2MQTT reports.
            await pairing.put_characteristics([(*outlet, True)])
            await until(lambda: z2m.sets, "the /set")
            assert z2m.sets[-1] == (PLUG, {"state": "ON"})
            await until(lambda: app.registry.get(PLUG).values.get("power") is True, "its state")
            await z2m.state(PLUG, state="OFF")  # the button on the plug
            await log.wait_for(outlet, False)

            # The light's brightness: 40 % of 254.
            await pairing.put_characteristics([(*lamp_on, True), (*brightness, 40)])
            await until(lambda: len(z2m.sets) >= 2, "the light /set")
            assert z2m.sets[-1] == (LAMP, {"state": "ON", "brightness": 102})
            await until(lambda: app.registry.get(LAMP).values.get("brightness") == 40, "reported")
            await z2m.state(LAMP, brightness=254)  # changed at the light
            await log.wait_for(brightness, 100)

            # A retained action replayed after a reconnect fires nothing.
            assert app.mqtt is not None
            await app.mqtt.stop()
            await z2m.state(MINI, action="single", retain=True)
            await app.mqtt.start()
            await until(lambda: source.stats["suppressed_actions"] >= 1, "the retained action")
            await asyncio.sleep(0.3)
            assert log.values(button) == [1, 2]
            await z2m.raw(z2m.name_of(MINI), b"", retain=True)  # clear it on the broker

            # Offline: per-device availability, then Zigbee2MQTT itself.
            await z2m.availability(DOOR, False)
            await log.wait_for(door_active, False)
            await z2m.availability(DOOR, True)
            await log.wait_for(door_active, True, timeout=5)
            await z2m.stop()  # Zigbee2MQTT stops: bridge/state offline
            await until(lambda: source.availability.bridge_online is False, "bridge offline")
            got = await pairing.get_characteristics([door_active])
            assert got[door_active]["value"] is False
    finally:
        await app.stop()


async def test_rename_and_restart_keep_aids_and_values(
    tmp_path: Path, mosquitto: Mosquitto, z2m: Z2mSimulator
) -> None:
    slot = SourceSlot()
    app = make_app(tmp_path, mosquitto, slot)
    await app.start()
    try:
        await until(lambda: all(app.registry.get(d) for d in BRIDGED), "the devices")
        aids = {d: app.state.aids[d] for d in BRIDGED}
        await z2m.rename(DOOR, "front door")
        await until(lambda: app.registry.get(DOOR).name == "front door", "the rename")
        assert app.state.aids[DOOR] == aids[DOOR]
        accessory = app.hubs.first.accessory.accessories[aids[DOOR]]
        assert accessory.display_name == "front door"
        await z2m.state(DOOR, contact=False)  # its new topic
        await until(lambda: app.registry.get(DOOR).values.get("opening") is True, "open")
        await z2m.state(CLIMATE, temperature=19.4, humidity=55.0)
        await until(lambda: app.registry.get(CLIMATE).values.get("temperature") == 19.4, "19.4")
    finally:
        await app.stop()

    # Restart with the broker down: the accessories are back with the same aids and values.
    await z2m.stop()
    mosquitto.stop()
    app = make_app(tmp_path, mosquitto, SourceSlot())
    await app.start()
    try:
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, app.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            for device, aid in aids.items():
                assert view.aid_by_serial(device) == aid
            climate, door = aids[CLIMATE], aids[DOOR]
            temp = view.char(climate, "TemperatureSensor", "CurrentTemperature")["value"]
            assert temp == pytest.approx(19.4, abs=0.01)
            assert view.char(door, "ContactSensor", "ContactSensorState")["value"] == 1
            assert view.char(door, "AccessoryInformation", "Name")["value"] == "front door"
            # Heard minutes ago, a battery sensor: still active without the broker.
            assert view.char(door, "ContactSensor", "StatusActive")["value"] is True
    finally:
        await app.stop()


async def test_device_unnamed_in_zigbee2mqtt_gets_its_product_name(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Zigbee2MQTT names a device by its address until someone names it: HomeKit then shows
    the product name and the end of the address, not ``0x00158d0001a2b303``."""
    sim = Z2mSimulator(HOST, mosquitto.port)
    for entry in sim.devices:
        if entry["ieee_address"] == CLIMATE:
            entry["friendly_name"] = CLIMATE
    await sim.start()
    app = make_app(tmp_path, mosquitto, SourceSlot())
    await app.start()
    try:
        await until(lambda: app.registry.get(CLIMATE) is not None, "the devices")
        expected = "Aqara Temperature humidity and pressure sensor B303"
        assert app.registry.get(CLIMATE).name == expected  # type: ignore[union-attr]
        accessory = app.hubs.first.accessory.accessories[app.state.aids[CLIMATE]]
        assert accessory.display_name == expected
        assert app.registry.get(DOOR).name == "hall/door"  # type: ignore[union-attr]
        await sim.state(CLIMATE, temperature=19.4)  # its topic is still its address
        await until(lambda: app.registry.get(CLIMATE).values.get("temperature") == 19.4, "19.4")
    finally:
        await app.stop()
        await sim.stop()
