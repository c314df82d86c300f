"""Clock, unit and battery values of the models in the device table."""

from __future__ import annotations

import struct

import pytest

from mihomekit.ble.operations import (
    OperationError,
    battery_percent,
    clock_payload,
    normalize_uuid,
    profile_of,
    unit_payload,
)
from mihomekit.catalog import GattBattery, GattChar, by_model


def test_clock_payload_is_utc_seconds_and_whole_hours() -> None:
    assert clock_payload(1_700_000_000.7, 3600) == struct.pack("<Ib", 1_700_000_000, 1)
    assert clock_payload(1_700_000_000, -5 * 3600)[4] == 0xFB
    assert clock_payload(1_700_000_000, 19800)[4] == 5  # +5:30 is cut to +5
    with pytest.raises(OperationError):
        clock_payload(0, 20 * 3600)


def test_unit_bytes_differ_between_lywsd02_and_lywsd03mmc() -> None:
    lywsd02 = by_model("LYWSD02")
    lywsd03 = by_model("LYWSD03MMC")
    mho = by_model("MHO-C401")
    assert lywsd02 is not None and lywsd03 is not None and mho is not None
    assert unit_payload(profile_of(lywsd02, "u"), "c") == b"\xff"
    assert unit_payload(profile_of(lywsd02, "u"), "F") == b"\x01"
    assert unit_payload(profile_of(lywsd03, "u"), "°c") == b"\x00"
    assert unit_payload(profile_of(mho, "u"), "f") == b"\x01"
    with pytest.raises(OperationError, match="c or f"):
        unit_payload(profile_of(mho, "u"), "k")


def test_models_without_a_profile_or_a_part_say_so() -> None:
    cgd1 = by_model("CGD1")
    plain = by_model("CGG1")
    assert cgd1 is not None and plain is not None
    with pytest.raises(OperationError, match="no display unit"):
        unit_payload(profile_of(cgd1, "units"), "c", cgd1.model)
    with pytest.raises(OperationError, match="CGG1 offers no clock"):
        profile_of(plain, "clock")


def test_battery_values() -> None:
    at = GattChar("s", "c")
    assert battery_percent(GattBattery(at), b"\x40\x00" + b"3.2.2") == 64
    volts = GattBattery(at, how="notify", offset=3, kind="millivolts")
    assert battery_percent(volts, struct.pack("<hBH", 2150, 50, 3000)) == 75
    assert battery_percent(volts, struct.pack("<hBH", 2150, 50, 3400)) == 100
    assert battery_percent(volts, struct.pack("<hBH", 2150, 50, 1900)) == 0
    with pytest.raises(OperationError, match="3 bytes"):
        battery_percent(volts, b"\x00\x00\x00")
    with pytest.raises(OperationError, match="battery level of 200"):
        battery_percent(GattBattery(at), b"\xc8")
    with pytest.raises(OperationError, match="0 bytes"):
        battery_percent(GattBattery(at), b"")


@pytest.mark.parametrize(
    ("text", "uuid"),
    [
        ("fe95", "0000fe95-0000-1000-8000-00805f9b34fb"),
        ("0x2A19", "00002a19-0000-1000-8000-00805f9b34fb"),
        ("0000fe95", "0000fe95-0000-1000-8000-00805f9b34fb"),
        ("EBE0CCB7-7A0A-4B0C-8A1A-6FF2997DA3A6", "ebe0ccb7-7a0a-4b0c-8a1a-6ff2997da3a6"),
    ],
)
def test_normalize_uuid(text: str, uuid: str) -> None:
    assert normalize_uuid(text) == uuid


def test_normalize_uuid_rejects() -> None:
    with pytest.raises(OperationError, match="not a UUID"):
        normalize_uuid("fe9")


def test_the_table_names_each_models_characteristics() -> None:
    flower = by_model("HHCCJCY01")
    cgd1 = by_model("CGD1")
    lywsd02 = by_model("LYWSD02")
    assert flower is not None and flower.gatt is not None and flower.gatt.battery is not None
    assert flower.gatt.battery.at.char == "00001a02-0000-1000-8000-00805f9b34fb"
    assert cgd1 is not None and cgd1.gatt is not None and cgd1.gatt.battery is not None
    assert cgd1.gatt.battery.at.char == "00002a19-0000-1000-8000-00805f9b34fb"
    assert lywsd02 is not None and lywsd02.gatt is not None and lywsd02.gatt.clock is not None
    assert lywsd02.gatt.clock.char == "ebe0ccb7-7a0a-4b0c-8a1a-6ff2997da3a6"
