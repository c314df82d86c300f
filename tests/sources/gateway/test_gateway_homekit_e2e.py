"""End to end for Zigbee: simulated gateway → bridge → a real HomeKit controller.

A door opened on the (simulated) gateway reaches the paired controller immediately; a plug
switched from the controller is written to the gateway (with the LAN key) and the state
HomeKit shows is the one the gateway reports back. Loopback only: the gateway simulator
listens on 127.0.0.2, reports go unicast to the bridge on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from homekit_helpers import (
    AccessoryView,
    EventLog,
    assert_sent_immediately,
    controller_on_loopback,
    free_port,
    pair,
)

from mihomekit.app import App, AppConfig
from mihomekit.sources.gateway.simulator import GatewaySimulator, SimDevice, demo_settings
from mihomekit.sources.gateway.source import GatewaySource

DOOR = "158d0001000001"
PLUG = "158d0001000004"
CLIMATE = "158d0001000003"
WALL = "158d0001000005"
GATEWAY = "7811dcb78b2f"


def _devices() -> list[SimDevice]:
    return [
        SimDevice(DOOR, "magnet", {"voltage": 3015, "status": "close"}, 30033),
        SimDevice(
            CLIMATE,
            "weather.v1",
            {"voltage": 3005, "temperature": "2333", "humidity": "5521", "pressure": "100790"},
            1201,
        ),
        SimDevice(PLUG, "plug", {"voltage": 3600, "status": "off", "inuse": "0"}, 38455),
        SimDevice(WALL, "ctrl_neutral2", {"channel_0": "off", "channel_1": "off"}, 4343),
    ]


class _Gateway:
    """The simulator and the bridge's gateway link, started after the bridge."""

    def __init__(self, simulator: GatewaySimulator) -> None:
        self.simulator = simulator
        self.link: GatewaySource | None = None

    def factory(self, app: App) -> Any:
        self.link = GatewaySource(app.registry, demo_settings(self.simulator))
        return self

    async def start(self) -> None:
        assert self.link is not None
        await self.link.start()
        self.simulator.report_to = ("127.0.0.1", self.link.adapter.report_address[1])

    async def stop(self) -> None:
        assert self.link is not None
        await self.link.stop()


@pytest.fixture
async def simulator() -> AsyncIterator[GatewaySimulator]:
    sim = GatewaySimulator(
        host="127.0.0.2", port=0, discovery_port=0, devices=_devices(), heartbeat_interval=None
    )
    await sim.start()
    yield sim
    await sim.stop()


def _app(tmp_path: Path, gateway: _Gateway) -> App:
    return App(
        AppConfig(
            state_dir=tmp_path,
            address="127.0.0.1",
            port=free_port(),
            setup_code_mac="B8:27:EB:12:34:56",
            print_setup=False,
            sources=[gateway.factory],
        )
    )


