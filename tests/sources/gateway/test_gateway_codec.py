"""Gateway LAN protocol codec: messages v1/v2, properties → readings, writes, keys, models."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mihomekit.errors import GatewayError
from mihomekit.readings import Event
from mihomekit.sources.gateway import codec, models
from mihomekit.sources.gateway.codec import (
    CodecError,
    DeviceList,
    DeviceMessage,
    DeviceRef,
    Iam,
    ListRequest,
    ReadRequest,
    Whois,
    WriteRequest,
)
from mihomekit.sources.gateway.keys import WRITE_KEY_IV, key_matches, write_key

# --------------------------------------------------------------------------- write key


def test_write_key_vendor_vector() -> None:
    assert write_key("0987654321qwerty", "1234567890abcdef") == "3EB43E37C20AFF4C5872CC0D04D81314"
    assert WRITE_KEY_IV.hex() == "17996d093d28ddb3ba695a2e6f58562e"


def test_write_key_accepts_any_case_and_rejects_wrong() -> None:
    key = "3eb43e37c20aff4c5872cc0d04d81314"
    assert key_matches(key, "0987654321qwerty", "1234567890abcdef")
    assert not key_matches(key, "0987654321qwertz", "1234567890abcdef")
    assert not key_matches(key, "0987654321qwerty", "1234567890abcdeg")
    assert not key_matches(None, "0987654321qwerty", "1234567890abcdef")
    assert not key_matches(key[:-2], "0987654321qwerty", "1234567890abcdef")


def test_write_key_length_errors() -> None:
    with pytest.raises(GatewayError, match="password must be 16"):
        write_key("short", "1234567890abcdef")
    with pytest.raises(GatewayError, match="token must be 16"):
        write_key("0987654321qwerty", "short")


# --------------------------------------------------------------------------- messages


def _parse(obj: dict[str, Any]) -> codec.Message:
    return codec.parse_message(json.dumps(obj).encode())


def test_parse_whois_and_iam_v1_v2() -> None:
    assert isinstance(_parse({"cmd": "whois"}), Whois)
    iam = _parse(
        {
            "cmd": "iam",
            "port": "9898",
            "sid": "7811dcb78b2f",
            "model": "gateway",
            "proto_version": "1.1.2",
            "ip": "192.168.1.106",
        }
    )
    assert iam == Iam("7811dcb78b2f", "gateway", 9898, "192.168.1.106", "1.1.2")
    assert iam.proto == 1
    iam2 = _parse(
        {
            "cmd": "iam",
            "protocal": "UDP",
            "port": "9898",
            "sid": "50ec50c708fa",
            "model": "acpartner.v3",
            "proto_version": "2.0.1",
            "ip": "192.168.1.102",
        }
    )
    assert isinstance(iam2, Iam) and iam2.proto == 2 and iam2.model == "acpartner.v3"
    # Old firmware: no proto_version → v1.
    old = _parse({"cmd": "iam", "port": 9898, "sid": "7811DCB78B2F", "model": "gateway"})
    assert isinstance(old, Iam) and old.proto == 1 and old.sid == "7811dcb78b2f"


def test_parse_device_lists() -> None:
    v1 = _parse(
        {
            "cmd": "get_id_list_ack",
            "sid": "7811dcb78b2f",
            "token": "XRwvMrwu16ZZWxPe",
            "data": '["158d0002322bf7","158d0002325b7e"]',
        }
    )
    assert v1 == DeviceList(
        "7811dcb78b2f",
        "XRwvMrwu16ZZWxPe",
        (DeviceRef("158d0002322bf7"), DeviceRef("158d0002325b7e")),
        1,
    )
    v2 = _parse(
        {
            "cmd": "discovery_rsp",
            "sid": "50ec50c708fa",
            "token": "KyCWf8xsho23JOme",
            "dev_list": [
                {"sid": "158d000392613e", "model": "plug"},
                {"sid": "158d00044d3c12", "model": "weather"},
            ],
        }
    )
    assert isinstance(v2, DeviceList) and v2.proto == 2
    assert v2.devices == (
        DeviceRef("158d000392613e", "plug"),
        DeviceRef("158d00044d3c12", "weather"),
    )
    assert _parse({"cmd": "get_id_list"}) == ListRequest(1)
    assert _parse({"cmd": "discovery"}) == ListRequest(2)


def test_parse_read_answers_v1_v2() -> None:
    v1 = _parse(
        {
            "cmd": "read_ack",
            "model": "magnet",
            "sid": "158d0002322bf7",
            "short_id": 30033,
            "data": '{"voltage":3015,"status":"open"}',
        }
    )
    assert v1 == DeviceMessage(
        "read", "158d0002322bf7", "magnet", {"voltage": 3015, "status": "open"}, 1, 30033
    )
    v2 = _parse(
        {
            "cmd": "read_rsp",
            "model": "ctrl_neutral2",
            "sid": "158d0000123456",
            "params": [{"channel_0": "on"}, {"channel_1": "off"}],
        }
    )
    assert isinstance(v2, DeviceMessage)
    assert (v2.kind, v2.proto, dict(v2.properties)) == (
        "read",
        2,
        {"channel_0": "on", "channel_1": "off"},
    )
    assert _parse({"cmd": "read", "sid": "158D0002322BF7"}) == ReadRequest("158d0002322bf7")


def test_parse_heartbeats_and_reports() -> None:
    gw = _parse(
        {
            "cmd": "heartbeat",
            "model": "gateway",
            "sid": "7811dcb78b2f",
            "short_id": "0",
            "token": "oKlTd40GxrUa85wt",
            "data": '{"ip":"192.168.1.106"}',
        }
    )
    assert isinstance(gw, DeviceMessage)
    assert (gw.kind, gw.token, gw.short_id) == ("heartbeat", "oKlTd40GxrUa85wt", 0)
    plug = _parse(
        {
            "cmd": "heartbeat",
            "model": "plug",
            "sid": "158d000234727c",
            "short_id": 38455,
            "data": '{"voltage":3600,"status":"off","inuse":"0","power_consumed":"429112",'
            '"load_power":"0.00"}',
        }
    )
    assert isinstance(plug, DeviceMessage) and plug.properties["status"] == "off"
    # Early docs put a message counter in "token" of reports: it is not a token.
    report = _parse(
        {
            "cmd": "report",
            "model": "magnet",
            "sid": "89234324",
            "short_id": 4343,
            "token": "7",
            "data": '{"status":"open"}',
        }
    )
    assert isinstance(report, DeviceMessage)
    assert (report.kind, report.token, dict(report.properties)) == (
        "report",
        None,
        {"status": "open"},
    )
    v2 = _parse(
        {
            "cmd": "heartbeat",
            "model": "weather",
            "sid": "158d00045c946f",
            "params": [
                {"battery_voltage": 3000},
                {"temperature": 2333},
                {"humidity": 6678},
                {"pressure": 99900},
            ],
        }
    )
    assert isinstance(v2, DeviceMessage) and v2.proto == 2
    assert v2.properties == {
        "battery_voltage": 3000,
        "temperature": 2333,
        "humidity": 6678,
        "pressure": 99900,
    }


def test_parse_writes_both_data_forms_and_v2() -> None:
    as_string = _parse(
        {
            "cmd": "write",
            "model": "ctrl_neutral1",
            "sid": "158d0000123456",
            "short_id": 4343,
            "data": '{"channel_0":"on","key":"3EB43E37C20AFF4C5872CC0D04D81314"}',
        }
    )
    assert as_string == WriteRequest(
        "158d0000123456",
        {"channel_0": "on"},
        "3EB43E37C20AFF4C5872CC0D04D81314",
        1,
        "ctrl_neutral1",
    )
    as_object = _parse(
        {"cmd": "write", "sid": "158d0000123456", "data": {"channel_0": "on", "key": "abc"}}
    )
    assert isinstance(as_object, WriteRequest)
    assert (as_object.key, dict(as_object.properties)) == ("abc", {"channel_0": "on"})
    v2 = _parse(
        {
            "cmd": "write",
            "model": "ctrl_neutral1",
            "sid": "158d0000123456",
            "key": "3EB43E37C20AFF4C5872CC0D04D81314",
            "params": [{"channel_0": "off"}],
        }
    )
    assert isinstance(v2, WriteRequest)
    assert (v2.proto, v2.key, dict(v2.properties)) == (
        2,
        "3EB43E37C20AFF4C5872CC0D04D81314",
        {"channel_0": "off"},
    )


def test_parse_error_answers_v1_v2() -> None:
    v1 = _parse({"cmd": "write_ack", "sid": "158d00024df626", "data": '{"error":"Invalid key"}'})
    assert isinstance(v1, DeviceMessage)
    assert (v1.kind, v1.error, dict(v1.properties)) == ("write", "Invalid key", {})
    v2 = _parse({"cmd": "write_rsp", "sid": "158d00024df626", "params": [{"error": "Invalid key"}]})
    assert isinstance(v2, DeviceMessage) and v2.error == "Invalid key" and v2.proto == 2
    empty_model = _parse(
        {
            "cmd": "read_ack",
            "model": "",
            "sid": "158d0001e05d64",
            "short_id": 15028,
            "data": '{"voltage":3409}',
        }
    )
    assert isinstance(empty_model, DeviceMessage) and empty_model.model == ""


@pytest.mark.parametrize(
    ("datagram", "kind"),
    [
        (b"{not json", "bad_json"),
        (b"\xff\xfe\x00", "bad_json"),
        (b"[1, 2]", "wrong_type"),
        (b'{"cmd": 5}', "wrong_type"),
        (b'{"sid": "x"}', "wrong_type"),
        (b'{"cmd": "launch_rockets", "sid": "x"}', "unknown_cmd"),
        (b'{"cmd": "report", "sid": 12, "data": "{}"}', "wrong_type"),
        (b'{"cmd": "report", "sid": "a", "data": "{bad"}', "bad_json"),
        (b'{"cmd": "report", "sid": "a", "data": "[1]"}', "wrong_type"),
        (b'{"cmd": "report", "sid": "a", "params": {"x": 1}}', "wrong_type"),
        (b'{"cmd": "report", "sid": "a", "params": [1]}', "wrong_type"),
        (b'{"cmd": "iam", "sid": "a", "port": "http"}', "wrong_type"),
        (b'{"cmd": "get_id_list_ack", "sid": "a", "data": "[1,2]"}', "wrong_type"),
        (b'{"cmd": "discovery_rsp", "sid": "a", "dev_list": [5]}', "wrong_type"),
        (b" " * (codec.MAX_DATAGRAM + 1), "oversize"),
    ],
)
def test_parse_rejects(datagram: bytes, kind: str) -> None:
    with pytest.raises(CodecError) as info:
        codec.parse_message(datagram)
    assert info.value.kind == kind
    assert isinstance(info.value, GatewayError)


@pytest.mark.parametrize("proto", [1, 2])
def test_build_parse_round_trip(proto: int) -> None:
    props = {"channel_0": "on", "channel_1": "off"}
    devices = [DeviceRef("158d0000000001", "plug"), DeviceRef("158d0000000002", "magnet")]
    iam = codec.parse_message(
        codec.build_iam("7811dcb78b2f", "gateway", "127.0.0.2", 9898, f"{proto}.0.1")
    )
    assert isinstance(iam, Iam) and iam.proto == proto and iam.port == 9898
    lst = codec.parse_message(codec.build_list_answer(proto, "7811dcb78b2f", "t" * 16, devices))
    assert isinstance(lst, DeviceList) and lst.token == "t" * 16
    assert [d.sid for d in lst.devices] == [d.sid for d in devices]
    write = codec.parse_message(codec.build_write(proto, "158d0000000001", props, "K" * 32))
    assert isinstance(write, WriteRequest)
    assert (dict(write.properties), write.key, write.proto) == (props, "K" * 32, proto)
    for kind in ("read", "write", "heartbeat", "report"):
        raw = codec.build_device_message(kind, proto, "158d0000000001", "ctrl_neutral2", props)
        message = codec.parse_message(raw)
        assert isinstance(message, DeviceMessage)
        assert (message.kind, message.proto, dict(message.properties)) == (kind, proto, props)
    error = codec.parse_message(codec.build_error("write", proto, "158d0000000001", "Invalid key"))
    assert isinstance(error, DeviceMessage) and error.error == "Invalid key"
    assert b" " not in codec.build_device_message("report", proto, "a", "magnet", props)


def test_build_write_v1_data_forms() -> None:
    as_string = json.loads(codec.build_write(1, "158d0000000001", {"status": "on"}, "K"))
    assert json.loads(as_string["data"]) == {"status": "on", "key": "K"}
    as_object = json.loads(
        codec.build_write(1, "158d0000000001", {"status": "on"}, "K", data_as_string=False)
    )
    assert as_object["data"] == {"status": "on", "key": "K"}
    v2 = json.loads(codec.build_write(2, "158d0000000001", {"channel_0": "on"}, "K", model="plug"))
    assert v2 == {
        "cmd": "write",
        "model": "plug",
        "sid": "158d0000000001",
        "key": "K",
        "params": [{"channel_0": "on"}],
    }


def test_normalize_sid_is_zero_insensitive() -> None:
    assert codec.normalize_sid("4cf8c8fa58b") == codec.normalize_sid("04CF8C8FA58B")
    assert codec.normalize_sid("158d0002322bf7") == "158d0002322bf7"


# --------------------------------------------------------------------------- readings

P, D, L = "press", "double_press", "long_press"

#: (model, properties, expected values (subset), expected events)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[Event]]] = [
    # door/window
    ("magnet", {"voltage": 3015, "status": "open"}, {"opening": True, "battery": 43}, []),
    ("sensor_magnet", {"status": "close"}, {"opening": False}, []),
    ("magnet", {"no_close": "60"}, {"opening": True, "no_close_seconds": 60}, []),
    (
        "sensor_magnet.aq2",
        {"window_status": "open", "battery_voltage": 3100},
        {"opening": True},
        [],
    ),
    ("sensor_magnet.aq2", {"window_status": "unknown"}, {}, []),
    # motion
    ("motion", {"status": "motion"}, {"motion": True}, []),
    ("sensor_motion", {"no_motion": "120"}, {"motion": False, "no_motion_seconds": 120}, []),
    (
        "sensor_motion.aq2",
        {"status": "motion", "lux": "43"},
        {"motion": True, "illuminance": 43.0},
        [],
    ),
    (
        "sensor_motion.aq2",
        {"motion_status": "motion", "illumination": 100, "battery_voltage": 2995},
        {"motion": True, "illuminance": 100.0, "battery": 39},
        [],
    ),
    # climate
    (
        "sensor_ht",
        {"temperature": "2333", "humidity": "6678"},
        {"temperature": 23.33, "humidity": 66.78},
        [],
    ),
    ("sensor_ht", {"temperature": "-525"}, {"temperature": -5.25}, []),
    (
        "weather.v1",
        {"temperature": "2150", "humidity": "5000", "pressure": "100790", "voltage": 3005},
        {"temperature": 21.5, "humidity": 50.0, "pressure": 1007.9, "voltage": 3.005},
        [],
    ),
    (
        "weather",
        {"temperature": 2526, "humidity": 6678, "pressure": 99900, "battery_voltage": 3000},
        {"temperature": 25.26, "humidity": 66.78, "pressure": 999.0, "battery": 40},
        [],
    ),
    # leak
    ("sensor_wleak.aq1", {"status": "leak"}, {"leak": True}, []),
    ("sensor_wleak.aq1", {"status": "no_leak"}, {"leak": False}, []),
    ("sensor_wleak.aq1", {"wleak_status": "normal"}, {"leak": False}, []),
    ("sensor_wleak.aq1", {"wleak_status": "leak"}, {"leak": True}, []),
    # switches
    ("switch", {"status": "click"}, {}, [Event(P)]),
    ("sensor_switch", {"status": "double_click"}, {}, [Event(D)]),
    ("switch", {"status": "long_click_press"}, {}, [Event(L)]),
    ("switch", {"status": "long_click_release"}, {}, []),
    ("sensor_switch.aq2", {"status": "click"}, {}, [Event(P)]),
    ("sensor_switch.aq2", {"button_0": "double_click"}, {}, [Event(D)]),
    ("remote.b1acn01", {"button_0": "click"}, {}, [Event(P)]),
    ("sensor_switch.aq3", {"status": "shake"}, {}, [Event("shake")]),
    ("sensor_switch.aq3", {"button_0": "long_click_press"}, {}, [Event(L)]),
    ("86sw1", {"channel_0": "click"}, {}, [Event(P)]),
    ("sensor_86sw1", {"channel_0": "long_click"}, {}, [Event(L)]),
    ("sensor_86sw1.aq1", {"button_0": "double_click"}, {}, [Event(D)]),
    ("remote.b186acn01", {"button_0": "click"}, {}, [Event(P)]),
    ("86sw2", {"channel_1": "click"}, {}, [Event(P, 2)]),
    ("sensor_86sw2", {"dual_channel": "both_click"}, {}, [Event(P, 3)]),
    ("sensor_86sw2.aq1", {"button_0": "double_click"}, {}, [Event(D, 1)]),
    ("remote.b286acn01", {"dual_channel": "long_both_click"}, {}, [Event(L, 3)]),
    ("remote.b286acn01", {"button_1": "click"}, {}, [Event(P, 2)]),
    # cube
    ("cube", {"status": "flip90"}, {}, [Event("flip90")]),
    ("sensor_cube", {"status": "shake_air"}, {}, [Event("shake")]),
    ("sensor_cube.aqgl01", {"cube_status": "tap_twice"}, {}, [Event("tap_twice")]),
    ("cube", {"status": "free_fall"}, {}, [Event("free_fall")]),
    ("cube", {"status": "alert"}, {}, [Event("alert")]),
    ("cube", {"status": "swing"}, {}, [Event("swing")]),
    ("cube", {"status": "move"}, {}, [Event("move")]),
    ("cube", {"status": "flip180"}, {}, [Event("flip180")]),
    (
        "cube",
        {"rotate": "25,500"},
        {},
        [Event("rotate_right", 1, {"angle": 90.0, "duration_ms": 500})],
    ),
    (
        "cube",
        {"rotate": "-10,300"},
        {},
        [Event("rotate_left", 1, {"angle": -36.0, "duration_ms": 300})],
    ),
    (
        "sensor_cube.aqgl01",
        {"cube_status": "rotate", "rotate_degree": -45, "detect_time": 700},
        {},
        [Event("rotate_left", 1, {"angle": -45.0, "duration_ms": 700})],
    ),
    # vibration
    ("vibration", {"status": "vibrate"}, {}, [Event("vibrate")]),
    (
        "vibration",
        {"status": "tilt", "final_tilt_angle": "30"},
        {"tilt_angle": 30.0},
        [Event("tilt", 1, {"angle": 30.0})],
    ),
    ("vibration.aq1", {"status": "free_fall"}, {}, [Event("free_fall")]),
    ("vibration", {"bed_activity": "7"}, {"bed_activity": 7}, []),
    # smoke / gas
    ("smoke", {"alarm": "0", "density": "0"}, {"smoke": False, "smoke_density": 0.0}, []),
    ("sensor_smoke", {"alarm": "1"}, {"smoke": True}, []),
    ("smoke", {"alarm": "2", "voltage": 3100}, {"smoke": True, "battery": 60}, []),
    ("natgas", {"alarm": "1", "density": "12"}, {"gas": True, "gas_density": 12.0}, []),
    ("sensor_natgas", {"alarm": "0"}, {"gas": False}, []),
    # plugs
    (
        "plug",
        {
            "voltage": 3600,
            "status": "on",
            "inuse": "1",
            "load_power": "12.50",
            "power_consumed": "429112",
        },
        {"power": True, "in_use": True, "load_power": 12.5, "power_consumed": 429112.0},
        [],
    ),
    (
        "plug",
        {"channel_0": "off", "inuse": 0, "load_power": 0},
        {"power": False, "in_use": False},
        [],
    ),
    ("86plug", {"status": "on"}, {"power": True}, []),
    ("ctrl_86plug", {"channel_0": "on"}, {"power": True}, []),
    ("ctrl_86plug.aq1", {"channel_0": "unknown"}, {}, []),
    # wall relays
    ("ctrl_neutral1", {"channel_0": "on"}, {"power": True}, []),
    ("ctrl_ln1", {"channel_0": "off"}, {"power": False}, []),
    ("ctrl_ln1.aq1", {"channel_0": "unknown"}, {}, []),
    (
        "ctrl_neutral2",
        {"channel_0": "on", "channel_1": "off"},
        {"power": True, "power_2": False},
        [],
    ),
    ("ctrl_ln2", {"channel_1": "on"}, {"power_2": True}, []),
    (
        "ctrl_ln2.aq1",
        {"channel_0": "off", "channel_1": "on"},
        {"power": False, "power_2": True},
        [],
    ),
    # gateways
    (
        "gateway",
        {"rgb": 0, "illumination": 352, "proto_version": "1.1.2"},
        {"light_on": False, "illuminance": 52.0},
        [],
    ),
    ("gateway.v3", {"illumination": 250}, {"illuminance": 0.0}, []),
    (
        "gateway.aq1",
        {"rgb": 0x64FF0000},
        {"light_on": True, "brightness": 100, "hue": 0.0, "saturation": 100.0},
        [],
    ),
    ("acpartner.v3", {"rgb": 0x2800FF00}, {"light_on": True, "brightness": 40, "hue": 120.0}, []),
]


@pytest.mark.parametrize(("model", "props", "values", "events"), CASES)
def test_decode_properties(
    model: str, props: dict[str, Any], values: dict[str, Any], events: list[Event]
) -> None:
    reading = codec.decode_properties(model, props)
    for name, expected in values.items():
        assert reading.values.get(name) == expected, name
    if not values:
        assert not {"opening", "motion", "power", "leak"} & set(reading.values)
    assert reading.events == events
    assert reading.invalid == []


def test_every_listed_model_has_a_case() -> None:
    covered = {case[0] for case in CASES}
    assert set(models.MODEL_FAMILIES) - covered == set()


@pytest.mark.parametrize(
    ("model", "props", "invalid"),
    [
        ("weather", {"temperature": 10000}, ["temperature"]),
        ("weather", {"humidity": 0}, ["humidity"]),
        ("weather", {"pressure": 0}, ["pressure"]),
        ("sensor_ht", {"temperature": "-6000"}, ["temperature"]),
        ("sensor_ht", {"humidity": "10100"}, ["humidity"]),
        ("sensor_ht", {"temperature": "warm"}, ["temperature"]),
        ("sensor_ht", {"temperature": [1]}, ["temperature"]),
        ("magnet", {"status": "ajar"}, ["status"]),
        ("magnet", {"voltage": -5}, ["voltage"]),
        ("switch", {"status": "triple_somersault"}, ["status"]),
        ("switch", {"status": 7}, ["status"]),
        ("smoke", {"alarm": "8"}, ["alarm"]),
        (
            "plug",
            {"status": "maybe", "inuse": "x", "load_power": "-1"},
            ["status", "inuse", "load_power"],
        ),
        ("cube", {"rotate": "a,b"}, ["rotate"]),
        ("gateway", {"rgb": -1}, ["rgb"]),
    ],
)
def test_decode_rejects_invalid_values(
    model: str, props: dict[str, Any], invalid: list[str]
) -> None:
    reading = codec.decode_properties(model, props)
    assert reading.invalid == invalid
    assert not reading.events
    assert set(reading.values) <= {"voltage", "battery", "low_battery"}


def test_heartbeats_fire_no_events_and_do_not_set_motion() -> None:
    beat = codec.decode_properties("switch", {"status": "click", "voltage": 3062}, heartbeat=True)
    assert beat.events == [] and beat.values["battery"] == 52
    motion = codec.decode_properties(
        "motion", {"status": "motion", "voltage": 3000}, heartbeat=True
    )
    assert "motion" not in motion.values and motion.values["battery"] == 40
    cleared = codec.decode_properties("motion", {"no_motion": "300"}, heartbeat=True)
    assert cleared.values["motion"] is False


@pytest.mark.parametrize(
    ("millivolts", "percent", "low"),
    [
        (3300, 100, False),
        (3400, 100, False),
        (3050, 50, False),
        (2800, 0, False),
        (2600, 0, True),
        (2999, 39, False),
    ],
)
def test_battery_rule(millivolts: int, percent: int, low: bool) -> None:
    reading = codec.decode_properties("magnet", {"voltage": millivolts})
    assert reading.values["battery"] == percent
    assert reading.values["low_battery"] is low
    assert reading.values["voltage"] == millivolts / 1000


def test_mains_devices_have_no_battery() -> None:
    reading = codec.decode_properties("plug", {"voltage": 3600})
    assert "battery" not in reading.values and "voltage" not in reading.values


def test_unknown_model_raises() -> None:
    with pytest.raises(GatewayError, match="unknown gateway device model"):
        codec.decode_properties("toaster.v9", {})


# --------------------------------------------------------------------------- light


def test_rgb_light_round_trip() -> None:
    assert codec.rgb_to_light(0) == {"light_on": False}
    assert codec.rgb_to_light(0x00FF0000) == {"light_on": False}
    assert codec.rgb_to_light(0xFFFFFFFF)["brightness"] == 100
    rgb = codec.light_to_rgb(
        {"light_on": True, "brightness": 40, "hue": 120.0, "saturation": 100.0}, {}
    )
    assert rgb == (40 << 24) | 0x00FF00
    assert codec.rgb_to_light(rgb) == {
        "light_on": True,
        "brightness": 40,
        "hue": 120.0,
        "saturation": 100.0,
    }
    assert codec.light_to_rgb({"light_on": True}, {}) == 0x64FFFFFF
    assert codec.light_to_rgb({"light_on": False}, {"brightness": 50}) == 0
    current = {"light_on": True, "brightness": 40, "hue": 240.0, "saturation": 100.0}
    assert codec.light_to_rgb({"brightness": 10}, current) == (10 << 24) | 0x0000FF
    assert codec.light_to_rgb({"brightness": 0}, current) == 0
    with pytest.raises(GatewayError):
        codec.light_to_rgb({"hue": "red"}, {})


# --------------------------------------------------------------------------- writes


@pytest.mark.parametrize(
    ("model", "proto", "values", "props"),
    [
        ("plug", 1, {"power": True}, {"status": "on"}),
        ("plug", 2, {"power": False}, {"channel_0": "off"}),
        ("86plug", 1, {"power": True}, {"status": "on"}),
        ("ctrl_86plug.aq1", 2, {"power": True}, {"channel_0": "on"}),
        ("ctrl_neutral1", 1, {"power": True}, {"channel_0": "on"}),
        ("ctrl_ln1.aq1", 2, {"power": False}, {"channel_0": "off"}),
        ("ctrl_neutral2", 1, {"power_2": False}, {"channel_1": "off"}),
        ("ctrl_ln2", 2, {"power": True, "power_2": True}, {"channel_0": "on", "channel_1": "on"}),
        ("gateway", 1, {"light_on": False}, {"rgb": 0}),
        (
            "acpartner.v3",
            2,
            {"light_on": True, "brightness": 100, "hue": 0.0, "saturation": 100.0},
            {"rgb": 0x64FF0000},
        ),
    ],
)
def test_encode_command(
    model: str, proto: int, values: dict[str, Any], props: dict[str, Any]
) -> None:
    assert codec.encode_command(model, proto, values, {}) == props


@pytest.mark.parametrize(
    ("model", "values", "match"),
    [
        ("magnet", {"power": True}, "cannot set power"),
        ("ctrl_neutral1", {"power_2": True}, "cannot set power_2"),
        ("plug", {"power": "yes"}, "must be true or false"),
        ("gateway", {"power": True}, "cannot set power"),
        ("plug", {}, "nothing to write"),
    ],
)
def test_encode_command_errors(model: str, values: dict[str, Any], match: str) -> None:
    with pytest.raises(GatewayError, match=match):
        codec.encode_command(model, 1, values, {})


# --------------------------------------------------------------------------- models


def test_models_table() -> None:
    magnet = models.device_model("sensor_magnet.aq2")
    assert magnet is not None and "opening" in magnet.measures and magnet.sleepy
    assert models.device_model("lumi.sensor_magnet.aq2") == magnet
    plug = models.device_model("plug")
    assert plug is not None and plug.controls == ("outlet",) and not plug.sleepy
    relay = models.device_model("ctrl_ln2.aq1")
    assert relay is not None and relay.controls == ("switch", "switch_2")
    wall = models.device_model("remote.b286acn01")
    assert wall is not None and wall.buttons == 3
    for name in ("gateway", "gateway.v3", "gateway.aq1", "acpartner.v3"):
        gw = models.device_model(name)
        assert gw is not None and gw.controls == ("light",) and "illuminance" in gw.measures
        assert models.is_gateway_model(name)
    assert not models.is_gateway_model("plug")
    natgas = models.device_model("natgas")
    assert natgas is not None and not natgas.sleepy and "gas" in natgas.measures
    weather = models.device_model("weather")
    assert weather is not None and {"temperature", "humidity", "pressure"} <= weather.measures
    assert models.model_for("sensor_ht") is not None


def test_unknown_model_is_none_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="mihomekit.sources.gateway.models")
    assert models.device_model("lumi.toaster.v7") is None
    assert models.device_model("lumi.toaster.v7") is None
    assert models.device_model(None) is None
    warnings = [r for r in caplog.records if "toaster" in r.getMessage()]
    assert len(warnings) == 1
