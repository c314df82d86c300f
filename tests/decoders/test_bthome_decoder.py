"""BTHome v1/v2, b-parasite, Qingping CGH1 / 0xFFF9 and manufacturer data: the BTHome
specification's examples and real captures compared as whole results, derived negatives,
and a hostile fuzz over every new parser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repo import DATA

from mihomekit import decode_advertisement, decode_manufacturer_data
from mihomekit.decoders import manufacturer
from mihomekit.decoders.bthome_objects import OBJECTS
from mihomekit.decoders.build import bthome_frame, bthome_v1_frame, qingping_frame
from mihomekit.readings import DecodeResult, Event, KeyStatus

SPEC = json.loads((DATA / "bthome-spec.json").read_text(encoding="utf-8"))
MORE = json.loads((DATA / "more-formats.json").read_text(encoding="utf-8"))
MAC = "54:48:E6:8F:80:A5"
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bthome(values: dict[str, Any], events: list[Event], counter: int | None) -> DecodeResult:
    return DecodeResult(
        True, MAC, 0xB770, "BTHome", values, tuple(events), None, "bthome", False,
        KeyStatus.NOT_NEEDED, counter,
    )  # fmt: skip


@pytest.mark.parametrize("vec", SPEC["v2"] + SPEC["v2_newer"], ids=lambda v: v["id"])
def test_spec_example_values(vec: dict[str, Any]) -> None:
    result = decode_advertisement(MAC, 0xFCD2, bytes.fromhex(vec["data_hex"]))
    assert result == _bthome(vec["values"], [], None)
    for name, value in vec["values"].items():  # 25 is not 25.0: the types are part of it
        assert type(result.values[name]) is type(value)


@pytest.mark.parametrize("vec", SPEC["v2_events"], ids=lambda v: v["id"])
def test_spec_example_events(vec: dict[str, Any]) -> None:
    events = [
        Event(e["event"], e["button"], {k: v for k, v in e.items() if k not in ("event", "button")})
        for e in vec["events"]
    ]
    assert decode_advertisement(MAC, 0xFCD2, bytes.fromhex(vec["data_hex"])) == _bthome(
        {}, events, None
    )


def test_every_object_id_has_a_spec_vector() -> None:
    """Every object id of the table is exercised by at least one vector of the file."""
    seen = {int(v["id"], 16) for v in SPEC["v2"] + SPEC["v2_newer"] if v["id"].startswith("0x")}
    seen |= {0x00, 0x3A, 0x3B, 0x3C}  # packet id, events: tests below
    assert set(OBJECTS) <= seen, sorted(hex(x) for x in set(OBJECTS) - seen)


@pytest.mark.parametrize("vec", SPEC["frames"], ids=lambda v: v["id"])
def test_whole_frames(vec: dict[str, Any]) -> None:
    exp = vec["expected"]
    key = bytes.fromhex(vec["bindkey_hex"]) if vec["bindkey_hex"] else None
    result = decode_advertisement(
        vec["mac"], int(vec["service_uuid"], 16), bytes.fromhex(vec["data_hex"]), key
    )
    assert result == DecodeResult(
        True,
        exp["mac"],
        0xB770,
        "BTHome",
        exp["values"],
        (),
        None,
        exp["format"],
        exp["encrypted"],
        KeyStatus.OK if exp["encrypted"] else KeyStatus.NOT_NEEDED,
        exp["counter"],
        exp["warning"],
    )


def test_stop_is_reported_by_decode_json() -> None:
    vec = next(v for v in SPEC["frames"] if v["id"] == "stop-at-unknown-id")
    out = decode_advertisement(MAC, 0xFCD2, bytes.fromhex(vec["data_hex"])).to_json()
    assert out["ok"] and out["values"] == {"battery": 97}
    assert "0x30" in out["warning"]


def test_unknown_first_object_fails_and_names_it() -> None:
    result = decode_advertisement(MAC, 0xFCD2, bytes.fromhex("403002"))
    assert (result.ok, dict(result.values)) == (False, {})
    assert result.error == "unknown BTHome object id 0x30 at byte 0"


def test_command_and_numbered_buttons() -> None:
    data = bytes.fromhex("40" + "3B0202aabb" + "3B0001" + "3A00" + "3A04" + "3C0105")
    assert decode_advertisement(MAC, 0xFCD2, data) == _bthome(
        {},
        [
            Event("toggle", 1, {"args": "aabb"}),
            Event("on", 2),
            Event("long_press", 2),
            Event("rotate_left", 1, {"steps": 5}),
        ],
        None,
    )


def test_three_repeats_and_mixed_ids_share_a_name() -> None:
    data = bytes.fromhex("40" + "02CA09" + "451101" + "57EA")
    result = decode_advertisement(MAC, 0xFCD2, data)
    assert dict(result.values) == {
        "temperature": 25.06,
        "temperature_2": 27.3,
        "temperature_3": -22,
    }


# ---- derived negatives ------------------------------------------------------------------


def _encrypted_frame(v1: bool = False) -> bytes:
    if v1:
        return bthome_v1_frame([(0, 0x01, b"\x61")], mac=MAC, key=KEY, counter=5)
    return bthome_frame([(0x01, b"\x61")], mac=MAC, key=KEY, counter=5)


@pytest.mark.parametrize("uuid", [0xFCD2, 0x181E])
def test_encrypted_key_problems(uuid: int) -> None:
    data = _encrypted_frame(v1=uuid == 0x181E)
    good = decode_advertisement(MAC, uuid, data, KEY)
    assert (good.ok, dict(good.values), good.counter, good.key_status) == (
        True,
        {"battery": 97},
        5,
        KeyStatus.OK,
    )
    missing = decode_advertisement(MAC, uuid, data)
    assert (missing.ok, missing.key_status, missing.counter) == (False, KeyStatus.MISSING, 5)
    wrong = decode_advertisement(MAC, uuid, data, bytes([KEY[0] ^ 1]) + KEY[1:])
    assert (wrong.ok, wrong.key_status) == (False, KeyStatus.WRONG)
    short = decode_advertisement(MAC, uuid, data, KEY[:12])
    assert (short.ok, short.key_status) == (False, KeyStatus.WRONG)
    assert "16-byte" in (short.error or "")
    other_mac = decode_advertisement("A4:C1:38:00:00:01", uuid, data, KEY)
    assert (other_mac.ok, other_mac.key_status) == (False, KeyStatus.WRONG)


@pytest.mark.parametrize("uuid", [0xFCD2, 0x181E])
def test_every_bit_flip_of_an_encrypted_frame_is_refused(uuid: int) -> None:
    data = _encrypted_frame(v1=uuid == 0x181E)
    start = 1 if uuid == 0xFCD2 else 0  # the info byte changes the frame kind: see below
    for i in range(start, len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            result = decode_advertisement(MAC, uuid, bytes(flipped), KEY)
            assert not result.ok, (i, bit)
            assert dict(result.values) == {}


def test_info_byte_flips_never_give_values_from_an_encrypted_frame() -> None:
    data = _encrypted_frame()
    for bit in range(8):
        flipped = bytes([data[0] ^ (1 << bit)]) + data[1:]
        result = decode_advertisement(MAC, 0xFCD2, flipped, KEY)
        assert dict(result.values) != {"battery": 97}


@pytest.mark.parametrize("vec", SPEC["frames"], ids=lambda v: v["id"])
def test_truncated_frames_never_invent_values(vec: dict[str, Any]) -> None:
    data = bytes.fromhex(vec["data_hex"])
    key = bytes.fromhex(vec["bindkey_hex"]) if vec["bindkey_hex"] else None
    full = vec["expected"]["values"]
    for cut in range(len(data)):
        result = decode_advertisement(vec["mac"], int(vec["service_uuid"], 16), data[:cut], key)
        if key is not None:
            assert not result.ok  # the MIC covers everything
        for name, value in result.values.items():
            assert full.get(name) == value, (cut, name)


def test_versions_other_than_two_are_refused() -> None:
    for info in (0x00, 0x20, 0x60, 0xE0):
        result = decode_advertisement(MAC, 0xFCD2, bytes((info,)) + bytes.fromhex("0161"))
        assert not result.ok and "version" in (result.error or "")


# ---- b-parasite, Qingping --------------------------------------------------------------


@pytest.mark.parametrize("vec", MORE["bparasite"], ids=lambda v: v["id"])
def test_bparasite_captures(vec: dict[str, Any]) -> None:
    exp = vec["expected"]
    result = decode_advertisement(vec["mac"], 0x181A, bytes.fromhex(vec["data_hex"]))
    assert result == DecodeResult(
        True, exp["mac"], None, "b-parasite", exp["values"], (), None, "bparasite", False,
        KeyStatus.NOT_NEEDED, exp["counter"],
    )  # fmt: skip


def test_bparasite_protocol_2_temperature_in_hundredths() -> None:
    data = bytes.fromhex("2005" + "0bb8" + "0898" + "8000" + "4000" + "a4c138000001")
    result = decode_advertisement(MAC, 0x181A, data)
    assert dict(result.values) == {
        "temperature": 22.0,
        "humidity": 50.0,
        "moisture": 25.0,
        "voltage": 3.0,
    }


@pytest.mark.parametrize(
    ("byte", "opening", "left_open"), [(0, True, False), (1, False, False), (2, True, True)]
)
def test_qingping_cgh1_contact(byte: int, opening: bool, left_open: bool) -> None:
    data = qingping_frame(MAC, 0x04, [(0x04, bytes((byte,))), (0x02, b"\x50")])
    for uuid in (0xFDCD, 0xFFF9):
        result = decode_advertisement(MAC, uuid, data)
        assert result == DecodeResult(
            True, MAC, 0x03D6, "CGH1",
            {"opening": opening, "door_left_open": left_open, "battery": 80},
            (), None, "qingping", False, KeyStatus.NOT_NEEDED, None,
        )  # fmt: skip


# ---- manufacturer data ------------------------------------------------------------------


def test_manufacturer_data_unknown_company() -> None:
    result = decode_manufacturer_data(MAC, 0x038F, b"\x01\x02")
    assert (result.ok, result.mac, result.error) == (
        False,
        MAC,
        "unsupported manufacturer company id 0x038f",
    )


def test_manufacturer_data_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
        return DecodeResult(True, mac, None, "X", {"battery": data[0]}, format="x")

    def broken(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
        raise ValueError("boom")

    monkeypatch.setitem(manufacturer.MANUFACTURER_DECODERS, 0x1234, fake)
    monkeypatch.setitem(manufacturer.MANUFACTURER_DECODERS, 0x4321, broken)
    got = decode_manufacturer_data(MAC.lower(), 0x1234, bytearray(b"\x42"))
    assert (got.ok, got.mac, dict(got.values)) == (True, MAC, {"battery": 0x42})
    assert decode_manufacturer_data(MAC, 0x1234, b"\x43").values == {"battery": 0x43}
    crashed = decode_manufacturer_data(MAC, 0x4321, b"")
    assert not crashed.ok and crashed.error == "internal error: ValueError: boom"


# ---- hostile fuzz -----------------------------------------------------------------------

NEW_UUIDS = [0xFCD2, 0x181C, 0x181E, 0x181A, 0xFFF9, 0xFDCD]


def _sane(result: Any) -> DecodeResult:
    assert isinstance(result, DecodeResult)
    if result.ok:
        assert result.error is None
    else:
        assert result.error and dict(result.values) == {} and result.events == ()
    assert not (result.error or "").startswith("internal error"), result.error
    result.to_json()
    return result


@FAST
@given(uuid=st.sampled_from(NEW_UUIDS), data=st.binary(max_size=40), key=st.none() | st.just(KEY))
def test_fuzz_new_parsers_never_raise(uuid: int, data: bytes, key: bytes | None) -> None:
    _sane(decode_advertisement(MAC, uuid, data, key))


@FAST
@given(
    objects=st.lists(
        st.tuples(st.sampled_from([*OBJECTS, 0x30, 0x99, 0xFF]), st.binary(max_size=6)),
        max_size=8,
    ),
    info=st.sampled_from([0x40, 0x42, 0x44, 0x46]),
)
def test_fuzz_bthome_object_soup(objects: list[tuple[int, bytes]], info: int) -> None:
    body = b"".join(bytes((oid,)) + value for oid, value in objects)
    head = bytes((info,)) + (bytes(6) if info & 0x02 else b"")
    _sane(decode_advertisement(MAC, 0xFCD2, head + body))


@FAST
@given(
    objects=st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 255), st.binary(max_size=9)), max_size=6
    ),
    encrypted=st.booleans(),
)
def test_fuzz_bthome_v1(objects: list[tuple[int, int, bytes]], encrypted: bool) -> None:
    data = bthome_v1_frame(objects, mac=MAC, key=KEY if encrypted else None, counter=1)
    result = _sane(decode_advertisement(MAC, 0x181E if encrypted else 0x181C, data, KEY))
    if encrypted and objects:
        assert result.key_status is KeyStatus.OK


@FAST
@given(
    mac=st.one_of(st.text(max_size=20), st.integers(), st.none()),
    company=st.one_of(st.integers(), st.text(max_size=6), st.none(), st.booleans()),
    data=st.one_of(st.binary(max_size=30), st.text(max_size=10), st.none()),
    key=st.one_of(st.none(), st.binary(max_size=20), st.integers()),
)
def test_fuzz_manufacturer_data_any_arguments(mac: Any, company: Any, data: Any, key: Any) -> None:
    result = decode_manufacturer_data(mac, company, data, key)
    assert isinstance(result, DecodeResult) and not result.ok and result.error
    assert not result.error.startswith("internal error")
