"""``[ble] battery_poll_hours`` in the running bridge, built as ``mihomekit run`` builds it:
a Flower Care heard through an ESPHome proxy gets its battery read over GATT, and a
paired HomeKit controller sees the level."""

from __future__ import annotations

from pathlib import Path

import pytest
from bridge_helpers import planned_app
from esphome_fake import GATT_FLAGS, Entry, FakeProxy
from homekit_helpers import AccessoryView, EventLog, controller_on_loopback, pair
from mi_peripherals import FlowerCare
from run_helpers import run_args
from sensor_air import Beacons, on_air

from mihomekit.ble import upkeep as upkeep_module

MAC = "C4:7C:8D:6A:11:22"


@pytest.mark.timeout(120)
async def test_a_polled_battery_reaches_homekit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upkeep_module, "FIRST_DELAY", 0.0)
    monkeypatch.setattr(upkeep_module, "CHECK_EVERY", 0.1)
    monkeypatch.setattr(upkeep_module, "GAP", 0.0)
    flower = FlowerCare(battery=42)
    async with FakeProxy(name="attic", feature_flags=GATT_FLAGS) as proxy:
        proxy.add_peripheral(MAC, flower)
        settings = tmp_path / "mihomekit.toml"
        settings.write_text(
            "[ble]\nbattery_poll_hours = 24\n\n"
            f'[[esphome]]\nhost = "127.0.0.1"\nport = {proxy.port}\nname = "attic"\n'
        )
        config = tmp_path / "mi32cfg"
        config.write_text('[{"MAC":"C47C8D6A1122","PID":"0098","key":""}]')
        args = run_args(tmp_path / "state", demo_config=False)
        app = planned_app([*args, "--config", str(config), "--settings", str(settings), "--no-web"])
        await app.start()
        try:
            async with controller_on_loopback() as controller:
                pairing = await pair(controller, app.driver.state.mac, app.setup_code)
                view = AccessoryView(await pairing.list_accessories_and_characteristics())
                aid = view.aid_by_serial("C4:7C:8D:6A:11:22")
                level = (aid, view.iid(aid, "BatteryService", "BatteryLevel"))
                log = EventLog()
                pairing.dispatcher_connect(log)
                await pairing.subscribe([level])
                send = lambda mac, data: proxy.send_batch([Entry.service(mac, data)])  # noqa: E731
                async with on_air(send, Beacons(MAC, pid=0x0098)):
                    await log.wait_for(level, 42, timeout=20)
        finally:
            await app.stop()
    assert flower.connects == 1
    device = app.registry.get("C47C8D6A1122")
    assert device is not None and device.values["battery"] == 42
