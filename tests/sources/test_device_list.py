"""The mi32cfg as a source: changes by other programs reach the registry, bad files do not."""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path

import pytest

from mihomekit.decoders import build
from mihomekit.mi32cfg import DeviceEntry, save_mi32cfg
from mihomekit.readings import KeyStatus
from mihomekit.registry import DeviceAdded, DeviceChanged, DeviceRemoved, Registry, RegistryEvent
from mihomekit.sources.device_list import DeviceList

KEY = bytes.fromhex("e9ea895fac7eea6d30532432a516f3a3")
TH = DeviceEntry(mac="A4C138112233", pid=0x055B, key=None, name="Hall")
OTHER = DeviceEntry(mac="A4C138445566", pid=0x055B, key=None)


def _frame(counter: int) -> bytes:
    return build.mibeacon_frame(
        0x055B,
        counter & 0xFF,
        [(0x1004, struct.pack("<h", 215))],
        mac="A4:C1:38:11:22:33",
        key=KEY,
        ext_counter=counter >> 8,
    )


def _setup(tmp_path: Path) -> tuple[Path, Registry, DeviceList, list[RegistryEvent]]:
    path = tmp_path / "mi32cfg"
    save_mi32cfg(path, [TH])
    registry = Registry()
    registry.add_entry(TH)
    events: list[RegistryEvent] = []
    registry.subscribe(events.append)
    return path, registry, DeviceList(path, [TH], registry, watch_interval=0.05), events


async def _until(condition: object, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.02)


async def test_another_program_adds_a_key_and_a_device(tmp_path: Path) -> None:
    path, registry, devices, events = _setup(tmp_path)
    registry.handle_advertisement("A4:C1:38:11:22:33", 0xFE95, _frame(0x100))
    assert registry.get(TH.mac).key_status is KeyStatus.MISSING  # type: ignore[union-attr]
    await devices.start()
    try:
        save_mi32cfg(path, [DeviceEntry(TH.mac, TH.pid, KEY, TH.name), OTHER])
        await _until(lambda: registry.get(OTHER.mac) is not None)
        device = registry.get(TH.mac)
        assert device is not None and device.key == KEY
        # The new key is checked at once against the frame heard before.
        assert device.key_status is KeyStatus.OK
        assert any(isinstance(e, DeviceAdded) and e.device.id == OTHER.mac for e in events)
        # The next frame decrypts.
        result = registry.handle_advertisement("A4:C1:38:11:22:33", 0xFE95, _frame(0x101))
        assert result is not None and result.ok and device.values["temperature"] == 21.5
        # Removed from the file: removed from the registry.
        save_mi32cfg(path, [DeviceEntry(TH.mac, TH.pid, KEY, "Hallway")])
        await _until(lambda: registry.get(OTHER.mac) is None)
        assert device.name == "Hallway"
        assert any(isinstance(e, DeviceRemoved) for e in events)
        assert any(isinstance(e, DeviceChanged) and e.what == "name" for e in events)
    finally:
        await devices.stop()


async def test_a_broken_file_is_named_once_and_the_devices_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, registry, devices, _events = _setup(tmp_path)
    await devices.start()
    try:
        with caplog.at_level(logging.WARNING):
            path.write_text('[{"MAC": "nonsense"')
            await _until(lambda: not devices.status.connected)
            path.write_text('[{"MAC": "still nonsense"')
            await asyncio.sleep(0.3)
        assert registry.get(TH.mac) is not None
        warnings = [r for r in caplog.records if "device list" in r.getMessage()]
        assert len(warnings) == 2  # one per distinct problem, not one per look
        save_mi32cfg(path, [TH, OTHER])
        await _until(lambda: registry.get(OTHER.mac) is not None)
        assert devices.status.connected
    finally:
        await devices.stop()
