"""Devices added, removed and renamed while the bridge runs, seen by a paired controller.

The bridge runs on 127.0.0.1 with a real aiohomekit controller paired once; after every
change the controller reads the accessory list again and sees the new or removed
accessory while every other aid stays the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bridge_helpers import SETUP_CODE, bridge_config
from homekit_helpers import AccessoryView, controller_on_loopback, free_port, pair

from mihomekit.app import App
from mihomekit.mi32cfg import DeviceEntry
from mihomekit.sources.gateway.models import device_model


def _entry(n: int, pid: int = 0x055B) -> DeviceEntry:
    return DeviceEntry(mac=f"A4C1380000{n:02X}", pid=pid, key=None)


def _serials(view: AccessoryView) -> dict[str, int]:
    return {view.info(aid)["SerialNumber"]: aid for aid in view.aids() if aid != 1}


async def _view(pairing: Any) -> AccessoryView:
    return AccessoryView(await pairing.list_accessories_and_characteristics())


@pytest.mark.timeout(120)
async def test_add_remove_rename_while_running(tmp_path: Path) -> None:
    first = [_entry(1), _entry(2), _entry(3)]
    app = App(bridge_config(tmp_path, free_port(), first))
    await app.start()
    try:
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, SETUP_CODE)
            before = _serials(await _view(pairing))
            assert len(before) == 3
            version = app.driver.state.config_version

            # A device added: a new accessory with a new aid; the others keep theirs.
            added = app.registry.add_entry(_entry(4))
            assert added.id == "A4C138000004"
            view = await _view(pairing)
            after = _serials(view)
            new_serial = set(after) - set(before)
            assert len(new_serial) == 1
            new_aid = after[new_serial.pop()]
            assert new_aid not in before.values()
            assert {s: a for s, a in after.items() if a != new_aid} == before
            assert app.driver.state.config_version > version
            assert app.state.aids["A4C138000004"] == new_aid
            with pytest.raises(ValueError):
                app.registry.add_entry(_entry(4))

            # Renamed: the Name the controller reads changes, the aid does not.
            app.registry.rename("A4C138000004", "Bedroom")
            view = await _view(pairing)
            assert view.info(new_aid)["Name"] == "Bedroom"
            with pytest.raises(ValueError):
                app.registry.rename("A4C138000004", "  ")

            # Removed: gone from the list, values dropped, aid not reused.
            removed_aid = before[next(iter(before))]
            removed_id = next(d for d, a in app.state.aids.items() if a == removed_aid)
            app.state.remember_values(removed_id, {"temperature": 20.5}, 1.0)
            version = app.driver.state.config_version
            app.registry.remove(removed_id)
            view = await _view(pairing)
            assert removed_aid not in view.aids()
            assert app.driver.state.config_version > version
            assert app.registry.get(removed_id) is None
            saved = json.loads((tmp_path / "bridge.json").read_text())
            assert removed_id not in saved["aids"]
            assert removed_id not in saved["last_values"]
            assert app.registry.remove(removed_id) is None

            # A device added afterwards never gets the removed aid (nor the same device).
            again = app.registry.add_entry(DeviceEntry(mac=removed_id, pid=0x055B, key=None))
            view = await _view(pairing)
            again_aid = _serials(view)[_display(again.id)]
            assert again_aid not in (removed_aid, new_aid, *before.values())

            # A device announced by a source (gateway, Zigbee2MQTT) goes through the same placement.
            model = device_model("sensor_motion.aq2")
            assert model is not None
            app.registry.add_device("158d0001aabbcc", model, "Hall motion", source="zigbee")
            view = await _view(pairing)
            zigbee = [a for a in view.aids() if view.info(a)["Name"] == "Hall motion"]
            assert zigbee == [app.state.aids["158d0001aabbcc"]]
            aids_now = dict(app.state.aids)
    finally:
        await app.stop()

    # After a restart every device keeps its aid; the removed one stays gone.
    entries = [e for e in first if e.mac != removed_id] + [_entry(4)]
    entries.append(DeviceEntry(mac=removed_id, pid=0x055B, key=None))
    app = App(bridge_config(tmp_path, free_port(), entries))
    assert app.state.aids == aids_now
    assert app.hubs[0].slot.members == set(aids_now)


def _display(device_id: str) -> str:
    return ":".join(device_id[i : i + 2] for i in range(0, 12, 2))
