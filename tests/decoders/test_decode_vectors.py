"""The decoder against every real captured packet and its derived negatives.

Each MiBeacon vector carries what Home Assistant's ``xiaomi-ble`` 1.21.2 made of it
(non-binary ``expected``, ``binary``, ``events``); each custom-format vector what
``ble_monitor`` made of it. Their results are mapped to our vocabulary and the *whole*
result (ok, pid, model, values, events, key status, counter) is compared.

Name mapping (xiaomi-ble → ours): binary ``moisture`` / ``bottom_submersion`` → ``leak``;
``battery`` (binary, low) → ``low_battery``; ``door`` → ``opening``; ``lock`` / ``armed``
/ ``childlock`` / ``antilock`` → ``locked`` / ``armed`` / ``child_lock`` / ``antilock``
negated (Home Assistant's lock sensors are True when *unlocked*); sensor ``counter``
(toothbrush) → ``toothbrush_counter``; ``charging_state`` ``"Full"`` → ``"full"``.
Events: ``lock/<action>`` → value ``lock_action``; ``fingerprint/<result>`` → value
``fingerprint_result``; ``motion/motion_detected`` → value ``motion`` = True; button keys
→ button numbers (``button``, ``dimmer``, ``cube`` → 1; YLYK01YL ``button_on`` 1,
``button_off`` 2 ...; ``button_left`` 1, ``button_middle``/``button_mid_left`` 2,
``button_right`` 2 on two-button and 3 on three-button switches, ``button_mid_right`` 3,
KS1 ``button_right`` 4); several simultaneous keys of one K9B/XMWXKG01YL press → the
combination's own button number (K9B-2BTN / XMWXKG01YL left+right = 3; K9B-3BTN
left+middle 4, middle+right 5, left+right 6, all three 7); dimmer ``number_of_presses``
→ ``presses``.

Deliberate differences from xiaomi-ble (asserted as *our* values):

=================================  ==========================  =============================
vector(s)                          xiaomi-ble                  ours
=================================  ==========================  =============================
xiaomi-ble-011, ble_monitor-007    rejected (unknown product   ok, model None, objects
..009, ble_monitor-013..015        id)                         decoded generically
xiaomi-ble-012, -120               synthetic ``voltage`` from  no ``voltage`` (not sent)
                                   battery %
xiaomi-ble-021 (LYWSD03MMC 0x1006) humidity 46 (truncated)     46.7
xiaomi-ble-055 (MUE4094RT 0x0003)  event motion_detected       value ``motion`` True
xiaomi-ble-093 (DSL-C08 0x0008=0)  armed, unlocked, event       ``armed``/``locked`` False
                                   lock_outside_the_door       (spec: 0 = disarmed), no
                                                               ``lock_action``
xiaomi-ble-009, -010 (legacy,      "empty", no failure signal  ok False, key WRONG (1-byte
wrong key)                                                     tag checked)
0x4818 / 0x1017 frames (-074)      motion only                 + ``no_motion_seconds``
xiaomi-ble-054, -094 (0x000F on    ``light`` only              + ``illuminance`` (lux as
MJYD02YL / RTCGQ02LM)                                          sent, like Tasmota)
0x0006 / 0x000B frames             event                       + ``fingerprint_result`` /
                                                               ``lock_action`` values
=================================  ==========================  =============================

Derived negatives: every mutation gives no values, except (a) "unknown product id 0xffff"
on plain frames, decoded generically like xiaomi-ble-011, and (b) the three "truncated by
1 byte" frames whose cut leaves complete objects (xiaomi-ble keeps them too; status
``ok`` in the file).

ble_monitor (custom formats) differences: pvvx flag bits are ``reed_switch`` (its
``opening``) and ``trigger_output`` (its ``switch``); no synthetic ``voltage`` for the
encrypted pvvx frame; BTHome names follow our vocabulary (``pm2.5`` → ``pm25``, ``weight``
→ ``mass``, power in W → ``load_power``, ``switch`` → ``power``, door / garage door /
window → ``opening``, ``moisture detected`` → ``leak``, ``battery low`` → ``low_battery``,
``gas detected`` → ``gas``, gas volume → ``gas_volume``, ``lock`` → ``locked`` negated,
``distance``/``distance mm`` → ``distance_m``/``distance_mm``, spaces → ``_``); the
timestamp is Unix seconds; ble_monitor's ``packet`` is our ``counter``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from vectors import (
    args,
    custom_vectors,
    derived_negatives,
    mibeacon_vectors,
    reference_objects,
)

from mihomekit import decode_advertisement
from mihomekit.decoders.objects import HANDLERS
from mihomekit.readings import DecodeResult, Event, KeyStatus

MIBEACON = mibeacon_vectors()
NEGATIVES = derived_negatives()
CUSTOM = custom_vectors()

# ---- xiaomi-ble → ours -----------------------------------------------------------------

_SENSOR_NAMES = {"counter": "toothbrush_counter"}
_BINARY_NAMES = {
    "moisture": "leak",
    "bottom_submersion": "leak",
    "battery": "low_battery",
    "door": "opening",
}
_NEGATED = {"lock": "locked", "armed": "armed", "childlock": "child_lock", "antilock": "antilock"}

#: Per model: frozenset of xiaomi-ble button keys pressed together → our button number.
_BUTTONS: dict[str, dict[frozenset[str], int]] = {
    "YLYK01YL": {
        frozenset({f"button_{name}"}): i + 1
        for i, name in enumerate(["on", "off", "brightness", "plus", "m", "min"])
    },
    "K9B-2BTN": {
        frozenset({"button_left"}): 1,
        frozenset({"button_right"}): 2,
        frozenset({"button_left", "button_right"}): 3,
    },
    "K9B-3BTN": {
        frozenset({"button_left"}): 1,
        frozenset({"button_middle"}): 2,
        frozenset({"button_right"}): 3,
        frozenset({"button_left", "button_middle"}): 4,
        frozenset({"button_middle", "button_right"}): 5,
        frozenset({"button_left", "button_right"}): 6,
        frozenset({"button_left", "button_middle", "button_right"}): 7,
    },
    "XMWXKG01YL": {
        frozenset({"button_left"}): 1,
        frozenset({"button_right"}): 2,
        frozenset({"button_left", "button_right"}): 3,
    },
    "XMWS01XS": {frozenset({"button_left"}): 1, frozenset({"button_right"}): 2},
    "KS1": {
        frozenset({"button_left"}): 1,
        frozenset({"button_mid_left"}): 2,
        frozenset({"button_mid_right"}): 3,
        frozenset({"button_right"}): 4,
    },
}
_SINGLE_KEYS = {"button", "dimmer", "cube"}
_PROPERTY_NAMES = {"number_of_presses": "presses"}

#: Vectors xiaomi-ble rejects only because it does not know the product id: ours.
_UNKNOWN_PID: dict[str, dict[str, Any]] = {
    "xiaomi-ble-011": {"temperature": 18.0, "humidity": 66.1, "battery": 59},
    "ble_monitor-007": {"occupancy": False},  # 0x5A16 2: out of bed
    "ble_monitor-008": {},  # 0x5A16 3: double press (see _EVENT_OVERRIDES)
    "ble_monitor-009": {"battery": 76},  # 0x5403
    "ble_monitor-013": {},  # 0x4E0C byte 4: button 4 (see _EVENT_OVERRIDES)
    "ble_monitor-014": {"temperature": 25},  # 0x605D
    "ble_monitor-015": {"humidity": 39},  # 0x6012
}

#: Documented value differences: id → (keys dropped from xiaomi-ble's, keys set by us).
_VALUE_OVERRIDES: dict[str, tuple[set[str], dict[str, Any]]] = {
    "xiaomi-ble-012": ({"voltage"}, {}),
    "xiaomi-ble-120": ({"voltage"}, {}),
    "xiaomi-ble-021": (set(), {"humidity": 46.7}),
    "xiaomi-ble-055": (set(), {"motion": True}),
    "xiaomi-ble-093": ({"lock_action"}, {"armed": False, "locked": False}),
    "xiaomi-ble-074": (set(), {"no_motion_seconds": 60}),
    "xiaomi-ble-054": (set(), {"illuminance": 100}),
    "xiaomi-ble-094": (set(), {"illuminance": 256}),
}
_EVENT_OVERRIDES: dict[str, list[Event]] = {
    "xiaomi-ble-055": [],
    "ble_monitor-013": [Event("press", 4)],
    "ble_monitor-008": [Event("double_press", 1)],
}
#: Product ids xiaomi-ble rejects that our catalog knows (from ble_monitor).
_UNKNOWN_PID_MODELS = {vid: "MJZNZ018H" for vid in ("ble_monitor-007", "ble_monitor-008")} | {
    "ble_monitor-009": "MJZNZ018H"
}
_LEGACY_WRONG_KEY = {"xiaomi-ble-009", "xiaomi-ble-010"}


def _expected_values(v: dict[str, Any]) -> dict[str, Any]:
    """xiaomi-ble's result in our vocabulary (before the documented overrides)."""
    out: dict[str, Any] = {}
    for name, value in v["expected"].items():
        name = _SENSOR_NAMES.get(name, name)
        if name == "charging_state":
            value = value.lower().replace(" ", "_")
        out[name] = value
    for name, value in v["binary"].items():
        if name in _NEGATED:
            out[_NEGATED[name]] = not value
        else:
            out[_BINARY_NAMES.get(name, name)] = value
    for e in v["events"]:
        if e["key"] == "lock":
            out["lock_action"] = e["type"]
        elif e["key"] == "fingerprint":
            out["fingerprint_result"] = e["type"]
    return out


