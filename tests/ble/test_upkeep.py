"""The bridge's sensor upkeep: clocks (daily, after a DST change) over BlueZ, batteries
through a proxy, advertised batteries left alone, unreachable sensors warned about once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from bluez_fake import FakeBluez
from esphome_fake import GATT_FLAGS, Entry, FakeProxy
from mi_peripherals import CLOCK, FlowerCare, MmcSensor, Peripheral, on_bluez
from sensor_air import Beacons, on_air

from mihomekit.ble.esphome import EsphomeRadio
from mihomekit.ble.local import LocalRadio
from mihomekit.ble.queue import GattQueue
from mihomekit.ble.upkeep import SensorUpkeep, radio_chooser
from mihomekit.decoders.build import mibeacon_frame, obj_battery
from mihomekit.mi32cfg import DeviceEntry
from mihomekit.registry import Registry
from mihomekit.settings import EsphomeSettings
from mihomekit.sources.ble import BleAdapter
from mihomekit.sources.esphome.proxy import EsphomeProxy

pytestmark = pytest.mark.timeout(60)

MAC = "A4:C1:38:12:34:56"
T0 = 1_700_000_000.0


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


class Wall:
    """A wall clock and UTC offset the test moves."""

    def __init__(self) -> None:
        self.now = T0
        self.offset = 3600

    def time(self) -> float:
        return self.now

    def utc_offset(self, _now: float) -> int:
        return self.offset


def upkeep(registry: Registry, radio_for, tmp_path: Path, wall: Wall, **kwargs) -> SensorUpkeep:  # type: ignore[no-untyped-def]
    return SensorUpkeep(
        registry,
        radio_for,
        queue=GattQueue(lock_dir=str(tmp_path)),
        first_delay=0,
        check_every=0.05,
        gap=0,
        clock=wall.time,
        utc_offset=wall.utc_offset,
        **kwargs,
    )


@pytest.fixture
async def bluez(tmp_path: Path) -> AsyncIterator[FakeBluez]:
    async with FakeBluez.running(tmp_path) as running:
        yield running


async def test_clocks_are_set_at_start_after_a_dst_change_and_daily(
    bluez: FakeBluez, tmp_path: Path
) -> None:
    registry = Registry()
    device = registry.add_entry(DeviceEntry("A4C138123456", 0x045B, None))  # LYWSD02
    sensor = MmcSensor()
    on_bluez(bluez, MAC, sensor)
    scanner = BleAdapter(registry.handle, watchdog_seconds=0)
    wall = Wall()
    # A connection that fails on a busy machine is tried again at the next check.
    job = upkeep(
        registry, radio_chooser(LocalRadio(), {}), tmp_path, wall, set_clocks=True, retry=0
    )
    send = lambda mac, data: bluez.advertise(mac, service_data={0xFE95: data})  # noqa: E731
    await scanner.start()
    try:
        async with on_air(send, Beacons(MAC, pid=0x045B)):
            await until(lambda: device.last_seen is not None)
            await job.start()
            await until(lambda: len(sensor.writes_to(CLOCK)) == 1)
            await asyncio.sleep(0.3)  # several checks: nothing is due
            assert len(sensor.writes_to(CLOCK)) == 1
            wall.offset = 7200  # daylight saving time begins
            await until(lambda: len(sensor.writes_to(CLOCK)) == 2)
            wall.now += 86400  # a day later
            await until(lambda: len(sensor.writes_to(CLOCK)) == 3)
    finally:
        await job.stop()
        await scanner.stop()
    written = [struct.unpack("<Ib", data) for data in sensor.writes_to(CLOCK)]
    assert written == [(int(T0), 1), (int(T0), 2), (int(T0) + 86400, 2)]
    assert job.stats["clocks"] == 3


@contextlib.asynccontextmanager
async def through_attic(
    registry: Registry, sensor: Peripheral, tmp_path: Path, hours: float
) -> AsyncIterator[tuple[FakeProxy, SensorUpkeep]]:
    """A proxy "attic" hosting ``sensor`` and feeding ``registry``; the upkeep (not started)
    polling batteries through it every ``hours``."""
    async with FakeProxy(name="attic", feature_flags=GATT_FLAGS) as proxy:
        proxy.add_peripheral(MAC, sensor)
        settings = EsphomeSettings(host="127.0.0.1", port=proxy.port, name="attic")
        source = EsphomeProxy.from_settings(settings, registry.handle)
        chooser = radio_chooser(None, {"attic": EsphomeRadio(settings)})
        job = upkeep(registry, chooser, tmp_path, Wall(), battery_poll_hours=hours)
        await source.start()
        try:
            await proxy.wait_subscribed()
            yield proxy, job
        finally:
            await job.stop()
            await source.stop()


async def test_batteries_are_read_through_the_proxy_that_hears_the_sensor(
    tmp_path: Path,
) -> None:
    registry = Registry()
    device = registry.add_entry(DeviceEntry("A4C138123456", 0x0098, None))  # Flower Care
    flower = FlowerCare(battery=64)
    async with through_attic(registry, flower, tmp_path, 6) as (proxy, job):
        send = lambda mac, data: proxy.send_batch([Entry.service(mac, data)])  # noqa: E731
        async with on_air(send, Beacons(MAC, pid=0x0098)):
            await until(lambda: device.best_receiver == "attic")
            await job.start()
            await until(lambda: "battery" in device.values)
            await asyncio.sleep(0.3)
    assert device.values["battery"] == 64
    assert flower.connects == 1  # read once: the next one is due in 6 hours


async def test_a_battery_the_advertisements_carry_is_not_polled(tmp_path: Path) -> None:
    registry = Registry()
    device = registry.add_entry(DeviceEntry("A4C138123456", 0x045B, None))  # LYWSD02
    sensor = MmcSensor(battery=77)
    async with through_attic(registry, sensor, tmp_path, 0.0001) as (proxy, job):
        proxy.send_batch(
            [Entry.service(MAC, mibeacon_frame(0x045B, 1, [obj_battery(90)], mac=MAC))]
        )
        await until(lambda: "battery" in device.values)
        await job.start()
        await asyncio.sleep(0.4)
    assert sensor.connects == 0
    assert device.values["battery"] == 90


async def test_an_unreachable_sensor_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry()
    device = registry.add_entry(DeviceEntry("A4C138123456", 0x0098, None))
    device.last_seen = 1.0
    device.best_receiver = "attic"
    caplog.set_level(logging.DEBUG, logger="mihomekit.ble.upkeep")
    async with FakeProxy(name="attic", feature_flags=GATT_FLAGS) as proxy:  # no peripheral
        settings = EsphomeSettings(host="127.0.0.1", port=proxy.port, name="attic")
        job = upkeep(
            registry,
            radio_chooser(None, {"attic": EsphomeRadio(settings)}),
            tmp_path,
            Wall(),
            battery_poll_hours=0.00001,
            retry=0,
        )
        await job.start()
        try:
            await until(lambda: job.stats["failures"] >= 3)
        finally:
            await job.stop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "battery of HHCCJCY01-123456 (A4:C1:38:12:34:56) failed" in warnings[0].getMessage()
    assert job.status.last_error is not None and "A4:C1:38:12:34:56" in job.status.last_error
