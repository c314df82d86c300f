"""Persistent bridge state: stable aids, atomic writes, corrupted files refused."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import pytest

from mihomekit.errors import StateError, StateWriteError
from mihomekit.state import (
    FIRST_AID,
    HapStateInfo,
    bridge_identity,
    check_hap_state,
    check_writable,
    load_state,
    new_device_id,
    state_write_error,
)


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


OLDER_STATE = """{
 "version": 1,
 "device_id": "1A:2B:3C:4D:5E:6F",
 "setup_id": "MI32",
 "next_aid": 3,
 "aids": {
  "381F8D000001": 2
 },
 "known_devices": {},
 "last_values": {
  "381F8D000001": {
   "values": {
    "temperature": 21.4
   },
   "seen": 1700000000.5
  }
 }
}
"""


def test_an_older_state_file_is_read_and_written_byte_for_byte(tmp_path: Path) -> None:
    """A file without learned capabilities (every older version's) stays as it was."""
    path = tmp_path / "bridge.json"
    path.write_text(OLDER_STATE)
    state = load_state(tmp_path)
    assert state.learned == {}
    state.remember_values("381F8D000001", {"temperature": 22.0}, 1700000100.0)
    state.save()
    state.remember_values("381F8D000001", {"temperature": 21.4}, 1700000000.5)
    state.save()
    assert path.read_text() == OLDER_STATE


def test_learned_capabilities_round_trip_and_go_with_the_device(tmp_path: Path) -> None:
    state = load_state(tmp_path)
    entry = {"model": "BTHome", "learned": ["temperature", "humidity", "button_1"]}
    state.learned["381F8D000001"] = entry
    state.learned["381F8D000002"] = {"model": "BTHome", "learned": ["opening"]}
    state.save()
    raw = json.loads((tmp_path / "bridge.json").read_text())
    assert list(raw) == [
        "version",
        "setup_id",
        "next_aid",
        "aids",
        "known_devices",
        "learned",
        "last_values",
    ]
    again = load_state(tmp_path)
    assert again.learned["381F8D000001"] == entry
    again.forget("381F8D000001")
    again.forget("381F8D000002")
    again.save()
    assert "learned" not in json.loads((tmp_path / "bridge.json").read_text())


def test_hand_edited_learned_entries_are_dropped_a_wrong_type_refused(tmp_path: Path) -> None:
    path = tmp_path / "bridge.json"
    path.write_text(
        json.dumps(
            {
                "learned": {
                    "A": {"model": "BTHome", "learned": ["opening"]},
                    "B": {"model": "BTHome", "learned": "opening"},
                    "C": {"learned": ["opening"]},
                    "D": {"model": "BTHome", "learned": [1]},
                    "E": ["opening"],
                }
            }
        )
    )
    assert set(load_state(tmp_path).learned) == {"A"}
    path.write_text('{"learned": ["opening"]}')
    with pytest.raises(StateError, match="corrupted"):
        load_state(tmp_path)


# --------------------------------------------------------------------------- identity

PAIRED_CLIENT = "5f2b6c43-8c3e-4a51-9b7e-1c0a0e1f2a3b"


def _hap(**change: object) -> dict[str, object]:
    document: dict[str, object] = {
        "mac": "1A:2B:3C:4D:5E:6F",
        "config_version": 3,
        "paired_clients": {PAIRED_CLIENT: "11" * 32},
        "client_properties": {PAIRED_CLIENT: {"permissions": 1}},
        "accessories_hash": "abc",
        "client_uuid_to_bytes": {PAIRED_CLIENT: "6162"},
        "private_key": "22" * 32,
        "public_key": "33" * 32,
    }
    document.update(change)
    return document


def test_valid_pairing_state_gives_its_device_id(tmp_path: Path) -> None:
    path = tmp_path / "accessory.state"
    assert check_hap_state(path) is None  # no file yet
    path.write_text(json.dumps(_hap()))
    assert check_hap_state(path) == HapStateInfo(mac="1A:2B:3C:4D:5E:6F", paired=1)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"mac": ["1A:2B:3C:4D:5E:6F"]}, "mac must be a device id"),
        ({"config_version": True}, "config_version"),
        ({"config_version": 0}, "config_version"),
        ({"paired_clients": "none"}, "paired_clients must be an object"),
        ({"paired_clients": {PAIRED_CLIENT: 5}}, "paired_clients must be a hex string"),
        ({"client_properties": {PAIRED_CLIENT: {"permissions": "admin"}}}, "permissions"),
        ({"client_properties": []}, "client_properties must be an object"),
        ({"private_key": "22" * 31}, "private_key must hold a 32-byte key"),
        ({"public_key": None}, "public_key must be a hex string"),
        ({"accessories_hash": 1}, "accessories_hash"),
    ],
)
def test_wrongly_typed_pairing_state_names_the_field(
    tmp_path: Path, change: dict[str, object], named: str
) -> None:
    path = tmp_path / "accessory.state"
    path.write_text(json.dumps(_hap(**change)))
    with pytest.raises(StateError, match="pairing state") as info:
        check_hap_state(path)
    assert named in str(info.value)
    assert "\n" not in str(info.value)
    assert "22" * 31 not in str(info.value)  # key material is never quoted