def _expected_events(v: dict[str, Any]) -> list[Event]:
    model: str = v["device"]["model"] if v["device"] else ""
    buttons = [e for e in v["events"] if e["key"] not in ("lock", "fingerprint", "motion")]
    if not buttons:
        return []
    types = {e["type"] for e in buttons}
    assert len(types) == 1, "one press per packet in these vectors"
    keys = frozenset(e["key"] for e in buttons)
    if keys <= _SINGLE_KEYS:
        assert len(buttons) == 1
        number = 1
    else:
        number = _BUTTONS[model][keys]
    props = {_PROPERTY_NAMES.get(k, k): p for k, p in (buttons[0]["properties"] or {}).items()}
    return [Event(types.pop(), number, props)]


def _counter(v: dict[str, Any]) -> int | None:
    header = v.get("header")
    if not header:
        return None
    ext = (v.get("frame") or {}).get("ext_counter_hex")
    if header["encrypted"] and ext:
        return int(header["frame_counter"]) | int.from_bytes(bytes.fromhex(ext), "little") << 8
    return int(header["frame_counter"])


def _assert_values(got: Any, want: dict[str, Any]) -> None:
    assert set(got) == set(want), f"{dict(got)} != {want}"
    for name, value in want.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            assert got[name] == value and type(got[name]) is type(value), name
        else:
            assert not isinstance(got[name], bool), name
            assert math.isclose(got[name], value, rel_tol=1e-6, abs_tol=1e-9), name


