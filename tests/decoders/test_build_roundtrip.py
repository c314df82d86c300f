"""The frame builders: real packets rebuilt byte for byte, and build → decode round trips."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vectors import args, mibeacon_vectors, vector_by_id

from mihomekit import decode_advertisement
from mihomekit.decoders.build import (
    atc1441_encrypted_frame,
    atc1441_frame,
    bthome_frame,
    hhccjcy10_frame,
    legacy_frame,
    mibeacon_frame,
    obj_battery,
    obj_button,
    obj_door,
    obj_float,
    obj_humidity,
    obj_illuminance,
    obj_leak,
    obj_motion_illuminance,
    obj_no_motion,
    obj_temp_humidity,
    obj_temperature,
    pvvx_encrypted_frame,
    pvvx_frame,
    qingping_frame,
)
from mihomekit.errors import MihomekitError
from mihomekit.readings import Event, KeyStatus

MAC = "A4:C1:38:12:34:56"
KEY16 = bytes.fromhex("00112233445566778899aabbccddeeff")
KEY12 = bytes.fromhex("b853075158487ca39a5b5ea9")
ROUNDTRIP = settings(max_examples=60, deadline=None)

ENCRYPTED = [
    v
    for v in mibeacon_vectors()
    if v["status"] == "ok" and (v.get("header") or {}).get("encrypted")
]


def _objects(v: dict[str, Any]) -> list[tuple[int, bytes]]:
    return [(int(o["id"], 16), bytes.fromhex(o["data_hex"])) for o in v["frame"]["objects"]]


@pytest.mark.parametrize("v", ENCRYPTED, ids=[v["id"] for v in ENCRYPTED])
def test_real_encrypted_packets_rebuilt_byte_for_byte(v: dict[str, Any]) -> None:
    mac, _, data, key = args(v)
    assert key is not None
    header = v["header"]
    fc = int(header["frame_control"], 16)
    built = mibeacon_frame(
        header["product_id"],
        header["frame_counter"],
        _objects(v),
        mac=mac,
        key=key,
        version=header["version"],
        ext_counter=int.from_bytes(bytes.fromhex(v["frame"]["ext_counter_hex"]), "little"),
        include_mac=header["mac_included"],
        flags=fc & 0x0F07,
    )
    assert built.hex() == data.hex()


def test_real_plain_packet_rebuilt() -> None:
    v = vector_by_id("xiaomi-ble-012")
    mac, _, data, _ = args(v)
    built = mibeacon_frame(0x01AA, 0xA3, _objects(v), mac=mac, version=2)
    assert built == data


def test_legacy_builder_matches_real_packets() -> None:
    for vid in ("xiaomi-ble-068", "xiaomi-ble-069"):
        v = vector_by_id(vid)
        mac, _, data, key = args(v)
        assert key is not None
        built = legacy_frame(
            0x03B6, v["header"]["frame_counter"], _objects(v), mac=mac, key=key, version=3
        )
        assert built == data
        expanded = key[:6] + bytes.fromhex("8d3d3c97") + key[6:]
        assert (
            legacy_frame(0x03B6, v["header"]["frame_counter"], _objects(v), mac=mac, key=expanded)
            == data
        )


def test_custom_format_builders_match_real_packets() -> None:
    atc = vector_by_id("atc1441-001")
    assert atc1441_frame(atc["mac"], 16.2, 47, 95, 3.064, 25) == args(atc)[2]
    pvvx = vector_by_id("pvvx_custom-001")
    assert pvvx_frame(pvvx["mac"], 17.05, 44.57, 2.998, 88, 247, flags=0x0D) == args(pvvx)[2]
    enc = vector_by_id("pvvx_custom_encrypted-001")
    mac, _, data, key = args(enc)
    assert key is not None
    assert pvvx_encrypted_frame(mac, key, 23.45, 41.73, 61, 0x11, flags=0x04) == data
    bt = vector_by_id("bthome_v2-003")
    mac, _, data, key = args(bt)
    assert key is not None
    objects = [(0x02, struct.pack("<h", 2506)), (0x03, struct.pack("<H", 5055))]
    assert bthome_frame(objects, mac=mac, key=key, counter=0x33221100) == data
    assert bthome_frame([(0x01, b"\x61")], mac=mac) == bytes.fromhex("400161")
    hhcc = vector_by_id("xiaomi-ble-035")
    assert hhccjcy10_frame(14, 11.0, 79012, 40, 91) == args(hhcc)[2]
    qp = vector_by_id("qingping-002")
    items = [(0x01, bytes.fromhex("f100ad01")), (0x02, b"\x25")]
    assert qingping_frame(qp["mac"], 0x0C, items) == args(qp)[2]


def test_builders_refuse_bad_input() -> None:
    with pytest.raises(MihomekitError):
        mibeacon_frame(0x055B, 1, [obj_battery(50)], mac="nonsense")
    with pytest.raises(MihomekitError):
        mibeacon_frame(0x055B, 1, [obj_battery(50)], mac=MAC, key=bytes(12))
    with pytest.raises(MihomekitError):
        legacy_frame(0x03B6, 1, [obj_battery(50)], mac=MAC, key=bytes(10))
    with pytest.raises(MihomekitError, match="give volts"):
        atc1441_frame(MAC, 21.0, 50, 90, 2950, 1)
    with pytest.raises(MihomekitError, match="give volts"):
        pvvx_frame(MAC, 21.0, 50.0, -1.0, 90, 1)


def test_frame_without_objects() -> None:
    data = mibeacon_frame(0x055B, 9, [], mac=MAC, key=KEY16, capability=0x08)
    assert data == bytes.fromhex("30505b050956341238c1a408")
    result = decode_advertisement(MAC, 0xFE95, data, KEY16)
    assert (result.ok, dict(result.values), result.counter) == (True, {}, 9)
    assert result.key_status is KeyStatus.NOT_NEEDED


def test_object_helpers_decode_to_what_they_encode() -> None:
    objects = [
        obj_temperature(-5.5),
        obj_humidity(61.3),
        obj_battery(77),
        obj_illuminance(1234),
        obj_leak(True),
        obj_door(False),
        obj_no_motion(120),
    ]
    data = mibeacon_frame(0xFFFE, 3, objects, mac=MAC, key=KEY16)
    result = decode_advertisement(MAC, 0xFE95, data, KEY16)
    assert result.ok and result.model is None
    assert dict(result.values) == {
        "temperature": -5.5,
        "humidity": 61.3,
        "battery": 77,
        "illuminance": 1234,
        "leak": True,
        "opening": False,
        "door_left_open": False,
        "no_motion_seconds": 120,
        "motion": False,
    }
    cgpr1 = mibeacon_frame(0x0A83, 4, [obj_motion_illuminance(321)], mac=MAC, version=4)
    assert dict(decode_advertisement(MAC, 0xFE95, cgpr1).values) == {
        "motion": True,
        "illuminance": 321,
    }
    remote = mibeacon_frame(0x0153, 5, [obj_button(3, 2)], mac=MAC, version=3)
    assert decode_advertisement(MAC, 0xFE95, remote).events == (Event("long_press", 4),)


@ROUNDTRIP
@given(
    pid=st.sampled_from([0x055B, 0x16E4, 0x0B48, 0x1234]),
    counter=st.integers(0, 0xFFFFFFFF),
    temp=st.integers(-400, 800),
    hum=st.integers(0, 1000),
    battery=st.integers(0, 100),
    version=st.sampled_from([4, 5]),
    include_mac=st.booleans(),
    capability=st.none() | st.integers(0, 0xFF),
)
def test_mibeacon_roundtrip(
    pid: int,
    counter: int,
    temp: int,
    hum: int,
    battery: int,
    version: int,
    include_mac: bool,
    capability: int | None,
) -> None:
    objects = [obj_temp_humidity(temp / 10, hum / 10), obj_battery(battery)]
    for key in (None, KEY16):
        data = mibeacon_frame(
            pid,
            counter & 0xFF,
            objects,
            mac=MAC,
            key=key,
            version=version,
            ext_counter=counter >> 8,
            include_mac=include_mac,
            capability=capability,
        )
        result = decode_advertisement(MAC, 0xFE95, data, key)
        assert result.ok, result.error
        assert dict(result.values) == {
            "temperature": temp / 10,
            "humidity": hum / 10,
            "battery": battery,
        }
        assert result.counter == (counter if key else counter & 0xFF)
        assert result.key_status is (KeyStatus.OK if key else KeyStatus.NOT_NEEDED)


@ROUNDTRIP
@given(
    counter=st.integers(0, 0xFFFFFFFF),
    index=st.integers(0, 5),
    press=st.sampled_from([0, 2]),
    version=st.sampled_from([2, 3]),
    long_key=st.booleans(),
)
def test_legacy_roundtrip(
    counter: int, index: int, press: int, version: int, long_key: bool
) -> None:
    key = KEY12[:6] + bytes.fromhex("8d3d3c97") + KEY12[6:] if long_key else KEY12
    data = legacy_frame(
        0x0153,
        counter & 0xFF,
        [obj_button(index, press)],
        mac=MAC,
        key=key,
        version=version,
        ext_counter=counter >> 8,
    )
    result = decode_advertisement(MAC, 0xFE95, data, KEY12)
    assert result.ok and result.counter == counter
    expected = Event("press" if press == 0 else "long_press", index + 1)
    assert result.events == (expected,)
    other = decode_advertisement(MAC, 0xFE95, data, bytes(12))
    assert not other.ok and other.key_status is KeyStatus.WRONG


@ROUNDTRIP
@given(
    temp=st.integers(-4000, 8000),
    hum=st.integers(0, 10000),
    mv=st.integers(0, 3600),
    battery=st.integers(0, 100),
    counter=st.integers(0, 255),
    flags=st.integers(0, 255),
)
def test_atc_pvvx_roundtrip(
    temp: int, hum: int, mv: int, battery: int, counter: int, flags: int
) -> None:
    atc = decode_advertisement(
        "11:22:33:44:55:66",
        0x181A,
        atc1441_frame(MAC, temp / 10, hum // 100, battery, mv / 1000, counter),
    )
    assert (atc.ok, atc.mac, atc.format, atc.counter) == (True, MAC, "atc1441", counter)
    assert dict(atc.values) == {
        "temperature": temp / 10,
        "humidity": float(hum // 100),
        "battery": battery,
        "voltage": mv / 1000,
    }
    pvvx = decode_advertisement(
        MAC, 0x181A, pvvx_frame(MAC, temp / 100, hum / 100, mv / 1000, battery, counter, flags)
    )
    assert (pvvx.ok, pvvx.mac, pvvx.format, pvvx.counter) == (True, MAC, "pvvx", counter)
    assert dict(pvvx.values) == {
        "temperature": temp / 100,
        "humidity": hum / 100,
        "battery": battery,
        "voltage": mv / 1000,
        "reed_switch": bool(flags & 1),
        "trigger_output": bool(flags & 2),
    }
    enc = pvvx_encrypted_frame(MAC, KEY16, temp / 100, hum / 100, battery, counter, flags)
    result = decode_advertisement(MAC, 0x181A, enc, KEY16)
    assert (result.format, result.key_status, result.counter) == (
        "pvvx_encrypted",
        KeyStatus.OK,
        counter,
    )
    assert dict(result.values) == {
        "temperature": temp / 100,
        "humidity": hum / 100,
        "battery": battery,
        "reed_switch": bool(flags & 1),
        "trigger_output": bool(flags & 2),
    }


@ROUNDTRIP
@given(
    half_degrees=st.integers(0, 255),
    half_percent=st.integers(0, 200),
    battery=st.integers(0, 100),
    trigger=st.booleans(),
    counter=st.integers(0, 255),
)
def test_atc1441_encrypted_roundtrip(
    half_degrees: int, half_percent: int, battery: int, trigger: bool, counter: int
) -> None:
    temp = half_degrees / 2 - 40
    data = atc1441_encrypted_frame(MAC, KEY16, temp, half_percent / 2, battery, counter, trigger)
    assert len(data) == 8
    result = decode_advertisement(MAC, 0x181A, data, KEY16)
    assert (result.ok, result.format, result.pid, result.counter) == (
        True,
        "atc1441_encrypted",
        0x0A1C,
        counter,
    )
    assert dict(result.values) == {
        "temperature": temp,
        "humidity": half_percent / 2,
        "battery": battery,
        "trigger_output": trigger,
    }
    assert decode_advertisement(MAC, 0x181A, data).key_status is KeyStatus.MISSING


@ROUNDTRIP
@given(
    temp=st.integers(-32768, 32767),
    hum=st.integers(0, 10000),
    packet=st.integers(0, 255),
    press=st.sampled_from([1, 2, 3, 4, 5, 6, 0x80]),
    counter=st.integers(0, 0xFFFFFFFF),
    encrypt=st.booleans(),
)
def test_bthome_roundtrip(
    temp: int, hum: int, packet: int, press: int, counter: int, encrypt: bool
) -> None:
    objects = [
        (0x00, bytes((packet,))),
        (0x02, struct.pack("<h", temp)),
        (0x03, struct.pack("<H", hum)),
        (0x3A, b"\x00"),
        (0x3A, bytes((press,))),
        (0x3C, b"\x02\x05"),
    ]
    key = KEY16 if encrypt else None
    result = decode_advertisement(
        MAC, 0xFCD2, bthome_frame(objects, mac=MAC, key=key, counter=counter), key
    )
    assert result.ok, result.error
    assert dict(result.values) == {"temperature": temp / 100, "humidity": hum / 100}
    names = {
        1: "press",
        2: "double_press",
        3: "triple_press",
        4: "long_press",
        5: "long_double_press",
        6: "long_triple_press",
        0x80: "hold_press",
    }
    assert result.events == (Event(names[press], 2), Event("rotate_right", 1, {"steps": 5}))
    assert result.counter == (counter if encrypt else packet)


@ROUNDTRIP
@given(
    value=st.floats(-50, 100, allow_nan=False, width=32),
    oid=st.sampled_from([0x4801, 0x4808, 0x4C01, 0x4C08, 0x4805]),
)
def test_float_objects_rounded(value: float, oid: int) -> None:
    data = mibeacon_frame(0x1203, 1, [obj_float(oid, value)], mac=MAC, key=KEY16)
    result = decode_advertisement(MAC, 0xFE95, data, KEY16)
    (got,) = result.values.values()
    assert isinstance(got, float)
    assert math.isclose(got, round(value, 2), abs_tol=0.0051)
