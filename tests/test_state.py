"""Persistent bridge state: stable aids, atomic writes, corrupted files refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mihomekit.errors import StateError
from mihomekit.state import FIRST_AID, check_hap_state, load_state


def test_aids_are_stable_and_never_reused(tmp_path: Path) -> None:
    state = load_state(tmp_path)
    assert state.aid_for("A") == FIRST_AID
    assert state.aid_for("B") == FIRST_AID + 1
    assert state.aid_for("A") == FIRST_AID
    state.save()
    again = load_state(tmp_path)
    del again.aids["A"]  # a device removed from the config ...
    assert again.aid_for("C") == FIRST_AID + 2  # ... does not free its number
    assert again.aid_for("B") == FIRST_AID + 1


def test_values_and_setup_id_round_trip(tmp_path: Path) -> None:
    state = load_state(tmp_path)
    state.remember_values("A", {"temperature": 21.5, "motion": False}, 1234.5)
    state.known_devices["158d01"] = {"source": "zigbee", "model": "magnet", "name": None}
    state.save()
    again = load_state(tmp_path)
    assert again.last_values["A"] == {
        "values": {"temperature": 21.5, "motion": False},
        "seen": 1234.5,
    }
    assert again.setup_id == "MI32"
    assert again.known_devices["158d01"]["model"] == "magnet"


def test_no_temp_files_left_behind(tmp_path: Path) -> None:
    state = load_state(tmp_path)
    state.aid_for("A")
    state.save()
    state.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bridge.json"]


@pytest.mark.parametrize(
    "content",
    [
        "{",
        "[]",
        '{"aids": {"A": 1}}',
        '{"aids": {"A": 2, "B": 2}}',
        '{"aids": {"A": "x"}}',
        '{"setup_id": "TOO-LONG"}',
        "\x00\x00\x00",
    ],
)
def test_corrupted_state_is_an_error_and_left_untouched(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bridge.json"
    path.write_text(content)
    with pytest.raises(StateError, match="corrupted"):
        load_state(tmp_path)
    assert path.read_text() == content


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{",
        '{"mac": "AA"}',
        '{"mac":"x","private_key":"zz","public_key":"","paired_clients":{}}',
    ],
)
def test_corrupted_pairing_state_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "accessory.state"
    path.write_text(content)
    with pytest.raises(StateError, match="pairing state"):
        check_hap_state(path)
    assert path.read_text() == content


def test_state_file_is_json_with_aids_in_order(tmp_path: Path) -> None:
    state = load_state(tmp_path)
    for name in ("Z", "A", "M"):
        state.aid_for(name)
    state.save()
    raw = json.loads((tmp_path / "bridge.json").read_text())
    assert list(raw["aids"].items()) == [("Z", 2), ("A", 3), ("M", 4)]
