"""``mihomekit ble`` through unmodified bleak against the BlueZ stand-in: clock, units and
battery of the model peripherals, and any characteristic."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bluez_fake import FakeBluez
from mi_peripherals import (
    CLOCK,
    DATA,
    LYWSD03_DATA,
    UNITS,
    BatteryServiceDevice,
    MmcSensor,
    Peripheral,
    battery_cases,
    on_bluez,
)
from sensor_air import Beacons

from mihomekit.ble.operations import local_utc_offset
from mihomekit.cli import main
from mihomekit.mi32cfg import DeviceEntry, save_mi32cfg

pytestmark = pytest.mark.timeout(60)

MAC = "A4:C1:38:12:34:56"


@pytest.fixture
async def bluez(tmp_path: Path) -> AsyncIterator[FakeBluez]:
    async with FakeBluez.running(tmp_path) as running:
        yield running


async def ble(tmp_path: Path, *args: str) -> int:
    settings = tmp_path / "empty.toml"
    settings.write_text(f'[bridge]\nstate_dir = "{tmp_path}/state"\n')
    argv = ["ble", *args, "--settings", str(settings), "--timeout", "5"]
    return await asyncio.to_thread(main, argv)


@contextlib.asynccontextmanager
async def advertising(bluez: FakeBluez, pid: int = 0x055B) -> AsyncIterator[None]:
    """The sensor advertises every 50 ms (BlueZ reports it to whoever scans)."""
    beacons = Beacons(MAC, pid=pid)

    async def loop() -> None:
        while True:
            bluez.advertise(MAC, service_data={0xFE95: beacons.frame()})
            await asyncio.sleep(0.05)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_time_over_bluez_sets_the_lywsd02_clock(
    bluez: FakeBluez, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sensor = MmcSensor()
    peripheral = on_bluez(bluez, MAC, sensor)
    async with advertising(bluez, 0x045B):
        assert await ble(tmp_path, "time", MAC) == 0
    [written] = sensor.writes_to(CLOCK)
    seconds, hours = struct.unpack("<Ib", written)
    assert abs(seconds - time.time()) < 120
    assert hours == int(local_utc_offset() / 3600)
    assert peripheral.writes[-1].with_response
    assert "clock of LYWSD02 set" in capsys.readouterr().out


async def test_unit_over_bluez_switches_an_mho_c401(
    bluez: FakeBluez, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sensor = MmcSensor()
    on_bluez(bluez, MAC, sensor)
    config = tmp_path / "mi32cfg"
    save_mi32cfg(config, [DeviceEntry("A4C138123456", 0x0387, None)])
    async with advertising(bluez, 0x0387):
        assert await ble(tmp_path, "unit", MAC, "f", "--config", str(config)) == 0
        assert await ble(tmp_path, "unit", MAC, "c", "--config", str(config)) == 0
    assert sensor.writes_to(UNITS) == [b"\x01", b"\x00"]
    assert capsys.readouterr().out.splitlines() == ["MHO-C401 shows °F", "MHO-C401 shows °C"]


async def _pump(peripheral: object, data: bytes) -> None:
    """The LYWSD03MMC notifies its data every few seconds once subscribed."""
    while True:
        peripheral.notify(DATA, data)  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(("model", "device", "expected"), battery_cases())
async def test_battery_over_bluez(
    bluez: FakeBluez,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model: str,
    device: Peripheral,
    expected: str,
) -> None:
    peripheral = on_bluez(bluez, MAC, device)
    pump = asyncio.create_task(_pump(peripheral, LYWSD03_DATA))
    try:
        async with advertising(bluez):
            assert await ble(tmp_path, "battery", MAC, "--model", model) == 0
    finally:
        pump.cancel()
    assert capsys.readouterr().out.strip() == expected
    assert not peripheral.connected


async def test_generic_read_write_notify_over_bluez(
    bluez: FakeBluez, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device = MmcSensor(battery=58)
    peripheral = on_bluez(bluez, MAC, device)
    mmc = "ebe0ccb0-7a0a-4b0c-8a1a-6ff2997da3a6"
    pump = asyncio.create_task(_pump(peripheral, b"\x2a"))
    try:
        async with advertising(bluez):
            battery = "ebe0ccc4-7a0a-4b0c-8a1a-6ff2997da3a6"
            assert await ble(tmp_path, "read", MAC, mmc, battery) == 0
            assert capsys.readouterr().out == "3a\n"
            assert await ble(tmp_path, "write", MAC, mmc, UNITS, "01", "--no-response") == 1
            assert "Not Permitted" in capsys.readouterr().err  # it needs a request
            assert await ble(tmp_path, "write", MAC, mmc, UNITS, "01") == 0
            assert await ble(tmp_path, "notify", MAC, mmc, DATA, "--count", "2") == 0
    finally:
        pump.cancel()
    assert device.writes_to(UNITS) == [b"\x01"]
    out = capsys.readouterr().out.splitlines()
    assert out == ["wrote 01", "2a", "2a", "2 notifications"]


async def test_a_sensor_bluez_never_heard_is_not_advertising(
    bluez: FakeBluez, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on_bluez(bluez, MAC, BatteryServiceDevice())
    settings = tmp_path / "empty.toml"
    settings.write_text("")
    argv = ["ble", "read", MAC, "180f", "2a19", "--settings", str(settings), "--timeout", "0.5"]
    assert await asyncio.to_thread(main, argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "A4:C1:38:12:34:56 is not advertising" in err
