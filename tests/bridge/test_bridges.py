"""Child bridges: more devices than one HomeKit bridge holds, each device on exactly one.

A real aiohomekit controller pairs with each bridge over 127.0.0.1 (each bridge has its own
identity, port, setup code and mDNS advertisement) and reads every accessory list.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from bridge_helpers import SETUP_CODE, bridge_config
from homekit_helpers import AccessoryView, controller_on_loopback, free_port, pair

from mihomekit.app import App
from mihomekit.homekit.window import WINDOW_FILE, read_open_until
from mihomekit.mi32cfg import DeviceEntry
from mihomekit.placement import BridgeRule
from mihomekit.setupcode import child_setup_code, child_setup_id, setup_uri
from mihomekit.sources.gateway.models import device_model
from mihomekit.sources.recording import RecordedAdvertisement, ReplaySource


def _entries(start: int, count: int) -> list[DeviceEntry]:
    return [
        DeviceEntry(mac=f"A4C138{n:06X}", pid=0x055B, key=None) for n in range(start, start + count)
    ]


def _serial_aids(view: AccessoryView) -> dict[str, int]:
    return {view.info(aid)["SerialNumber"].replace(":", ""): aid for aid in view.aids() if aid != 1}


def _placement(app: App) -> dict[str, tuple[int, int]]:
    """device id → (bridge number, aid), from the persisted aid maps."""
    return {d: (hub.number, aid) for hub in app.hubs for d, aid in hub.state.aids.items()}


@pytest.mark.timeout(180)
async def test_400_devices_three_bridges_then_20_more(tmp_path: Path) -> None:
    port = free_port()
    entries = _entries(0, 400)
    app = App(bridge_config(tmp_path, port, entries))
    await app.start()
    pairings: dict[int, dict[str, Any]] = {}
    try:
        assert [h.number for h in app.hubs] == [1, 2, 3]
        assert [h.served for h in app.hubs] == [149, 149, 102]
        ports = [h.port for h in app.hubs]
        assert ports[0] == port and ports[1] > port and ports[2] > ports[1]
        assert len({h.device_id for h in app.hubs}) == 3
        assert app.hubs[0].setup_code == SETUP_CODE
        for hub in app.hubs[1:]:
            assert hub.setup_code == child_setup_code(SETUP_CODE, hub.number)
            assert hub.state.setup_id == child_setup_id(hub.number)
            assert hub.setup_uri == setup_uri(hub.setup_code, hub.state.setup_id)
            assert (tmp_path / f"bridge-{hub.number}" / "accessory.state").is_file()
        seen: dict[str, int] = {}
        async with controller_on_loopback() as controller:
            for hub in app.hubs:
                pairing = await pair(controller, hub.device_id, hub.setup_code, f"b{hub.number}")
                assert hub.paired
                view = AccessoryView(await pairing.list_accessories_and_characteristics())
                served = _serial_aids(view)
                assert len(served) == hub.served
                for serial, aid in served.items():
                    assert serial not in seen, (
                        f"{serial} on bridges {seen[serial]} and {hub.number}"
                    )
                    seen[serial] = hub.number
                    assert hub.state.aids[serial] == aid
                pairings[hub.number] = dict(pairing.pairing_data)
                await pairing.close()
        assert set(seen) == {e.mac for e in entries}
        before = _placement(app)
    finally:
        await app.stop()

    # 20 more devices (put first in the list) and a restart: nobody moves, aids stay.
    more = _entries(1000, 20)
    app = App(bridge_config(tmp_path, port, more + entries))
    await app.start()
    try:
        after = _placement(app)
        assert {d: after[d] for d in before} == before
        assert {after[e.mac][0] for e in more} == {3}
        assert [h.served for h in app.hubs] == [149, 149, 122]
        async with controller_on_loopback() as controller:
            for hub in app.hubs:
                assert hub.paired
                pairing = controller.load_pairing(f"b{hub.number}", pairings[hub.number])
                view = AccessoryView(await pairing.list_accessories_and_characteristics())
                served = _serial_aids(view)
                assert {s: (hub.number, a) for s, a in served.items()} == {
                    d: p for d, p in after.items() if p[0] == hub.number
                }
                await pairing.close()
    finally:
        await app.stop()


@pytest.mark.timeout(120)
async def test_full_bridge_device_found_while_running(tmp_path: Path) -> None:
    """Bridge 1 is full: a Zigbee device found while running gets a new child bridge."""
    app = App(bridge_config(tmp_path, free_port(), _entries(0, 2), bridge_capacity=2))
    await app.start()
    try:
        assert len(app.hubs) == 1
        model = device_model("sensor_motion.aq2")
        assert model is not None
        app.registry.add_device("158d0001aabbcc", model, "Porch motion", source="zigbee")
        assert len(app.hubs) == 2
        child = app.hubs[1]
        assert child.slot.members == {"158d0001aabbcc"}
        await _until_started(child)
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, child.device_id, child.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            names = {view.info(aid)["Name"] for aid in view.aids() if aid != 1}
            assert names == {"Porch motion"}
            # One more BLE device fits on the child: it appears there without a restart.
            app.registry.add_entry(_entries(50, 1)[0])
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            assert set(_serial_aids(view)) == {"158d0001aabbcc", "A4C138000032"}
            await pairing.close()
    finally:
        await app.stop()


async def _until_started(hub: Any) -> None:
    for _ in range(200):
        if hub.started:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"bridge {hub.number} did not start")


def test_no_room_and_no_child_bridges_names_the_device(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mihomekit.app")
    entries = _entries(0, 4)
    app = App(bridge_config(tmp_path, free_port(), entries, bridge_capacity=3, child_bridges=False))
    assert app.hubs.unplaced == [entries[3].mac]
    model = device_model("sensor_magnet.aq2")
    assert model is not None
    app.registry.add_device("158d000011", model, "Back door", source="zigbee")
    app.registry.add_device("158d000011", model, "Back door", source="zigbee")
    assert app.hubs.unplaced == ["158d000011", entries[3].mac]
    named = [r.getMessage() for r in caplog.records if "is not in HomeKit" in r.getMessage()]
    assert len(named) == 2, named  # once each, however often the device is reported
    assert any("Back door (158d000011)" in m and "child bridges are off" in m for m in named)
    assert not (tmp_path / "bridge-2").exists()


def test_at_most_max_bridges(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No bridge beyond [bridge] max_bridges: the rest are counted and said once; bridges
    on disk beyond it (from an older version) are not served."""
    caplog.set_level(logging.WARNING, logger="mihomekit.hubs")
    app = App(bridge_config(tmp_path, free_port(), _entries(0, 10), bridge_capacity=3))
    assert len(app.hubs) == 4
    app = App(
        bridge_config(tmp_path, free_port(), _entries(0, 16), bridge_capacity=3, max_bridges=2)
    )
    assert [hub.number for hub in app.hubs] == [1, 2]
    assert len(app.hubs.unplaced) == 10
    assert app.hubs.over_cap == {"bridge.max_bridges": 10}
    model = device_model("sensor_magnet.aq2")
    assert model is not None
    for n in range(5):
        app.registry.add_device(f"158d00001{n}", model, None, source="zigbee")
    assert app.hubs.over_cap == {"bridge.max_bridges": 15}
    assert len(app.hubs) == 2
    said = [r.getMessage() for r in caplog.records if "max_bridges" in r.getMessage()]
    assert len(said) == 2, said  # the bridges on disk not served, then the cap, once
    assert "bridges 3, 4 in" in said[0]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "bridge-2",
        "bridge-3",
        "bridge-4",
    ]


