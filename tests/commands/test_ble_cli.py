"""``mihomekit ble``: clock, units, battery and any characteristic, through the fake proxy
(aioesphomeapi's real GATT calls) against the sensor models."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from esphome_fake import GATT_FLAGS, Entry, FakeProxy
from mi_peripherals import (
    BATTERY_LEVEL,
    CLOCK,
    DATA,
    UNITS,
    BatteryServiceDevice,
    FlowerCare,
    MmcSensor,
    Peripheral,
    battery_cases,
    lywsd03_data,
)
from sensor_air import Beacons, on_air

from mihomekit.ble.operations import local_utc_offset
from mihomekit.cli import main
from mihomekit.mi32cfg import DeviceEntry, save_mi32cfg

MAC = "A4:C1:38:12:34:56"


@pytest.fixture
async def proxy() -> AsyncIterator[FakeProxy]:
    async with FakeProxy(name="attic", feature_flags=GATT_FLAGS) as running:
        yield running


def settings_for(proxy: FakeProxy, tmp_path: Path) -> str:
    path = tmp_path / "mihomekit.toml"
    path.write_text(
        f'[bridge]\nstate_dir = "{tmp_path}/state"\n\n'
        f'[[esphome]]\nhost = "127.0.0.1"\nport = {proxy.port}\nname = "attic"\n'
    )
    return str(path)


async def ble(proxy: FakeProxy, tmp_path: Path, *args: str, timeout: float = 5) -> int:
    argv = ["ble", *args, "--proxy", "attic", "--settings", settings_for(proxy, tmp_path)]
    return await asyncio.to_thread(main, [*argv, "--timeout", str(timeout)])


async def test_time_sets_the_clock_of_a_model_known_from_its_advertisement(
    proxy: FakeProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sensor = MmcSensor()
    proxy.add_peripheral(MAC, sensor)
    send = lambda mac, data: proxy.send_batch([Entry.service(mac, data)])  # noqa: E731
    async with on_air(send, Beacons(MAC, pid=0x045B)):
        assert await ble(proxy, tmp_path, "time", MAC) == 0
    [written] = sensor.writes_to(CLOCK)
    seconds, hours = struct.unpack("<Ib", written)
    assert abs(seconds - time.time()) < 120
    assert hours == int(local_utc_offset() / 3600)
    assert "clock of LYWSD02 set to" in capsys.readouterr().out


async def test_unit_uses_the_model_of_the_mi32cfg(
    proxy: FakeProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sensor = MmcSensor(units=b"\x00")
    proxy.add_peripheral(MAC, sensor)
    config = tmp_path / "mi32cfg"
    save_mi32cfg(config, [DeviceEntry("A4C138123456", 0x055B, None)])
    assert await ble(proxy, tmp_path, "unit", MAC, "F", "--config", str(config)) == 0
    assert sensor.writes_to(UNITS) == [b"\x01"]
    assert capsys.readouterr().out.strip() == "LYWSD03MMC shows °F"
    assert await ble(proxy, tmp_path, "unit", MAC, "c", "--model", "LYWSD02") == 0
    assert sensor.writes_to(UNITS)[-1] == b"\xff"


@pytest.mark.parametrize(("model", "device", "expected"), battery_cases())
async def test_battery_of_each_model(
    proxy: FakeProxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model: str,
    device: Peripheral,
    expected: str,
) -> None:
    proxy.add_peripheral(MAC, device)
    assert await ble(proxy, tmp_path, "battery", MAC, "--model", model) == 0
    assert capsys.readouterr().out.strip() == expected
    assert device.connects == 1 and device.disconnects == 1


async def test_read_write_and_notify_any_characteristic(
    proxy: FakeProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cgd1 = BatteryServiceDevice(battery=58)
    sensor = MmcSensor(data=lywsd03_data(20.0, 40, 2900))
    proxy.add_peripheral(MAC, cgd1)
    proxy.add_peripheral("A4:C1:38:00:00:02", sensor)
    assert await ble(proxy, tmp_path, "read", MAC, "180f", "0x2A19") == 0
    assert capsys.readouterr().out.strip() == "3a"
    assert await ble(proxy, tmp_path, "write", MAC, "180f", "2a19", "07") == 0
    assert cgd1.writes_to(BATTERY_LEVEL) == [b"\x07"]
    assert cgd1.writes[-1][2] is True  # with response
    capsys.readouterr()
    mmc = "ebe0ccb0-7a0a-4b0c-8a1a-6ff2997da3a6"
    assert await ble(proxy, tmp_path, "notify", "A4:C1:38:00:00:02", mmc, DATA) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [lywsd03_data(20.0, 40, 2900).hex(" "), "1 notification"]


async def test_a_model_without_the_operation_fails_in_one_line(
    proxy: FakeProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.add_peripheral(MAC, FlowerCare())
    assert await ble(proxy, tmp_path, "time", MAC, "--model", "HHCCJCY01") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HHCCJCY01 has no clock" in err


async def test_an_unknown_model_asks_for_model(
    proxy: FakeProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.add_peripheral(MAC, MmcSensor())
    assert await ble(proxy, tmp_path, "battery", MAC, timeout=0.3) == 1
    assert "give it with --model" in capsys.readouterr().err