async def _wait_until(condition: Any, what: str) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(120)
async def test_door_event_and_plug_control(tmp_path: Path, simulator: GatewaySimulator) -> None:
    app = _app(tmp_path, _Gateway(simulator))
    await app.start()
    try:
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, app.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            door = view.aid_by_serial(DOOR)
            plug = view.aid_by_serial(PLUG)
            climate = view.aid_by_serial(CLIMATE)
            view.aid_by_serial(GATEWAY)  # the gateway itself: light and illuminance
            assert view.info(door)["Manufacturer"] == "Aqara"
            assert "ContactSensor" in view.service_names(door)
            assert "Outlet" in view.service_names(plug)
            assert "Lightbulb" in view.service_names(view.aid_by_serial(GATEWAY))
            # Values read at start are there at once (23.33 °C from the gateway), rounded
            # to their precision (55.21 % is 55.2, not 55.2 plus a floating-point tail).
            temp = view.char(climate, "TemperatureSensor", "CurrentTemperature")["value"]
            assert temp == pytest.approx(23.3, abs=0.05)
            humidity = view.char(climate, "HumiditySensor", "CurrentRelativeHumidity")["value"]
            assert repr(humidity) == "55.2"
            # Nobody named them: the product name and the end of the address.
            assert view.info(climate)["Name"] == "Aqara Temperature Humidity Pressure Sensor 0003"
            assert view.info(door)["Name"] == "Door Window Sensor 0001"

            contact = (door, view.iid(door, "ContactSensor", "ContactSensorState"))
            outlet = (plug, view.iid(plug, "Outlet", "On"))
            temperature = (climate, view.iid(climate, "TemperatureSensor", "CurrentTemperature"))
            log = EventLog()
            pairing.dispatcher_connect(log)
            await pairing.subscribe([contact, outlet, temperature])

            # The door goes out at once, before a climate change reported right after it
            # (which HAP-python holds for its coalescing window).
            simulator.report(DOOR, {"status": "open"})
            simulator.report(CLIMATE, {"temperature": "2410"})
            await assert_sent_immediately(log, (contact, 1), (temperature, 24.1))

            # Switch the plug on from HomeKit: the write reaches the gateway with a valid
            # key, and the gateway's report is what HomeKit then shows.
            simulator.rotate_token()  # a missed heartbeat: the first key is stale
            await pairing.put_characteristics([(plug, outlet[1], True)])
            for _ in range(50):
                if simulator.writes:
                    break
                await asyncio.sleep(0.05)
            assert [w.properties for w in simulator.writes] == [{"status": "on"}]
            assert simulator.rejected_writes == 1  # stale token → refreshed → retried once
            assert simulator.devices[PLUG].properties["status"] == "on"
            device = app.registry.get(PLUG)
            assert device is not None
            for _ in range(50):
                if device.values.get("power") is True:
                    break
                await asyncio.sleep(0.05)
            assert device.values["power"] is True
            got = await pairing.get_characteristics([outlet])
            assert got[outlet]["value"] is True

            # The gateway switching it off (a button on the plug) shows up in HomeKit.
            simulator.report(PLUG, {"status": "off"})
            await log.wait_for(outlet, False, timeout=3)
    finally:
        await app.stop()


@pytest.mark.timeout(120)
async def test_gateway_light_and_wall_switch(tmp_path: Path, simulator: GatewaySimulator) -> None:
    app = _app(tmp_path, _Gateway(simulator))
    await app.start()
    try:
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, app.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            gw = view.aid_by_serial(GATEWAY)
            on = (gw, view.iid(gw, "Lightbulb", "On"))
            brightness = (gw, view.iid(gw, "Lightbulb", "Brightness"))
            hue = (gw, view.iid(gw, "Lightbulb", "Hue"))
            saturation = (gw, view.iid(gw, "Lightbulb", "Saturation"))

            # Green at 40 %: one PUT with all four characteristics, one rgb write.
            await pairing.put_characteristics(
                [(*on, True), (*brightness, 40), (*hue, 120), (*saturation, 100)]
            )
            await _wait_until(lambda: simulator.state["rgb"] != 0, "the light write")
            assert simulator.state["rgb"] == 0x2800FF00
            device = app.registry.get(GATEWAY)
            assert device is not None
            await _wait_until(lambda: device.values.get("light_on") is True, "the report")
            got = await pairing.get_characteristics([on, brightness, hue])
            assert got[on]["value"] is True
            assert got[brightness]["value"] == 40
            assert got[hue]["value"] == pytest.approx(120, abs=1)

            await pairing.put_characteristics([(*on, False)])
            await _wait_until(lambda: simulator.state["rgb"] == 0, "the light off write")
            await _wait_until(lambda: device.values.get("light_on") is False, "the off report")

            # Second channel of a double wall switch.
            wall = view.aid_by_serial(WALL)
            assert view.service_names(wall).count("Switch") == 2
            channel_2 = (wall, view.iid(wall, "Switch", "On", 1))
            await pairing.put_characteristics([(*channel_2, True)])
            await _wait_until(
                lambda: simulator.devices[WALL].properties["channel_1"] == "on", "the switch write"
            )
            assert simulator.devices[WALL].properties["channel_0"] == "off"
            wall_device = app.registry.get(WALL)
            assert wall_device is not None
            await _wait_until(lambda: wall_device.values.get("power_2") is True, "its report")
            got = await pairing.get_characteristics([channel_2])
            assert got[channel_2]["value"] is True
    finally:
        await app.stop()