def _decode(v: dict[str, Any]) -> DecodeResult:
    result = decode_advertisement(*args(v))
    assert isinstance(result, DecodeResult)
    return result


@pytest.mark.parametrize("v", MIBEACON, ids=[v["id"] for v in MIBEACON])
def test_real_mibeacon_vector(v: dict[str, Any]) -> None:
    vid, status = v["id"], v["status"]
    if vid in _UNKNOWN_PID:
        _check_unknown_pid(v)
        return
    result = _decode(v)
    device = v["device"] or {}
    mac = v["mac"].upper()
    if v["service_uuid"] != "fe95":
        assert result.model == device["model"]
    if status in ("ok", "empty", "no_payload") and vid not in _LEGACY_WRONG_KEY:
        assert result.ok, result.error
        assert result.error is None
        assert result.mac == mac
        if v["service_uuid"] == "fe95":
            assert (result.pid, result.model) == (device["product_id"], device["model"])
            assert result.counter == _counter(v)
            assert result.format == "mibeacon"
            assert result.encrypted == v["header"]["encrypted"]
            assert result.key_status == (
                KeyStatus.OK
                if v["header"]["encrypted"] and status != "no_payload"
                else KeyStatus.NOT_NEEDED
            )
        want = _expected_values(v)
        dropped, added = _VALUE_OVERRIDES.get(vid, (set(), {}))
        want = {k: val for k, val in want.items() if k not in dropped} | added
        _assert_values(result.values, want)
        assert list(result.events) == _EVENT_OVERRIDES.get(vid, _expected_events(v))
        if status == "ok":
            assert result.values or result.events
        return
    # Failures: never any value or event.
    assert not result.ok
    assert result.error
    assert dict(result.values) == {} and result.events == ()
    if status == "key_missing":
        assert result.key_status is KeyStatus.MISSING
        assert "no key" in result.error
        assert (result.pid, result.model) == (device["product_id"], device["model"])
    elif status == "decrypt_failed" or vid in _LEGACY_WRONG_KEY:
        assert result.key_status is KeyStatus.WRONG
        assert "mismatch" in result.error
    else:
        assert status == "rejected"


