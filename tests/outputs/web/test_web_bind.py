"""The dashboard's "Get the key from the sensor": a running bridge (BLE through unmodified
bleak on the BlueZ stand-in) activates a heard, encrypted sensor and applies its new key."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from bluez_fake import FakeBluez
from bridge_helpers import planned_app
from mi_peripherals import MmcSensor, on_bluez
from run_helpers import run_args
from sensor_air import Beacons, on_air
from web_helpers import web_output

from mihomekit.mi32cfg import DeviceEntry, load_mi32cfg
from mihomekit.readings import KeyStatus

pytestmark = pytest.mark.timeout(120)

MAC = "A4:C1:38:5E:33:44"
OTHER = DeviceEntry("A4C138000001", 0x045B, None)
MI_HOME_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_get_the_key_from_the_sensor(tmp_path: Path) -> None:
    config = tmp_path / "mi32cfg"
    config.write_text('[{"MAC":"A4C138000001","PID":"045b","key":""}]')
    (tmp_path / "empty.toml").write_text("")
    beacons = Beacons(MAC, celsius=19.5, humidity=40.0, key=MI_HOME_KEY)
    sensor = MmcSensor(on_activated=beacons.take_key)
    async with FakeBluez.running(tmp_path) as bluez:
        on_bluez(bluez, MAC, sensor)
        args = run_args(tmp_path / "state", ble=True, demo_config=False)
        args += ["--config", str(config), "--settings", str(tmp_path / "empty.toml")]
        app = planned_app([*args, "--web-port", "0"])
        await app.start()
        send = lambda mac, data: bluez.advertise(mac, service_data={0xFE95: data})  # noqa: E731
        try:
            base = web_output(app).url.rstrip("/")
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as session, on_air(send, beacons):
                await until(lambda: "A4C1385E3344" in app.registry.unknown)
                async with session.get(base + "/devices") as response:
                    page = await response.text()
                found = re.search(r'data-csrf="([^"]+)"', page)
                assert found is not None
                csrf = found.group(1)
                card = page[page.index('data-mac="A4:C1:38:5E:33:44"') :]
                card = card[: card.index("</li>")]
                assert "Get the key from the sensor" in card
                assert "it stops working with Mi Home" in card
                # the configured LYWSD02 needs no key: no button on its row
                row = page[page.index('id="d-A4C138000001"') :]
                assert "Get the key" not in row[: row.index("</tr>")]

                fields = {"mac": MAC, "csrf": csrf}
                async with session.post(base + "/devices/bind", data=fields) as response:
                    refused = (response.status, await response.text())
                assert refused[0] == 400 and "tick the box first" in refused[1]
                assert sensor.activations == 0

                fields["confirm"] = "yes"
                async with session.post(base + "/devices/bind", data=fields) as response:
                    done = (response.status, await response.text())
                assert done[0] == 200, done[1]
                assert "A4:C1:38:5E:33:44 took a new bind key" in done[1]
                device = app.registry.get("A4C1385E3344")
                assert device is not None and device.key == sensor.bind_key
                await until(lambda: device.key_status is KeyStatus.OK)
                await until(lambda: device.values.get("temperature") == 19.5)
        finally:
            await app.stop()
    assert load_mi32cfg(config) == [OTHER, DeviceEntry("A4C1385E3344", 0x055B, sensor.bind_key)]
