"""BleAdapter's pure logic: a stand-in for ``BleakScanner`` injected through
``scanner_factory`` calls the detection callback with real ``BLEDevice``/``AdvertisementData``
objects, so filtering, counting and the watchdog's timing run without D-Bus.

Scanning through bleak itself (passive, the fallbacks, errors, recovery) is tested against
the BlueZ stand-in in ``test_ble_scanning.py`` and ``test_ble_recovery.py``.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from bleak.args.bluez import OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)
from fake_bleak import (
    ATC1441,
    BTHOME,
    LYWSD03MMC_ENCRYPTED,
    LYWSD03MMC_V3,
    PASSIVE_UNSUPPORTED,
    QINGPING,
    FakeBleak,
    advertisement,
    entries,
    recorded,
    wait_until,
)

from mihomekit.sources import ble
from mihomekit.sources.ble import OR_PATTERNS, BleAdapter, unavailable_reason


async def test_forwards_sensor_service_data_and_ignores_the_rest() -> None:
    heard: list[tuple[str, int, bytes, int | None]] = []
    fake = FakeBleak()
    adapter = BleAdapter(
        lambda adv: heard.extend(entries(adv)), scanner_factory=fake, watchdog_seconds=0
    )
    await adapter.start()
    try:
        scanner = fake.current
        scanner.feed(
            *recorded(LYWSD03MMC_ENCRYPTED, LYWSD03MMC_V3, ATC1441, QINGPING, BTHOME, rssi=-61)
        )
        scanner.feed(
            # battery service data from something else, and an Apple beacon
            advertisement("11:22:33:44:55:66", {0x180F: "64"}),
            advertisement("11:22:33:44:55:77", manufacturer_data={0x004C: b"\x02\x15"}),
            # lower-case address as some backends report it: forwarded upper-case
            advertisement("a4:c1:38:bc:7c:4e", {0x181A: ATC1441[2]}, rssi=-80),
        )
    finally:
        await adapter.stop()
    expected = [
        (mac, uuid, bytes.fromhex(data), -61)
        for mac, uuid, data in (LYWSD03MMC_ENCRYPTED, LYWSD03MMC_V3, ATC1441, QINGPING, BTHOME)
    ]
    expected.append(("A4:C1:38:BC:7C:4E", 0x181A, bytes.fromhex(ATC1441[2]), -80))
    assert heard == expected
    assert adapter.stats.as_dict() == {
        "advertisements": 8,
        "forwarded": 6,
        "ignored": 2,
        "restarts": 0,
        "errors": 0,
    }


async def test_every_sensor_entry_of_one_advertisement_is_forwarded() -> None:
    heard: list[tuple[str, int, bytes, int | None]] = []
    fake = FakeBleak()
    adapter = BleAdapter(
        lambda adv: heard.extend(entries(adv)), scanner_factory=fake, watchdog_seconds=0
    )
    await adapter.start()
    fake.current.feed(
        advertisement("A4:C1:38:02:83:F4", {0x180F: "64", 0xFE95: "3058", 0x181A: "00"})
    )
    await adapter.stop()
    assert sorted(uuid for _, uuid, _, _ in heard) == [0x181A, 0xFE95]
    assert adapter.stats.ignored == 0


async def test_passive_scan_uses_or_patterns_for_the_service_uuids() -> None:
    fake = FakeBleak()
    adapter = BleAdapter(lambda *a: None, adapter="hci1", scanner_factory=fake, watchdog_seconds=0)
    await adapter.start()
    assert adapter.mode == "passive"
    await adapter.stop()
    assert adapter.mode is None
    (scanner,) = fake.scanners
    assert scanner.kwargs["scanning_mode"] == "passive"
    bluez = scanner.kwargs["bluez"]
    assert bluez["adapter"] == "hci1"
    patterns = bluez["or_patterns"]
    assert OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\x95\xfe") in patterns
    contents = {p.content_of_pattern for p in patterns}
    assert {
        b"\x95\xfe",
        b"\x1a\x18",
        b"\xcd\xfd",
        b"\xf9\xff",
        b"\xd2\xfc",
        b"\x1c\x18",
        b"\x1e\x18",
        b"\x50\xfd",
        b"\x1d\x18",
        b"\x1b\x18",
    } == contents
    assert all(p.ad_data_type == 0x16 and p.start_position == 0 for p in patterns)
    assert list(OR_PATTERNS) == patterns
    assert scanner.stopped


def test_unknown_scan_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="scan_mode"):
        BleAdapter(lambda *a: None, scan_mode="loud")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            BleakBluetoothNotAvailableError(
                "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
            ),
            "BlueZ lists no adapter",
        ),
        (
            BleakBluetoothNotAvailableError(
                "No powered Bluetooth adapters found.", BleakBluetoothNotAvailableReason.POWERED_OFF
            ),
            "the adapter is powered off; turn Bluetooth on",
        ),
        (
            FileNotFoundError(2, "No such file or directory"),
            "the D-Bus system bus is not reachable",
        ),
        (BleakError("adapter 'hci7' not found"), "adapter 'hci7' not found"),
        (
            BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", ["no bluez"]),
            "bluetoothd is not running",
        ),
    ],
)
def test_unavailable_reason_names_why_no_adapter_can_be_used(
    error: BaseException, reason: str
) -> None:
    assert (unavailable_reason(error) or "").startswith(reason)


def test_unavailable_reason_leaves_other_errors_alone() -> None:
    assert unavailable_reason(PASSIVE_UNSUPPORTED) is None
    assert unavailable_reason(BleakDBusError("org.bluez.Error.Failed", ["busy"])) is None
    assert unavailable_reason(RuntimeError("x")) is None


async def test_watchdog_restarts_after_silence_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="mihomekit")
    fake = FakeBleak()
    heard: list[tuple[str, int, bytes, int | None]] = []
    adapter = BleAdapter(
        lambda adv: heard.extend(entries(adv)), scanner_factory=fake, watchdog_seconds=0.1
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await adapter.start()
    try:
        await wait_until(lambda: adapter.stats.restarts >= 2 and fake.scanners[-1].running)
        elapsed = loop.time() - started
        # second restart waits longer (backoff): 0.1 s then 0.2 s of silence
        assert elapsed >= 0.3 * 0.8
        assert len(fake.scanners) >= 3
        assert all(s.stopped for s in fake.scanners[:-1])
        # the new scanner delivers again
        fake.current.feed(*recorded(BTHOME))
        assert heard[-1] == (BTHOME[0], 0xFCD2, bytes.fromhex(BTHOME[2]), -70)
        assert adapter.mode == "passive"
    finally:
        await adapter.stop()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "restarting the BLE scanner: nothing heard" in warnings[0].getMessage()
    assert sum("restarting the BLE scanner" in r.getMessage() for r in caplog.records) >= 2


async def test_watchdog_is_quiet_while_advertisements_arrive() -> None:
    fake = FakeBleak()
    adapter = BleAdapter(lambda *a: None, scanner_factory=fake, watchdog_seconds=0.4)
    await adapter.start()
    try:
        for _ in range(20):
            fake.current.feed(*recorded(ATC1441))
            await asyncio.sleep(0.03)
        assert adapter.stats.restarts == 0
        assert len(fake.scanners) == 1
    finally:
        await adapter.stop()


async def test_reported_error_restarts_the_scanner_at_once() -> None:
    fake = FakeBleak()
    adapter = BleAdapter(lambda *a: None, scanner_factory=fake, watchdog_seconds=60)
    await adapter.start()
    try:
        first = fake.current
        adapter.report_error(
            BleakDBusError("org.freedesktop.DBus.Error.NoReply", ["bluetoothd restarted"])
        )
        await wait_until(lambda: len(fake.scanners) == 2 and fake.scanners[1].running, timeout=1.0)
        assert adapter.stats.restarts == 1
        assert first.stopped
        assert fake.current is fake.scanners[1]
        assert adapter.stats.errors == 1
    finally:
        await adapter.stop()


async def test_failed_restart_is_retried_with_backoff(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="mihomekit")
    monkeypatch.setattr(ble, "RETRY_BASE", 0.05)  # retries after 0.05 s, then 0.1 s
    not_ready = BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"])
    # start ok, then two failed restarts, then ok
    fake = FakeBleak(start_errors=[None, not_ready, not_ready, None])
    adapter = BleAdapter(
        lambda *a: None, scan_mode="active", scanner_factory=fake, watchdog_seconds=10
    )
    loop = asyncio.get_running_loop()
    await adapter.start()
    try:
        started = loop.time()
        adapter.report_error(BleakError("boom"))
        await wait_until(lambda: len(fake.scanners) == 4 and fake.scanners[-1].running)
        assert loop.time() - started >= 0.15 * 0.8  # waited 0.05 s, then 0.1 s
        assert fake.current is fake.scanners[-1]
        assert adapter.mode == "active"
        assert adapter.stats.restarts == 3
        assert adapter.stats.errors == 3  # the reported error and two failed restarts
    finally:
        await adapter.stop()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert any(
        "did not restart" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records
    )


async def test_sink_exceptions_are_counted_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(mac: str, uuid: int, data: bytes, rssi: int | None) -> None:
        raise KeyError(mac)

    fake = FakeBleak()
    adapter = BleAdapter(broken, scanner_factory=fake, watchdog_seconds=0)
    await adapter.start()
    fake.current.feed(*recorded(ATC1441, BTHOME, QINGPING))
    await adapter.stop()
    assert adapter.stats.errors == 3
    assert adapter.stats.forwarded == 3
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


async def test_stop_is_idempotent_and_stops_the_watchdog() -> None:
    fake = FakeBleak()
    adapter = BleAdapter(lambda *a: None, scanner_factory=fake, watchdog_seconds=0.05)
    await adapter.start()
    await adapter.start()  # second start is a no-op
    assert len(fake.scanners) == 1
    await adapter.stop()
    await adapter.stop()
    assert not adapter.running
    restarts = adapter.stats.restarts
    await asyncio.sleep(0.2)
    assert adapter.stats.restarts == restarts
    assert fake.scanners[0].stopped