def _check_unknown_pid(v: dict[str, Any]) -> None:
    """xiaomi-ble rejects these; we decode them (documented difference), with the model when
    the catalog knows the product id, else with model None."""
    vid = v["id"]
    assert v["status"] == "rejected"
    result = _decode(v)
    assert result.ok, result.error
    assert result.model == _UNKNOWN_PID_MODELS.get(vid)
    assert result.pid == int.from_bytes(bytes.fromhex(v["data_hex"])[2:4], "little")
    _assert_values(result.values, _UNKNOWN_PID[vid])
    assert list(result.events) == _EVENT_OVERRIDES.get(vid, [])
    assert result.key_status == (KeyStatus.OK if v["bindkey_hex"] else KeyStatus.NOT_NEEDED)


def test_every_status_is_covered() -> None:
    """The vector file still has the statuses the tests above were written for."""
    statuses = {v["status"] for v in MIBEACON}
    assert statuses == {"ok", "empty", "no_payload", "key_missing", "decrypt_failed", "rejected"}
    assert {v["id"] for v in MIBEACON if v["status"] == "rejected"} == set(_UNKNOWN_PID)
    assert len(MIBEACON) == 152 and len(NEGATIVES) == 687 and len(CUSTOM) == 87


def test_wrong_key_for_known_devices_reports_wrong() -> None:
    v = next(x for x in MIBEACON if x["id"] == "xiaomi-ble-013")
    mac, uuid, data, key = args(v)
    assert key is not None
    bad = bytes([key[0] ^ 1]) + key[1:]
    result = decode_advertisement(mac, uuid, data, bad)
    assert (result.ok, result.key_status, dict(result.values)) == (False, KeyStatus.WRONG, {})
    short = decode_advertisement(mac, uuid, data, key[:12])
    assert (short.ok, short.key_status) == (False, KeyStatus.WRONG)
    assert "16-byte" in (short.error or "")


def test_legacy_key_accepts_expanded_form() -> None:
    v = next(x for x in MIBEACON if x["id"] == "xiaomi-ble-069")
    mac, uuid, data, key12 = args(v)
    assert key12 is not None and len(key12) == 12
    key16 = key12[:6] + bytes.fromhex("8d3d3c97") + key12[6:]
    short = decode_advertisement(mac, uuid, data, key12)
    long = decode_advertisement(mac, uuid, data, key16)
    assert short == long and short.ok
    assert short.events == (Event("rotate_left", 1, {"steps": 1}),)
    bad = decode_advertisement(mac, uuid, data, key12[:11])
    assert (bad.ok, bad.key_status) == (False, KeyStatus.WRONG)


