"""The Tasmota-compatible mi32cfg file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from repo import CONFIG

from mihomekit.errors import ConfigError
from mihomekit.mi32cfg import (
    DeviceEntry,
    dump_mi32cfg,
    expand_legacy_key,
    load_mi32cfg,
    normalize_mac,
    parse_mi32cfg,
    parse_tasmota_key,
    save_mi32cfg,
    set_key,
    with_key,
)

CONFIG_DIR = CONFIG

KEY = "00112233445566778899AABBCCDDEEFF"
TASMOTA_BYTES = (
    '[{"MAC":"A4C138AABBCC","PID":"055b","key":"00112233445566778899AABBCCDDEEFF"},'
    '{"MAC":"582D3412ABCD","PID":"01aa","key":""},'
    '{"MAC":"A4C138112233","PID":"0a1c","key":"","name":"Kitchen","feat":143}]'
)


def test_round_trip_is_byte_exact() -> None:
    entries = parse_mi32cfg(TASMOTA_BYTES)
    assert entries == [
        DeviceEntry("A4C138AABBCC", 0x055B, bytes.fromhex(KEY)),
        DeviceEntry("582D3412ABCD", 0x01AA, None),
        DeviceEntry("A4C138112233", 0x0A1C, None, name="Kitchen", feat=143),
    ]
    assert dump_mi32cfg(entries) == TASMOTA_BYTES


def test_dump_format_details() -> None:
    entries = [
        DeviceEntry("A4C138AABBCC", 0x944A, bytes.fromhex("ab" * 16)),
        DeviceEntry("A4C138AABBCD", 0x0098, None, name='Fïcus "pot"'),
        DeviceEntry("A4C138AABBCE", 0x0098, None, feat=7),  # feat without name: not written
    ]
    assert dump_mi32cfg(entries) == (
        '[{"MAC":"A4C138AABBCC","PID":"944a","key":"' + "AB" * 16 + '"},'
        '{"MAC":"A4C138AABBCD","PID":"0098","key":"","name":"Fïcus \\"pot\\"","feat":0},'
        '{"MAC":"A4C138AABBCE","PID":"0098","key":""}]'
    )
    assert dump_mi32cfg([]) == "[]"


def test_keys_are_case_insensitive_and_lowercase_hex_accepted() -> None:
    text = (
        '[{"mac":"a4c138aabbcc","Pid":"055B","KEY":"' + KEY.lower() + '","Name":"Hall","FEAT":1}]'
    )
    (entry,) = parse_mi32cfg(text)
    assert entry == DeviceEntry("A4C138AABBCC", 0x055B, bytes.fromhex(KEY), "Hall", 1)


@pytest.mark.parametrize("mac", ["a4:c1:38:aa:bb:cc", "A4-C1-38-AA-BB-CC", " A4C138AABBCC "])
def test_separated_macs_are_written_tasmota_style(mac: str) -> None:
    entries = parse_mi32cfg(f'[{{"MAC":"{mac}","PID":"055b"}}]')
    assert entries[0].mac == "A4C138AABBCC"
    assert entries[0].display_mac == "A4:C1:38:AA:BB:CC"
    assert dump_mi32cfg(entries) == '[{"MAC":"A4C138AABBCC","PID":"055b","key":""}]'


def test_missing_or_null_key_means_no_key() -> None:
    entries = parse_mi32cfg(
        '[{"MAC":"A4C138AABBCC","PID":"055b"},{"MAC":"A4C138AABBCD","PID":"055b","key":null}]'
    )
    assert [entry.key for entry in entries] == [None, None]


def test_big_endian_pid_text() -> None:
    (entry,) = parse_mi32cfg('[{"MAC":"A4C138AABBCC","PID":"0b48"}]')
    assert entry.pid == 0x0B48


def test_unknown_pid_is_kept() -> None:
    (entry,) = parse_mi32cfg('[{"MAC":"A4C138AABBCC","PID":"fffe","key":""}]')
    assert entry.pid == 0xFFFE


def test_legacy_key_accepted_for_legacy_pid_and_written_expanded() -> None:
    key12 = "00112233445566778899AABB"
    (entry,) = parse_mi32cfg(f'[{{"MAC":"F8246412ABCD","PID":"03b6","key":"{key12}"}}]')
    assert entry.key == bytes.fromhex(key12)
    expanded = "001122334455" + "8D3D3C97" + "66778899AABB"
    assert expand_legacy_key(bytes.fromhex(key12)) == bytes.fromhex(expanded)
    assert dump_mi32cfg([entry]) == f'[{{"MAC":"F8246412ABCD","PID":"03b6","key":"{expanded}"}}]'


def test_legacy_pids_parameter() -> None:
    text = '[{"MAC":"F8246412ABCD","PID":"0153","key":"00112233445566778899AABB"}]'
    assert parse_mi32cfg(text, legacy_pids={0x0153})[0].key == bytes.fromhex(
        "00112233445566778899AABB"
    )
    with pytest.raises(ConfigError):
        parse_mi32cfg(text)


def test_empty_array_is_no_devices() -> None:
    assert parse_mi32cfg("[]") == []
    assert parse_mi32cfg(" [ ]\n") == []


def test_duplicate_mac_merges_like_tasmota(caplog: pytest.LogCaptureFixture) -> None:
    text = (
        '[{"MAC":"A4C138AABBCC","PID":"055b","key":"","name":"First"},'
        '{"MAC":"582D3412ABCD","PID":"01aa","key":""},'
        '{"MAC":"a4:c1:38:aa:bb:cc","PID":"0a1c","key":"' + KEY + '","feat":9}]'
    )
    with caplog.at_level(logging.WARNING, logger="mihomekit.mi32cfg"):
        entries = parse_mi32cfg(text)
    assert entries == [
        DeviceEntry("A4C138AABBCC", 0x055B, bytes.fromhex(KEY), name="First", feat=9),
        DeviceEntry("582D3412ABCD", 0x01AA, None),
    ]
    assert "entry 2" in caplog.text
    assert "A4:C1:38:AA:BB:CC" in caplog.text


def test_unknown_keys_are_ignored_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mihomekit.mi32cfg"):
        entries = parse_mi32cfg('[{"MAC":"A4C138AABBCC","PID":"055b","room":"hall"}]')
    assert entries == [DeviceEntry("A4C138AABBCC", 0x055B, None)]
    assert "'room'" in caplog.text


@pytest.mark.parametrize(
    ("entry", "field", "needle"),
    [
        ('{"PID":"055b"}', "MAC", "missing"),
        ('{"MAC":"A4C138AABB","PID":"055b"}', "MAC", "12 hex digits"),
        ('{"MAC":"A4C138AABBCCDD","PID":"055b"}', "MAC", "12 hex digits"),
        ('{"MAC":"A4C138AABBCG","PID":"055b"}', "MAC", "12 hex digits"),
        ('{"MAC":"A4:C1:38-AA:BB:CC","PID":"055b"}', "MAC", "12 hex digits"),
        ('{"MAC":123456789012,"PID":"055b"}', "MAC", "string"),
        ('{"MAC":"A4C138AABBCC"}', "PID", "missing"),
        ('{"MAC":"A4C138AABBCC","PID":"55b"}', "PID", "must be 4 hex digits, got '55b'"),
        ('{"MAC":"A4C138AABBCC","PID":"055g"}', "PID", "4 hex digits"),
        ('{"MAC":"A4C138AABBCC","PID":"0x5b"}', "PID", "4 hex digits"),
        ('{"MAC":"A4C138AABBCC","PID":1371}', "PID", "4 hex digits"),
        ('{"MAC":"A4C138AABBCC","PID":"055b","key":"0011"}', "key", "4 hex digits"),
        ('{"MAC":"A4C138AABBCC","PID":"055b","key":"' + KEY + '00"}', "key", "34 hex"),
        ('{"MAC":"A4C138AABBCC","PID":"055b","key":"' + "Z" * 32 + '"}', "key", "32 hex"),
        ('{"MAC":"A4C138AABBCC","PID":"055b","key":16}', "key", "32 hex"),
        (
            '{"MAC":"A4C138AABBCC","PID":"055b","key":"00112233445566778899AABB"}',
            "key",
            "legacy",
        ),
        ('{"MAC":"A4C138AABBCC","PID":"055b","name":5}', "name", "must be a string"),
        ('{"MAC":"A4C138AABBCC","PID":"055b","name":["x"]}', "name", "must be a string"),
        ('{"MAC":"A4C138AABBCC","PID":"055b","feat":-1}', "feat", "non-negative"),
        ('{"MAC":"A4C138AABBCC","PID":"055b","feat":1.5}', "feat", "non-negative"),
        ('{"MAC":"A4C138AABBCC","PID":"055b","feat":"7"}', "feat", "non-negative"),
        ('{"MAC":"A4C138AABBCC","PID":"055b","feat":true}', "feat", "non-negative"),
        ('{"MAC":"A4C138AABBCC","mac":"A4C138AABBCC","PID":"055b"}', "mac", "twice"),
    ],
)
def test_bad_entry_names_index_and_field(entry: str, field: str, needle: str) -> None:
    good = '{"MAC":"582D3412ABCD","PID":"01aa","key":""}'
    text = f"[{good},{good.replace('CD', 'CE')},{good.replace('CD', 'CF')},{entry}]"
    with pytest.raises(ConfigError) as info:
        parse_mi32cfg(text, path="/etc/mihomekit/mi32cfg")
    err = info.value
    assert err.index == 3
    assert err.field == field
    assert err.path == "/etc/mihomekit/mi32cfg"
    assert f"entry 3, field '{field}'" in str(err)
    assert needle in str(err)


def test_message_format_from_the_spec() -> None:
    with pytest.raises(ConfigError) as info:
        parse_mi32cfg('[{"MAC":"A4C138AABBCC","PID":"55b"}]')
    assert str(info.value) == "entry 0, field 'PID': must be 4 hex digits, got '55b'"


@pytest.mark.parametrize("item", ['"A4C138AABBCC"', "[]", "null", "7"])
def test_entry_that_is_not_an_object(item: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_mi32cfg(f'[{{"MAC":"A4C138AABBCC","PID":"055b"}},{item}]')
    assert info.value.index == 1
    assert info.value.field is None
    assert "must be a JSON object" in str(info.value)


@pytest.mark.parametrize(
    ("text", "kind"),
    [('{"MAC":"A4C138AABBCC","PID":"055b"}', "an object"), ('"x"', "a string"), ("3", "a number")],
)
def test_root_must_be_an_array(text: str, kind: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_mi32cfg(text)
    assert info.value.index is None
    assert "array" in info.value.reason
    assert kind in info.value.reason


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('[{"MAC":"A4C138AABBCC",\n "PID":"055b",}]', 2, 15),
        ("", 1, 1),
        ('[{"MAC":"A4C138AABBCC","PID":"055b"}', 1, 37),
    ],
)
def test_bad_json_reports_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(ConfigError) as info:
        parse_mi32cfg(text, path="cfg.json")
    assert f"line {line}, column {column}" in info.value.reason
    assert info.value.path == "cfg.json"


def test_one_bad_entry_loads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "mi32cfg"
    path.write_text('[{"MAC":"A4C138AABBCC","PID":"055b"},{"MAC":"A4C138AABBCD","PID":"055"}]')
    with pytest.raises(ConfigError) as info:
        load_mi32cfg(path)
    assert info.value.index == 1
    assert info.value.path == str(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A4C138AABBCC", "A4C138AABBCC"),
        ("a4c138aabbcc", "A4C138AABBCC"),
        ("a4:c1:38:aa:bb:cc", "A4C138AABBCC"),
        ("A4-C1-38-AA-BB-CC", "A4C138AABBCC"),
    ],
)
def test_normalize_mac(text: str, expected: str) -> None:
    assert normalize_mac(text) == expected


@pytest.mark.parametrize(
    "text", ["", "A4C138AABB", "A4C138AABBCCD", "A4:C1:38:AA:BB", "A4:C1-38:AA:BB:CC", "A4.C1.38"]
)
def test_normalize_mac_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="12 hex digits"):
        normalize_mac(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mac": "a4c138aabbcc", "pid": 1, "key": None},
        {"mac": "A4:C1:38:AA:BB:CC", "pid": 1, "key": None},
        {"mac": "A4C138AABBCC", "pid": 0x10000, "key": None},
        {"mac": "A4C138AABBCC", "pid": 1, "key": b"\x00" * 15},
        {"mac": "A4C138AABBCC", "pid": 1, "key": None, "feat": -1},
    ],
)
def test_device_entry_validates(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DeviceEntry(**kwargs)  # type: ignore[arg-type]


def test_load_unreadable_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_mi32cfg(tmp_path / "missing")
    assert info.value.path == str(tmp_path / "missing")
    assert "cannot read" in info.value.reason
    bad = tmp_path / "latin1"
    bad.write_bytes(b'[{"MAC":"A4C138AABBCC","PID":"055b","name":"\xe9"}]')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_mi32cfg(bad)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "mi32cfg"
    entries = parse_mi32cfg(TASMOTA_BYTES)
    save_mi32cfg(path, entries)
    assert path.read_bytes() == TASMOTA_BYTES.encode()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_mi32cfg(path) == entries


def test_failed_save_leaves_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mi32cfg"
    path.write_text(TASMOTA_BYTES)

    def broken_replace(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(PermissionError):
        save_mi32cfg(path, [DeviceEntry("112233445566", 0x055B, None)])
    assert path.read_text() == TASMOTA_BYTES
    assert os.listdir(tmp_path) == ["mi32cfg"]


def test_oversized_save_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    entries = [DeviceEntry(f"A4C138{i:06X}", 0x055B, bytes(16)) for i in range(40)]
    with caplog.at_level(logging.WARNING, logger="mihomekit.mi32cfg"):
        save_mi32cfg(tmp_path / "big", entries)
    assert "2048" in caplog.text
    assert load_mi32cfg(tmp_path / "big") == entries


def test_example_file_is_valid_tasmota_bytes() -> None:
    path = CONFIG_DIR / "mi32cfg.example.json"
    entries = load_mi32cfg(path)
    assert 3 <= len(entries) <= 4
    assert len({entry.mac for entry in entries}) == len(entries)
    assert any(entry.key is not None for entry in entries)
    assert any(entry.name for entry in entries)
    assert dump_mi32cfg(entries).encode() == path.read_bytes()


# ---- Tasmota's MI32Key form and setting one key -------------------------------------------


def test_parse_tasmota_key_44() -> None:
    mac, key = parse_tasmota_key("00112233445566778899aabbccddeeffa4c138123456")
    assert mac == "A4C138123456"
    assert key == bytes.fromhex("00112233445566778899AABBCCDDEEFF")


def test_parse_tasmota_key_36_is_a_legacy_key_expanded() -> None:
    mac, key = parse_tasmota_key("112233445566778899AABBCC" + "F82D7C112233")
    assert mac == "F82D7C112233"
    assert key == bytes.fromhex("112233445566" + "8D3D3C97" + "778899AABBCC")


@pytest.mark.parametrize(
    ("text", "needle"),
    [("00" * 21, "got 42 characters"), ("zz" * 22, "not all hex"), ("", "got 0")],
)
def test_parse_tasmota_key_rejects(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_tasmota_key(text)


def test_with_key_replaces_or_adds() -> None:
    first = DeviceEntry(mac="A4C138000001", pid=0x055B, key=None, name="Hall")
    entries, before = with_key([first], "a4:c1:38:00:00:01", bytes(range(16)))
    assert before == first
    assert entries == [DeviceEntry("A4C138000001", 0x055B, bytes(range(16)), name="Hall")]
    entries, before = with_key(entries, "A4C138000002", bytes(16), pid=0x045B)
    assert before is None and entries[-1] == DeviceEntry("A4C138000002", 0x045B, bytes(16))
    with pytest.raises(ValueError, match="product id is unknown"):
        with_key(entries, "A4C138000003", bytes(16))


def test_set_key_creates_a_private_file_and_keeps_an_existing_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "mi32cfg"
    assert set_key(path, "A4C138000001", bytes(16), 0x055B) is None
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.chmod(0o644)
    before = set_key(path, "A4C138000001", bytes(range(16)))
    assert before is not None and before.key == bytes(16)
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert load_mi32cfg(path) == [DeviceEntry("A4C138000001", 0x055B, bytes(range(16)))]


def test_set_key_leaves_an_invalid_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "mi32cfg"
    path.write_text('[{"MAC":"nope"}]')
    with pytest.raises(ConfigError):
        set_key(path, "A4C138000001", bytes(16), 0x055B)
    assert path.read_text() == '[{"MAC":"nope"}]'
