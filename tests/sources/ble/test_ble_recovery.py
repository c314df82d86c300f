"""The BLE source follows BlueZ: bluetoothd restarts and crashes, the adapter unplugged and
back, powered off or blocked — through unmodified bleak and the BlueZ stand-in.

BlueZ's own signals drive the recovery, so the silence watchdog is set far out of the way
(600 s): what is heard again within the product's 5 s promise is the watch's work.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from ble_helpers import Heard, advertise_until
from bluez_fake import FakeBluez

from mihomekit.errors import AdapterError
from mihomekit.sources.ble import BleAdapter

pytestmark = pytest.mark.timeout(60)

#: The product's promise: scanning runs again within 5 s of BlueZ being back.
RECOVERY_SECONDS = 5.0
WATCHDOG = 600.0


@asynccontextmanager
async def scanning(bluez: FakeBluez, heard: Heard, **options: object) -> AsyncIterator[BleAdapter]:
    adapter = BleAdapter(heard, watchdog_seconds=WATCHDOG, **options)  # type: ignore[arg-type]
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


def mihomekit_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("mihomekit") and r.levelno == level
    ]


async def test_bluetoothd_restart_scanning_resumes_within_seconds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mihomekit")
    async with FakeBluez.running(tmp_path) as bluez:
        heard = Heard()
        async with scanning(bluez, heard, adapter="hci0") as adapter:
            await advertise_until(bluez, lambda: len(heard) > 0)
            assert adapter.mode == "passive" and adapter.status.connected

            await bluez.stop_daemon()
            await bluez.wait_for(lambda: not adapter.status.connected)
            assert adapter.status.last_error == "bluetoothd is not running"
            assert adapter.mode is None
            before = len(heard)
            await bluez.start_daemon()
            took = await advertise_until(bluez, lambda: len(heard) > before)
            assert took < RECOVERY_SECONDS
            assert adapter.status.connected
            assert adapter.mode == "passive"
            assert adapter.stats.restarts >= 1
    warnings = mihomekit_lines(caplog, logging.WARNING)
    assert warnings == [
        "BLE scanning stopped: bluetoothd is not running; it restarts when BlueZ is back"
    ]
    infos = mihomekit_lines(caplog, logging.INFO)
    assert "BLE scanning again (passive) after: bluetoothd is not running" in infos


async def test_bluetoothd_crash_and_return(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        heard = Heard()
        async with scanning(bluez, heard) as adapter:
            await advertise_until(bluez, lambda: len(heard) > 0)
            await bluez.crash()
            await bluez.wait_for(lambda: not adapter.status.connected)
            assert adapter.status.last_error == "bluetoothd is not running"
            before = len(heard)
            await bluez.start_daemon()
            took = await advertise_until(bluez, lambda: len(heard) > before)
            assert took < RECOVERY_SECONDS


async def test_adapter_replug_scanning_resumes_within_seconds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mihomekit")
    async with FakeBluez.running(tmp_path, monitor="unknown-method") as bluez:
        heard = Heard()
        async with scanning(bluez, heard, adapter="hci0") as adapter:
            await advertise_until(bluez, lambda: len(heard) > 0)
            assert adapter.mode == "active"
            await bluez.remove_adapter("hci0")
            await bluez.wait_for(lambda: not adapter.status.connected)
            assert adapter.status.last_error == "adapter hci0 gone"
            before = len(heard)
            await bluez.add_adapter("hci0")
            took = await advertise_until(bluez, lambda: len(heard) > before)
            assert took < RECOVERY_SECONDS
            assert adapter.status.connected and adapter.mode == "active"
    assert mihomekit_lines(caplog, logging.WARNING) == [
        "passive BLE scanning not available (passive scanning on Linux requires BlueZ >= 5.56 "
        "with --experimental enabled and Linux kernel >= 5.10); scanning actively",
        "BLE scanning stopped: adapter hci0 gone; it restarts when BlueZ is back",
    ]


@pytest.mark.parametrize(
    ("blocked", "reason"),
    [(False, "adapter hci0 powered off"), (True, "adapter hci0 blocked (rfkill")],
)
async def test_powered_off_or_blocked_then_on(tmp_path: Path, blocked: bool, reason: str) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        heard = Heard()
        async with scanning(bluez, heard) as adapter:
            await advertise_until(bluez, lambda: len(heard) > 0)
            await bluez.set_powered("hci0", False, blocked=blocked)
            await bluez.wait_for(lambda: not adapter.status.connected)
            assert (adapter.status.last_error or "").startswith(reason)
            before = len(heard)
            await bluez.set_powered("hci0", True)
            took = await advertise_until(bluez, lambda: len(heard) > before)
            assert took < RECOVERY_SECONDS


async def test_a_restarted_bluetoothd_with_experimental_scans_passively_again(
    tmp_path: Path,
) -> None:
    async with FakeBluez.running(tmp_path, monitor="unknown-method") as bluez:
        heard = Heard()
        async with scanning(bluez, heard) as adapter:
            assert adapter.mode == "active"
            await bluez.stop_daemon()
            bluez.monitor = "supported"  # the user enabled --experimental
            await bluez.start_daemon()
            await advertise_until(bluez, lambda: len(heard) > 0)
            assert adapter.mode == "passive"
            assert not bluez.discovering()


async def test_missing_adapter_at_start_is_one_line_then_picked_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mihomekit")
    async with FakeBluez.running(tmp_path, adapters=()) as bluez:
        heard = Heard()
        async with scanning(bluez, heard, adapter="hci0", wait_for_adapter=True) as adapter:
            assert adapter.running and not adapter.status.connected
            assert adapter.status.last_error == "adapter hci0 not found"
            await bluez.add_adapter("hci0")
            took = await advertise_until(bluez, lambda: len(heard) > 0)
            assert took < RECOVERY_SECONDS
            assert adapter.status.connected
    assert mihomekit_lines(caplog, logging.WARNING) == [
        "no Bluetooth adapter to scan with (adapter hci0 not found); "
        "scanning starts when it appears"
    ]


async def test_bluetoothd_not_running_at_start(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        await bluez.crash()
        strict = BleAdapter(Heard(), watchdog_seconds=WATCHDOG)
        with pytest.raises(AdapterError, match="bluetoothd is not running"):
            await strict.start()
        assert not strict.running
        heard = Heard()
        async with scanning(bluez, heard, wait_for_adapter=True) as adapter:
            assert adapter.status.last_error == "bluetoothd is not running"
            await bluez.start_daemon()
            await advertise_until(bluez, lambda: len(heard) > 0)
            assert adapter.status.connected
