"""The raw advertising-data parser of the ESPHome source: real frames, edge cases, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vectors import custom_vectors, mibeacon_vectors

from mihomekit.sources.esphome.ad import (
    EMPTY,
    MAX_AD_BYTES,
    build_ad,
    mac_from_int,
    parse_ad,
)

# Real service data (after the UUID) from tests/data.
DOOR = bytes.fromhex("58588b09a3ae2181ecaae40e2c553c040000d28a500c")  # MCCGQ02HL, AES-CCM
THERMO = bytes.fromhex("50305b05034c94b438c1a40d10041001ea01")  # LYWSD03MMC v3
ATC = bytes.fromhex("a4c138bc7c4e0102284f0b6720")  # ATC1441 on 0x181A


def test_flags_and_one_service_data() -> None:
    data = bytes.fromhex("020106") + bytes([len(DOOR) + 3, 0x16, 0x95, 0xFE]) + DOOR
    parsed = parse_ad(data)
    assert parsed.service_data == {0xFE95: DOOR}  # little-endian UUID: 95 FE
    assert parsed.manufacturer_data == {}
    assert not parsed.malformed


def test_several_service_data_structures_and_manufacturer_data() -> None:
    data = build_ad(
        {0xFE95: THERMO, 0x181A: ATC},
        manufacturer_data={0x0969: b"\x01\x02"},
        name="LYWSD03MMC",
    )
    parsed = parse_ad(data)
    assert parsed.service_data == {0xFE95: THERMO, 0x181A: ATC}
    assert parsed.manufacturer_data == {0x0969: b"\x01\x02"}
    assert not parsed.malformed


def test_padding_and_type_zero_are_skipped() -> None:
    body = bytes([len(ATC) + 3, 0x16, 0x1A, 0x18]) + ATC
    data = b"\x00\x00" + bytes.fromhex("020106") + b"\x00" + b"\x01\x00" + body + b"\x00" * 5
    parsed = parse_ad(data)
    assert parsed.service_data == {0x181A: ATC}
    assert not parsed.malformed


def test_structure_past_the_end_is_dropped_and_counted() -> None:
    good = bytes([len(ATC) + 3, 0x16, 0x1A, 0x18]) + ATC
    bad = bytes([len(DOOR) + 3, 0x16, 0x95, 0xFE]) + DOOR[:-1]  # one byte short
    parsed = parse_ad(good + bad)
    assert parsed.service_data == {0x181A: ATC}  # what came before is kept
    assert parsed.malformed
    assert parse_ad(b"\x05\x16\x95").malformed
    assert parse_ad(b"\xff").malformed


@pytest.mark.parametrize("structure", [b"\x01\x16", b"\x02\x16\x95", b"\x02\xff\x01"])
def test_service_or_manufacturer_data_too_short_for_its_id(structure: bytes) -> None:
    parsed = parse_ad(structure)
    assert parsed.malformed
    assert parsed.service_data == {} and parsed.manufacturer_data == {}


def test_32_and_128_bit_service_data_of_16_bit_uuids() -> None:
    uuid32 = bytes([len(ATC) + 5, 0x20]) + (0x181A).to_bytes(4, "little") + ATC
    base = bytes.fromhex("0000fe95-0000-1000-8000-00805f9b34fb".replace("-", ""))[::-1]
    uuid128 = bytes([len(DOOR) + 17, 0x21]) + base + DOOR
    parsed = parse_ad(uuid32 + uuid128)
    assert parsed.service_data == {0x181A: ATC, 0xFE95: DOOR}
    # Other 32/128-bit UUIDs carry no format we decode: ignored, not malformed.
    other32 = bytes([5, 0x20]) + (0x1234181A).to_bytes(4, "little")
    other128 = bytes([17, 0x21]) + bytes(range(16))
    parsed = parse_ad(other32 + other128)
    assert parsed.service_data == {} and not parsed.malformed


def test_scan_response_alone_and_empty_data() -> None:
    scan_response = build_ad(None, flags=None, name="ATC_BC7C4E")
    parsed = parse_ad(scan_response)
    assert parsed == (EMPTY, EMPTY, False)
    assert parse_ad(b"") == (EMPTY, EMPTY, False)


def test_oversized_data_is_malformed_without_parsing() -> None:
    parsed = parse_ad(build_ad({0xFE95: DOOR}) * (MAX_AD_BYTES // 20))
    assert parsed.malformed and parsed.service_data == {}


def test_every_real_frame_round_trips() -> None:
    for vector in [*mibeacon_vectors(), *custom_vectors()]:
        uuid = int(vector.get("service_uuid", "fe95"), 16)
        payload = bytes.fromhex(vector["data_hex"])
        if len(payload) > 250:
            continue
        parsed = parse_ad(build_ad({uuid: payload}, name="x"))
        assert parsed.service_data == {uuid: payload}, vector["id"]


def test_mac_from_int() -> None:
    assert mac_from_int(0xA4C138112233) == "A4:C1:38:11:22:33"
    assert mac_from_int(0) == "00:00:00:00:00:00"
    assert mac_from_int(0xFFFFFFFFFFFF) == "FF:FF:FF:FF:FF:FF"
    assert mac_from_int(1 << 48) is None
    assert mac_from_int(-1) is None
    assert mac_from_int(0xA4C138112233) is mac_from_int(0xA4C138112233)  # cached


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_parse_never_raises_and_stays_in_bounds(data: bytes) -> None:
    parsed = parse_ad(data)
    total = sum(len(v) + 2 for v in parsed.service_data.values()) + sum(
        len(v) + 2 for v in parsed.manufacturer_data.values()
    )
    assert total <= len(data)
    for uuid in [*parsed.service_data, *parsed.manufacturer_data]:
        assert 0 <= uuid <= 0xFFFF


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=20), max_size=4),
    st.integers(0, 3),
)
def test_built_structures_parse_back(service: dict[int, bytes], padding: int) -> None:
    data = build_ad(service) + b"\x00" * padding
    parsed = parse_ad(data)
    assert dict(parsed.service_data) == service
    assert not parsed.malformed