def test_bridges_rules_and_persisted_assignment(tmp_path: Path) -> None:
    """[[bridges]] filters choose the bridge of new devices; a placed device never moves
    on its own; a filter added later moves a device, and says so."""
    motion = device_model("sensor_motion.aq2")
    assert motion is not None
    garden = BridgeRule.of("Garden", devices=["A4:C1:38:00:00:01"])
    zigbee = BridgeRule.of("Zigbee", sources=["zigbee"])
    app = App(bridge_config(tmp_path, free_port(), _entries(0, 3), bridges=[garden, zigbee]))
    app.registry.add_device("158d0000aa", motion, None, source="zigbee")
    assert {h.name: sorted(h.slot.members) for h in app.hubs} == {
        "Mi-Home-Bridge": ["A4C138000000", "A4C138000002"],
        "Garden": ["A4C138000001"],
        "Zigbee": ["158d0000aa"],
    }
    placed = _placement(app)
    saved = json.loads((tmp_path / "bridge-2" / "bridge.json").read_text())
    assert saved["label"] in ("Garden", "Zigbee")

    # Without the settings the child bridges stay, and so does every device.
    app = App(bridge_config(tmp_path, free_port(), _entries(0, 3)))
    app.registry.add_device("158d0000aa", motion, None, source="zigbee")
    assert _placement(app) == placed

    # A filter naming a device on bridge 1 moves it (the user's choice), with a log line.
    lawn = BridgeRule.of("Garden", devices=["A4C138000001", "A4C138000002"])
    app = App(bridge_config(tmp_path, free_port(), _entries(0, 3), bridges=[lawn, zigbee]))
    moved = _placement(app)
    garden_number = next(h.number for h in app.hubs if h.name == "Garden")
    assert moved["A4C138000002"][0] == garden_number
    assert placed["A4C138000002"][0] == 1
    assert "A4C138000002" not in app.hubs[0].state.aids
    assert moved["A4C138000000"] == placed["A4C138000000"]
    assert moved["A4C138000001"] == placed["A4C138000001"]


