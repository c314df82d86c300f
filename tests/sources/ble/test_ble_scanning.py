"""BleAdapter scanning through unmodified bleak and the BlueZ stand-in: passive scanning with
its or-patterns, the fallbacks to active scanning, scan modes and the errors at start."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from ble_helpers import ATC1441, LYWSD03MMC_V3, Heard, advertise_until
from bluez_fake import FakeBluez

from mihomekit.errors import AdapterError
from mihomekit.sources.ble import BleAdapter

pytestmark = pytest.mark.timeout(30)

PASSIVE_REFUSED = "passive scanning on Linux requires BlueZ >= 5.56 with --experimental"


async def test_passive_scanning_forwards_sensor_frames_only(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        heard = Heard()
        adapter = BleAdapter(heard, adapter="hci0", watchdog_seconds=0)
        await adapter.start()
        try:
            assert adapter.mode == "passive"
            await advertise_until(bluez, lambda: len(heard) > 0, LYWSD03MMC_V3)
            # not matched by any pattern: BlueZ does not even report it
            assert not bluez.advertise("11:22:33:44:55:66", manufacturer_data={0x004C: b"\x02"})
            mac, uuid, data = ATC1441
            assert bluez.advertise(mac, service_data={uuid: bytes.fromhex(data)}, rssi=-71)
            await bluez.wait_for(lambda: ATC1441[0] in heard.macs())
            patterns = bluez.active_monitors()
        finally:
            await adapter.stop()
        assert bluez.called("RegisterMonitor")[0].path == "/org/bluez/hci0"
        assert bluez.called("UnregisterMonitor")
        assert not bluez.called("StartDiscovery")
    (monitor,) = patterns
    assert (0, 0x16, b"\x95\xfe") in monitor and (0, 0x16, b"\x1a\x18") in monitor
    first = heard.advertisements[0]
    assert (first.mac, first.service_data, first.receiver) == (
        LYWSD03MMC_V3[0],
        {0xFE95: bytes.fromhex(LYWSD03MMC_V3[2])},
        "local",
    )
    last = heard.advertisements[-1]
    assert (last.mac, last.rssi) == (ATC1441[0], -71)
    assert adapter.status.advertisements == len(heard) and not adapter.status.connected


@pytest.mark.parametrize(
    ("monitor", "why"),
    [("unknown-method", PASSIVE_REFUSED), ("not-supported", "org.bluez.Error.NotSupported")],
)
async def test_auto_falls_back_to_active_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monitor: Any, why: str
) -> None:
    caplog.set_level(logging.INFO, logger="mihomekit")
    async with FakeBluez.running(tmp_path, monitor=monitor) as bluez:
        heard = Heard()
        adapter = BleAdapter(heard, watchdog_seconds=0)
        await adapter.start()
        try:
            assert adapter.mode == "active"
            assert bluez.discovering()
            await advertise_until(bluez, lambda: len(heard) > 0)
        finally:
            await adapter.stop()
        assert not bluez.discovering()
        assert bluez.called("SetDiscoveryFilter")[0].args[0] == {
            "Transport": "le",
            "DuplicateData": False,
        }
    lines = [r for r in caplog.records if "passive BLE scanning not available" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert why in lines[0].getMessage()


async def test_passive_mode_refuses_to_fall_back(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path, monitor="unknown-method") as bluez:
        adapter = BleAdapter(Heard(), scan_mode="passive")
        with pytest.raises(AdapterError) as info:
            await adapter.start()
        assert "passive Bluetooth scanning is not available" in str(info.value)
        assert "--experimental" in str(info.value)
        assert not adapter.running
        assert not bluez.called("StartDiscovery")


async def test_active_mode_never_registers_a_monitor(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        adapter = BleAdapter(Heard(), scan_mode="active", watchdog_seconds=0)
        await adapter.start()
        assert adapter.mode == "active"
        await adapter.stop()
        assert [c.member for c in bluez.calls if c.member != "GetManagedObjects"] == [
            "SetDiscoveryFilter",
            "StartDiscovery",
            "StopDiscovery",
            "SetDiscoveryFilter",
        ]


@pytest.mark.parametrize("scan_mode", ["auto", "passive", "active"])
async def test_no_adapter_is_a_clear_adapter_error(tmp_path: Path, scan_mode: str) -> None:
    async with FakeBluez.running(tmp_path, adapters=()) as bluez:
        adapter = BleAdapter(Heard(), scan_mode=scan_mode)
        with pytest.raises(AdapterError) as info:
            await adapter.start()
        assert str(info.value) == "no Bluetooth adapter found (BlueZ lists no adapter)"
        named = BleAdapter(Heard(), adapter="hci7", scan_mode=scan_mode)
        with pytest.raises(AdapterError, match=r"\(adapter 'hci7' not found\)"):
            await named.start()
        assert named.status.last_error == "adapter hci7 not found"
        # without an adapter active scanning cannot work either: no fallback attempt
        assert not bluez.called("RegisterMonitor") and not bluez.called("StartDiscovery")


async def test_powered_off_adapter_at_start(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        await bluez.set_powered("hci0", False)
        adapter = BleAdapter(Heard())
        with pytest.raises(AdapterError, match="powered off"):
            await adapter.start()
        assert adapter.status.last_error == "adapter hci0 powered off"