def test_mac_mismatch_is_reported() -> None:
    v = next(x for x in MIBEACON if x["id"] == "xiaomi-ble-012")
    _, uuid, data, key = args(v)
    result = decode_advertisement("11:22:33:44:55:66", uuid, data, key)
    assert not result.ok and dict(result.values) == {}
    assert result.error == (
        "MAC in the frame (58:2D:34:3B:2E:BF) differs from the advertiser (11:22:33:44:55:66)"
    )


# ---- derived negatives -----------------------------------------------------------------


@pytest.mark.parametrize("v", NEGATIVES, ids=[v["id"] for v in NEGATIVES])
def test_derived_negative(v: dict[str, Any]) -> None:
    result = _decode(v)
    mutation, status = v["mutation"], v["status"]
    if status == "ok":
        # The cut left complete objects: xiaomi-ble and we both keep them.
        assert mutation.startswith("truncated by 1 byte")
        assert result.ok
        _assert_values(result.values, _expected_values(v))
        return
    if mutation == "unknown product id 0xffff":
        # Plain frames only in the file: decoded generically, model None.
        assert not bytes.fromhex(v["data_hex"])[0] & 0x08
        assert result.ok and result.pid == 0xFFFF and result.model is None
        assert result.values or result.events
        return
    assert not result.ok, (mutation, dict(result.values))
    assert result.error
    assert dict(result.values) == {} and result.events == ()
    if status == "key_missing":
        assert result.key_status is KeyStatus.MISSING
    elif mutation in (
        "bind key with one bit flipped",
        "extended counter byte flipped (nonce changes)",
        "last MIC byte flipped",
        "truncated by 1 byte",
    ):
        assert result.key_status is KeyStatus.WRONG
    elif mutation == "advertised by a different MAC than the one in the frame":
        assert "differs from the advertiser" in result.error
    elif mutation == "mesh bit set":
        assert "mesh" in result.error
    elif mutation == "version field set to 1":
        assert result.error == "unsupported MiBeacon version 1"
    elif mutation == "truncated to 4 bytes (shorter than header)":
        assert result.error.startswith("MiBeacon frame too short")


# ---- custom formats (ble_monitor) ------------------------------------------------------

_BM_NAMES: dict[str, str] = {
    "pm2.5": "pm25",
    "weight": "mass",
    "dewpoint": "dew_point",
    "binary": "binary",
    "switch": "power",
    "battery low": "low_battery",
    "door": "opening",
    "garage door": "opening",
    "window": "opening",
    "gas detected": "gas",
    "moisture detected": "leak",
    "distance mm": "distance_mm",
    "distance": "distance_m",
    "volume mL": "volume_ml",
}
#: ble_monitor booleans reported as 0/1.
_BM_BOOLEANS = {
    "binary",
    "switch",
    "opening",
    "battery low",
    "battery charging",
    "carbon monoxide",
    "cold",
    "connectivity",
    "door",
    "garage door",
    "gas detected",
    "heat",
    "light",
    "lock",
    "moisture detected",
    "motion",
    "moving",
    "occupancy",
    "plug",
    "presence",
    "problem",
    "running",
    "safety",
    "smoke",
    "sound",
    "tamper",
    "vibration",
    "window",
}
_BM_EVENTS = {"double press": "double_press", "rotate left": "rotate_left"}


def _custom_expected(v: dict[str, Any]) -> tuple[dict[str, Any], list[Event], int | None]:
    exp: dict[str, Any] = dict(v["expected_ble_monitor"])
    packet = exp.pop("packet", None)
    counter = int(packet) if isinstance(packet, (int, float)) else None
    events: list[Event] = []
    values: dict[str, Any] = {}
    fmt = v["format"]
    if fmt.startswith("pvvx"):
        exp.pop("status")
        values["reed_switch"] = bool(exp.pop("opening"))
        values["trigger_output"] = bool(exp.pop("switch"))
        if fmt == "pvvx_custom_encrypted":
            exp.pop("voltage")  # synthesised from battery % by ble_monitor
    if "button" in exp:
        events.append(Event(_BM_EVENTS[exp.pop("button")], 1))
    if "dimmer" in exp:
        events.append(Event(_BM_EVENTS[exp.pop("dimmer")], 1, {"steps": exp.pop("steps")}))
    for name, value in exp.items():
        if fmt == "bthome_v2" and name == "gas":
            values["gas_volume"] = value
        elif fmt == "bthome_v2" and name == "power":
            values["load_power"] = value
        elif name == "lock":
            values["locked"] = not value
        elif name == "timestamp":
            values["timestamp"] = int(dt.datetime.fromisoformat(value).timestamp())
        elif name in _BM_BOOLEANS:
            values[_BM_NAMES.get(name, name).replace(" ", "_")] = bool(value)
        else:
            values[_BM_NAMES.get(name, name).replace(" ", "_").replace(".", "")] = value
    if fmt == "atc1441":
        values["humidity"] = float(values["humidity"])
    values.update(_CUSTOM_OVERRIDES.get(v["id"], {}))
    return values, events, counter


