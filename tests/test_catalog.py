"""The device catalog against the reference tables and the real vectors."""

from __future__ import annotations

from typing import Any

import pytest
from vectors import mibeacon_vectors, reference_devices, tasmota_types

from mihomekit import catalog
from mihomekit._catalog_table import BY_PID, MIBEACON_PID_COUNT, MODELS
from mihomekit.catalog import DeviceModel
from mihomekit.decoders import buttons
from mihomekit.decoders.objects import SLEEP_BUTTON_MODELS
from mihomekit.readings import EventType
from mihomekit.vocabulary import READINGS


def _device_table() -> list[tuple[int, str, str, bool]]:
    """xiaomi-ble 1.21.2's product ids: (pid, model, name, sleepy)."""
    return [(int(d["pid"], 16), d["model"], d["name"], d["sleepy"]) for d in reference_devices()]


def _tasmota_table() -> dict[int, str]:
    """Tasmota MI32's device types: pid → Tasmota name."""
    return {int(t["pid"], 16): t["name"] for t in tasmota_types()}


DEVICE_TABLE = _device_table()


def test_reference_table_parsed() -> None:
    assert len(DEVICE_TABLE) == 95 == MIBEACON_PID_COUNT
    assert len(_tasmota_table()) == 18


@pytest.mark.parametrize("row", DEVICE_TABLE, ids=[f"0x{r[0]:04X}" for r in DEVICE_TABLE])
def test_every_reference_pid(row: tuple[int, str, str, bool]) -> None:
    pid, model, name, sleepy = row
    entry = catalog.lookup(pid)
    assert entry is not None
    assert (entry.pid, entry.model, entry.name) == (pid, model, name)
    if sleepy:
        assert entry.sleepy


def test_table_order_and_uniqueness() -> None:
    assert [m.pid for m in MODELS[:MIBEACON_PID_COUNT]] == [r[0] for r in DEVICE_TABLE]
    pids = [m.pid for m in MODELS if m.pid is not None]
    assert len(pids) == len(set(pids)) == len(BY_PID) == 101
    assert catalog.all_models() == MODELS
    assert all(isinstance(m, DeviceModel) for m in MODELS)


def test_tasmota_names() -> None:
    table = _tasmota_table()
    for pid, name in table.items():
        entry = catalog.lookup(pid)
        assert entry is not None, hex(pid)
        assert entry.tasmota_name == name
    named = {m.pid: m.tasmota_name for m in MODELS if m.tasmota_name}
    assert named == table
    assert catalog.lookup(0x0A1C) == catalog.by_model("ATC1441")
    assert catalog.lookup(0x944A) == catalog.by_model("PVVX")
    assert catalog.lookup(0xB770) == catalog.by_model("BTHome")


def test_unknown_pids() -> None:
    assert catalog.lookup(0xFFFF) is None
    assert catalog.unknown_name(0x0A1B) == "MI_0A1B"
    assert catalog.unknown_name(0x20DB) == "MI_20DB"
    assert catalog.by_model("nonsense") is None


def test_measures_use_reading_names() -> None:
    allowed = set(READINGS)
    events = {e.value for e in EventType} | {"hold_press"}
    for m in MODELS:
        assert m.measures <= allowed, m.model
        assert set(m.button_events) <= events, m.model
        assert m.buttons >= 0


@pytest.mark.parametrize(
    ("model", "count"),
    [
        ("YLYK01YL", 6),
        ("YLYB01YL-BHFRC", 9),
        ("K9B-1BTN", 1),
        ("K9B-2BTN", 3),
        ("K9B-3BTN", 7),
        ("XMWXKG01YL", 3),
        ("XMWS01XS", 2),
        ("KS1", 4),
        ("YLKG07YL/YLKG08YL", 1),
        ("LYWSD03MMC", 0),
    ],
)
def test_button_counts(model: str, count: int) -> None:
    entry = catalog.by_model(model)
    assert entry is not None and entry.buttons == count


def test_button_profiles_match_the_catalog() -> None:
    """Every model the button decoder knows has buttons in the catalog, and the other way
    round (a model with buttons but no profile would never produce events)."""
    with_profiles = (
        set(buttons._PROFILE_1001) | set(buttons._PROFILE_MIOT) | set(SLEEP_BUTTON_MODELS)
    )
    with_buttons = {m.model for m in MODELS if m.buttons and m.pid is not None}
    assert with_profiles == with_buttons
    for model, top in buttons._MAX_BUTTON.items():
        entry = catalog.by_model(model)
        assert entry is not None and entry.buttons == top


def test_legacy_key_and_encryption() -> None:
    legacy = [m for m in MODELS if m.legacy_key]
    assert [m.pid for m in legacy] == [0x03B6]
    assert all(m.encrypted for m in legacy)
    assert catalog.by_model("LYWSD03MMC") is not None
    assert catalog.by_model("LYWSD03MMC").encrypted  # type: ignore[union-attr]
    assert not catalog.by_model("LYWSDCGQ").encrypted  # type: ignore[union-attr]


def _vector_devices() -> list[dict[str, Any]]:
    return [
        v["device"]
        for v in mibeacon_vectors()
        if v["device"] and v["service_uuid"] == "fe95" and v["status"] != "rejected"
    ]


def test_every_vector_device_is_in_the_catalog() -> None:
    devices = _vector_devices()
    assert len(devices) > 100
    for device in devices:
        entry = catalog.lookup(device["product_id"])
        assert entry is not None and entry.model == device["model"]
    for v in mibeacon_vectors():
        if v["service_uuid"] != "fe95":
            assert catalog.by_model(v["device"]["model"]) is not None


def test_sleepy_button_devices() -> None:
    for m in MODELS:
        if m.buttons and not m.measures - {"low_battery", "battery"}:
            assert m.sleepy, m.model
