"""End to end: ``mihomekit bind`` in its own process, next to a running bridge, both on the
BlueZ stand-in through unmodified bleak. The key it writes decrypts the sensor's next
beacon in the bridge (which picks the changed mi32cfg up by itself), and a paired HomeKit
controller sees the value."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from bluez_fake import FakeBluez
from bridge_helpers import planned_app
from homekit_helpers import AccessoryView, EventLog, controller_on_loopback, pair
from mi_peripherals import MmcSensor, on_bluez
from run_helpers import run_args
from sensor_air import Beacons, on_air

from mihomekit.mi32cfg import load_mi32cfg

pytestmark = pytest.mark.timeout(120)

MAC = "A4:C1:38:5E:11:22"
#: The key the sensor had from Mi Home (the bridge does not know it).
MI_HOME_KEY = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")


async def test_bind_next_to_a_running_bridge_reaches_homekit(tmp_path: Path) -> None:
    config = tmp_path / "mi32cfg"
    config.write_text('[{"MAC":"A4C1385E1122","PID":"055b","key":""}]')
    settings = tmp_path / "mihomekit.toml"
    settings.write_text("")
    beacons = Beacons(MAC, celsius=23.4, humidity=51.0, key=MI_HOME_KEY)
    sensor = MmcSensor(on_activated=beacons.take_key)
    async with FakeBluez.running(tmp_path) as bluez:
        on_bluez(bluez, MAC, sensor)
        args = run_args(tmp_path / "state", ble=True, demo_config=False)
        app = planned_app([*args, "--config", str(config), "--settings", str(settings), "--no-web"])
        await app.start()
        send = lambda mac, data: bluez.advertise(mac, service_data={0xFE95: data})  # noqa: E731
        try:
            async with controller_on_loopback() as controller:
                pairing = await pair(controller, app.driver.state.mac, app.setup_code)
                view = AccessoryView(await pairing.list_accessories_and_characteristics())
                aid = view.aid_by_serial(MAC)
                temperature = (aid, view.iid(aid, "TemperatureSensor", "CurrentTemperature"))
                log = EventLog()
                pairing.dispatcher_connect(log)
                await pairing.subscribe([temperature])
                async with on_air(send, beacons, interval=0.1):
                    bind = await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "mihomekit",
                        "bind",
                        MAC,
                        "--config",
                        str(config),
                        "--settings",
                        str(settings),
                        "--timeout",
                        "20",
                        env=bluez.environ(),
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.PIPE,
                    )
                    out, err = await bind.communicate()
                    assert bind.returncode == 0, err.decode()
                    await log.wait_for(temperature, 23.4, timeout=15)
        finally:
            await app.stop()
    text = out.decode()
    assert text.startswith("Activation gives A4:C1:38:5E:11:22 a new bind key")
    assert "key works: temperature 23.4, humidity 51.0" in text
    assert sensor.bind_key is not None
    assert load_mi32cfg(config)[0].key == sensor.bind_key
    device = app.registry.get("A4C1385E1122")
    assert device is not None and device.key == sensor.bind_key
    assert device.values["temperature"] == 23.4