def test_upgrade_with_more_than_149_on_one_bridge(tmp_path: Path) -> None:
    """Older versions gave all 200 devices an aid on bridge 1 and served the first 149: those
    stay as they are, the 51 HomeKit never saw go to bridge 2."""
    entries = _entries(0, 200)
    aids = {e.mac: 2 + i for i, e in enumerate(reversed(entries))}
    state = {"version": 1, "setup_id": "MI32", "next_aid": 202, "aids": aids}
    (tmp_path / "bridge.json").write_text(json.dumps(state))
    app = App(bridge_config(tmp_path, free_port(), entries))
    first = app.hubs[0]
    assert {d: first.state.aids[d] for d in first.slot.members} == {
        d: a for d, a in aids.items() if a <= 150
    }
    assert len(app.hubs[1].slot.members) == 51
    assert app.hubs.unplaced == []


async def test_single_bridge_state_unchanged(tmp_path: Path) -> None:
    """An existing one-bridge install keeps its files, identity and aids byte for byte."""
    port = free_port()

    async def run_once() -> dict[str, bytes]:
        app = App(bridge_config(tmp_path, port, _entries(0, 5)))
        await app.start()
        await app.stop()
        # A clean stop finishes its writes: no temporary file is left behind.
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
        # Only the pairing window's end moves: an unpaired bridge opens it at every start.
        assert read_open_until(tmp_path / WINDOW_FILE) is not None
        return {
            p.name: p.read_bytes()
            for p in tmp_path.iterdir()
            if p.is_file() and p.name != WINDOW_FILE
        }

    await run_once()
    files = await run_once()
    assert await run_once() == files
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []
    saved = json.loads(files["bridge.json"])
    assert set(saved) == {
        "version",
        "device_id",
        "setup_id",
        "next_aid",
        "aids",
        "known_devices",
        "last_values",
    }


async def test_counters_are_logged_per_source(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One INFO line at the configured interval: frames processed and dropped by reason,
    and what each source received."""
    caplog.set_level(logging.INFO, logger="mihomekit.counters")
    records = [
        RecordedAdvertisement(0.0, "11:22:33:44:55:66", 0xFE95, b"\x01"),  # unknown device
        RecordedAdvertisement(0.0, "A4:C1:38:00:00:00", 0xFE95, b"\x00"),  # undecodable
    ]

    def replay(app: App) -> Any:
        return ReplaySource(records, app.registry.handle, speed=0, name="test.jsonl")

    config = bridge_config(
        tmp_path, free_port(), _entries(0, 1), stats_interval=0.05, sources=[replay]
    )
    app = App(config)
    await app.start()
    try:
        for _ in range(250):
            lines = [r for r in caplog.records if r.getMessage().startswith("counters:")]
            if lines and "replay test.jsonl: received=2" in lines[-1].getMessage():
                break
            await asyncio.sleep(0.02)
    finally:
        await app.stop()
    line = lines[-1]
    assert line.levelno == logging.INFO
    text = line.getMessage()
    assert "\n" not in text
    assert "advertisements=2" in text
    assert "dropped_unknown_device=1" in text
    assert "dropped_decode_error=1" in text
    assert "; replay test.jsonl: received=2 errors=0" in text