#: Documented differences from ble_monitor: a repeated BTHome object keeps every value
#: (numbered, as bthome-ble does); ble_monitor keeps the last one only.
_CUSTOM_OVERRIDES: dict[str, dict[str, Any]] = {
    "bthome_v2-070": {"temperature": 25.7, "temperature_2": 25.9},
}


_CUSTOM_FORMATS = {
    "atc1441": ("atc1441", 0x0A1C, "ATC1441"),
    "pvvx_custom": ("pvvx", 0x944A, "PVVX"),
    "pvvx_custom_encrypted": ("pvvx_encrypted", 0x944A, "PVVX"),
    "bthome_v2": ("bthome", 0xB770, "BTHome"),
}
_QINGPING_MODELS = {
    "qingping-001": ("CGP1W", None),
    "qingping-002": ("CGD1", 0x0576),
    "qingping-003": ("CGG1", 0x0347),
    "qingping-004": ("CGP22C", None),
    "qingping-005": ("CGP23W", None),
    "qingping-006": ("CGPR1", 0x0A83),
    "qingping-007": ("CGPR1", 0x0A83),
    "qingping-008": ("CGPR1", 0x0A83),
    "qingping-009": ("CGDN1", None),
    "qingping-010": ("CGDN1", None),
    "qingping-011": ("CGDN1", None),
}


@pytest.mark.parametrize("v", CUSTOM, ids=[v["id"] for v in CUSTOM])
def test_real_custom_format_vector(v: dict[str, Any]) -> None:
    result = _decode(v)
    assert result.ok, result.error
    values, events, counter = _custom_expected(v)
    _assert_values(result.values, values)
    assert list(result.events) == events
    assert result.counter == counter
    assert result.mac == v["mac"].upper()
    if v["format"] == "qingping":
        assert (result.format, result.model, result.pid) == (
            "qingping",
            *_QINGPING_MODELS[v["id"]],
        )
    else:
        assert (result.format, result.pid, result.model) == _CUSTOM_FORMATS[v["format"]]
    encrypted = bool(v["bindkey_hex"])
    assert result.encrypted == encrypted
    assert result.key_status == (KeyStatus.OK if encrypted else KeyStatus.NOT_NEEDED)


def test_custom_encrypted_key_problems() -> None:
    for v in CUSTOM:
        if not v["bindkey_hex"]:
            continue
        mac, uuid, data, key = args(v)
        assert key is not None
        missing = decode_advertisement(mac, uuid, data)
        wrong = decode_advertisement(mac, uuid, data, bytes(16))
        assert (missing.ok, missing.key_status, dict(missing.values)) == (
            False,
            KeyStatus.MISSING,
            {},
        )
        assert (wrong.ok, wrong.key_status, dict(wrong.values)) == (False, KeyStatus.WRONG, {})


def test_every_reference_object_has_a_handler() -> None:
    """Every MiBeacon object id of the reference table (tests/data/reference-tables.json)
    is decoded, except those it marks not exposed (modes, reset)."""
    wanted = {int(o["id"], 16) for o in reference_objects() if o["exposed"]}
    assert len(wanted) > 70
    assert wanted <= set(HANDLERS), sorted(hex(x) for x in wanted - set(HANDLERS))