def test_missing_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "accessory.state"
    document = _hap()
    del document["config_version"]
    path.write_text(json.dumps(document))
    with pytest.raises(StateError, match="config_version is missing"):
        check_hap_state(path)


def test_new_device_id_is_a_local_unicast_mac() -> None:
    ids = {new_device_id() for _ in range(50)}
    assert len(ids) == 50
    for device_id in ids:
        assert re.fullmatch(r"[0-9A-F]{2}(:[0-9A-F]{2}){5}", device_id)
        first = int(device_id[:2], 16)
        assert first & 0x02 and not first & 0x01


def test_identity_is_made_once_and_kept(tmp_path: Path) -> None:
    state = load_state(tmp_path)
    device_id = bridge_identity(state)
    assert json.loads((tmp_path / "bridge.json").read_text())["device_id"] == device_id
    assert bridge_identity(load_state(tmp_path)) == device_id


def test_pairing_state_decides_the_identity(tmp_path: Path) -> None:
    state = load_state(tmp_path)
    state.device_id = "0A:00:00:00:00:01"
    state.save()
    (tmp_path / "accessory.state").write_text(json.dumps(_hap()))
    assert bridge_identity(load_state(tmp_path)) == "1A:2B:3C:4D:5E:6F"
    saved = json.loads((tmp_path / "bridge.json").read_text())
    assert saved["device_id"] == "1A:2B:3C:4D:5E:6F"


@pytest.mark.parametrize(
    "content", ['{"device_id": "nonsense"}', '{"device_id": 5}', '{"setup_code": "1234"}']
)
def test_bad_identity_fields_are_corruption(tmp_path: Path, content: str) -> None:
    (tmp_path / "bridge.json").write_text(content)
    with pytest.raises(StateError, match="corrupted"):
        load_state(tmp_path)


def test_unchanged_state_is_not_written_again(tmp_path: Path) -> None:
    state = load_state(tmp_path)
    state.aid_for("A")
    state.save()
    first = (tmp_path / "bridge.json").stat()
    state.save()
    load_state(tmp_path).save()
    again = (tmp_path / "bridge.json").stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    state.aid_for("B")
    state.save()
    assert (tmp_path / "bridge.json").stat().st_ino != first.st_ino


def test_write_check_leaves_nothing_behind(tmp_path: Path) -> None:
    check_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(StateWriteError, match="is not writable"):
        check_writable(tmp_path / "absent")


def test_write_errors_say_what_happened(tmp_path: Path) -> None:
    full = state_write_error(tmp_path, OSError(errno.ENOSPC, "No space left on device"))
    assert str(full).startswith(f"disk full: cannot write to the state directory {tmp_path}")
    denied = state_write_error(tmp_path, OSError(errno.EACCES, "Permission denied"))
    assert str(denied).startswith(f"the state directory {tmp_path} is not writable")
    assert full.exit_code == denied.exit_code == 4
