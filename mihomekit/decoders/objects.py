"""MiBeacon object ids → readings.

Every handler takes ``(payload, values, events, model)``: the object's data bytes, the
value dict and event list being filled, and the catalog model name (``None`` for an
unknown product id). Handlers ignore payloads that are too short; they never raise on
purpose (the object loop still guards them).

Most objects are plain numbers and are described as data in :data:`SCALARS`,
:data:`FLOATS` and :data:`FLAGS`; the rest have a function each.

Choices that differ from Home Assistant's ``xiaomi-ble`` (all deliberate):

* Humidity 0x1006 keeps its decimal on every model (xiaomi-ble truncates it to an integer
  for LYWSD03MMC and MHO-C401).
* Float objects (0x4801, 0x4808, 0x4C01, 0x4C08, 0x4805, 0x4A08) are rounded to 2 decimals
  (xiaomi-ble: 1, 2 or none depending on the id); non-finite floats are dropped.
* 0x1007 (lux) gives ``illuminance`` on every model (xiaomi-ble: only HHCCJCY01 and
  GCLS002; it drops e.g. CGPR1's). MJYD02YL and MCCGQ02HL, whose 0x1007 is a bright/dark
  reading (100 or 0), also get ``light`` = (lux == 100) like xiaomi-ble.
* 0x000F gives ``motion`` and ``illuminance`` on every model (xiaomi-ble: illuminance only
  for CGPR1); MJYD02YL and RTCGQ02LM also get ``light`` = (lux ≥ 100) like xiaomi-ble.
  Tasmota shows the MJYD02YL (``MJYD2S``) lux of both objects as a HomeKit light sensor.
* Lock states use ``locked`` / ``armed`` / ``child_lock`` / ``antilock`` with True meaning
  locked / armed / on, the opposite of Home Assistant's lock convention; 0x0008 follows
  the Mijia spec (1 = armed). Lock, fingerprint and door *events* become values
  (``lock_action``, ``fingerprint_result``, ``opening`` ...), not button events. Lock error
  key ids (0xC0DE....) give ``lock_error`` (they crash xiaomi-ble 1.21.2). Anti-lock and
  child-lock actions of 0x000B set ``antilock`` / ``child_lock`` on every model
  (xiaomi-ble: only on ZNMS17LM; ``lock`` on the others).
* 0x1017 / 0x4818 (time without motion) also give ``no_motion_seconds``.
* 0x1015 smoke: 1 = alarm; 2 (device fault) gives ``smoke_fault`` instead of an alarm.
* 0x0003 (someone near) gives ``motion`` = True instead of an event.
* No synthetic ``voltage`` from the battery percentage.
* Objects that xiaomi-ble gates to one model (0x100E, 0x100F, 0x487B, 0x4A68, 0x5413,
  0x0007 ...) are decoded for every model; button objects are only dropped for known
  models without buttons (see :mod:`.buttons`).
* Also decoded: 0x5403 battery, 0x5601 low battery, 0x6012 humidity, 0x605D temperature
  (known to ble_monitor, not xiaomi-ble).
* Also decoded (ble_monitor's meaning): the sleep objects 0x4810 / 0x5010 (0 awake, 1
  asleep → ``asleep``; 2 is the double press of the ZX1 pillow and MJZNZ018H bed sensor →
  a ``double_press`` event), snoring 0x4811 / 0x5011 (``snoring``), bed occupancy 0x4E17
  (1 = the bed was left → ``occupancy`` False), 0x5A16 (1 in bed, 2 out of bed, 3 double
  press) and a one-byte 0x4E16 of 1 (got into bed; the 5-byte 0x4E16 is the S200 weight).
  ``asleep`` and ``snoring`` are published but no HomeKit service shows them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from struct import Struct

from ..readings import Event, Value
from .buttons import BUTTON_HANDLERS

Handler = Callable[[bytes, dict[str, Value], list[Event], "str | None"], None]

_U8 = Struct("<B")
_S16 = Struct("<h")
_U16 = Struct("<H")
_U32 = Struct("<I")
_F32 = Struct("<f")
_HHB = Struct("<hhB")
_BII = Struct("<BI")
_STRUCTS = {"u8": _U8, "s16": _S16, "u16": _U16, "u32": _U32}

#: Integer objects: id → (value name, layout, divisor). Divisor 1 keeps an ``int``.
SCALARS: dict[int, tuple[str, str, int]] = {
    0x1004: ("temperature", "s16", 10),
    0x1006: ("humidity", "u16", 10),
    0x1008: ("moisture", "u8", 1),
    0x1009: ("conductivity", "u16", 1),
    0x100A: ("battery", "u8", 1),
    0x1010: ("formaldehyde", "u16", 100),
    0x1013: ("consumable", "u8", 1),
    0x4802: ("humidity", "u8", 1),
    0x4803: ("battery", "u8", 1),
    0x483D: ("pressure_present_duration", "u32", 1),
    0x483E: ("pressure_not_present_duration", "u32", 1),
    0x4851: ("duration_detected", "u8", 1),
    0x4852: ("duration_cleared", "u8", 1),
    0x4C02: ("humidity", "u8", 1),
    0x4C03: ("battery", "u8", 1),
    0x5003: ("battery", "u8", 1),
    0x5403: ("battery", "u8", 1),
    0x6012: ("humidity", "u8", 1),
    0x605D: ("temperature", "u8", 1),
}

#: float32 objects: id → value name (rounded to 2 decimals).
FLOATS: dict[int, str] = {
    0x4801: "temperature",
    0x4805: "illuminance",
    0x4808: "humidity",
    0x4C01: "temperature",
    0x4C08: "humidity",
}

#: One-byte flags: id → value name; the value is ``byte != 0``.
FLAGS: dict[int, str] = {
    0x1012: "power",
    0x1014: "leak",
    0x1018: "light",
    0x483C: "occupancy",
    0x4806: "leak",
    0x487B: "top_splash",
    0x4A01: "low_battery",
    0x4E01: "low_battery",
    0x5413: "occupancy_close_range",
    0x5601: "low_battery",
}

#: 0x000F / 0x1007 on these models also give a bright/dark flag (``light``).
_LIGHT_000F = frozenset({"MJYD02YL", "RTCGQ02LM"})
_LIGHT_1007 = frozenset({"MJYD02YL", "MCCGQ02HL"})


def _scalar(name: str, layout: str, divisor: int) -> Handler:
    st = _STRUCTS[layout]
    size = st.size
    unpack = st.unpack_from

    if divisor == 1:

        def handle_int(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
            if len(p) >= size:
                v[name] = unpack(p)[0]

        return handle_int

    def handle_scaled(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
        if len(p) >= size:
            v[name] = unpack(p)[0] / divisor

    return handle_scaled


def _float(name: str) -> Handler:
    unpack = _F32.unpack_from
    isfinite = math.isfinite

    def handle(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
        if len(p) >= 4:
            x = unpack(p)[0]
            if isfinite(x):
                v[name] = round(x, 2)

    return handle


def _flag(name: str) -> Handler:
    def handle(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
        if p:
            v[name] = p[0] != 0

    return handle


# ---- classic objects -------------------------------------------------------------------


def _someone_near(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    v["motion"] = True


_FINGERPRINT_RESULTS = {
    0: "match_successful",
    1: "match_failed",
    2: "timeout",
    3: "low_quality_too_light_fuzzy",
    4: "insufficient_area",
    5: "skin_too_dry",
    6: "skin_too_wet",
}


def _special_key_id(key_id: int) -> str | None:
    if key_id == 0:
        return "administrator"
    if key_id == 0xFFFFFFFF:
        return "unknown operator"
    if key_id == 0xDEADBEEF:
        return "invalid operator"
    return None


def _fingerprint(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) < 5:
        return
    key_id, result = _U32.unpack_from(p)[0], p[4]
    v["key_id"] = _special_key_id(key_id) or str(key_id)
    v["fingerprint"] = result == 0
    v["fingerprint_result"] = _FINGERPRINT_RESULTS.get(result, f"result_{result}")


#: 0x0007 door event byte → values.
_DOOR_EVENTS: dict[int, dict[str, Value]] = {
    0: {"opening": True, "knock_on_the_door": False, "door_stuck": False},
    1: {"opening": False, "door_left_open": False, "pry_the_door": False},
    2: {"opening": True, "door_left_open": True},
    3: {"opening": False, "knock_on_the_door": True},
    4: {"opening": True, "pry_the_door": True},
    5: {"opening": False, "door_stuck": True},
}


def _door_event(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p:
        upd = _DOOR_EVENTS.get(p[0])
        if upd is not None:
            v.update(upd)


def _armed(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if not p:
        return
    armed = p[0] == 1
    v["armed"] = armed
    if m == "DSL-C08":
        v["locked"] = armed
        v["lock_method"] = "manual"


def _body_temperature(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) >= 2:
        t = _S16.unpack_from(p)[0]
        if t:
            v["temperature"] = t / 100


#: Lock action (low nibble of 0x000B) → (state value, state, action name).
_LOCK_ACTIONS: dict[int, tuple[str, bool, str]] = {
    0: ("locked", False, "unlock_outside_the_door"),
    1: ("locked", True, "locked"),
    2: ("antilock", True, "turn_on_antilock"),
    3: ("antilock", False, "release_the_antilock"),
    4: ("locked", False, "unlock_inside_the_door"),
    5: ("locked", True, "lock_inside_the_door"),
    6: ("child_lock", True, "turn_on_child_lock"),
    7: ("child_lock", False, "turn_off_child_lock"),
    8: ("locked", True, "lock_outside_the_door"),
    15: ("locked", False, "abnormal"),
}

#: Lock method (high nibble of 0x000B).
_LOCK_METHODS = {
    0: "bluetooth",
    1: "password",
    2: "biometrics",
    3: "key",
    4: "turntable",
    5: "nfc",
    6: "one_time_password",
    7: "two_step_verification",
    8: "coercion",
    9: "homekit",
    10: "manual",
    11: "automatic",
    15: "abnormal",
}

#: Key ids that report a lock error instead of a key.
LOCK_ERRORS = {
    0xC0DE0000: "too_many_wrong_passwords",
    0xC0DE0001: "too_many_wrong_fingerprints",
    0xC0DE0002: "password_entry_timeout",
    0xC0DE0003: "lock_picking",
    0xC0DE0004: "reset_button_pressed",
    0xC0DE0005: "too_many_wrong_keys",
    0xC0DE0006: "foreign_object_in_keyhole",
    0xC0DE0007: "key_left_in_lock",
    0xC0DE0008: "too_many_nfc_failures",
    0xC0DE0009: "not_locked_in_time",
    0xC0DE000A: "too_many_failures_several_methods",
    0xC0DE000B: "too_many_face_failures",
    0xC0DE000C: "too_many_finger_vein_failures",
    0xC0DE000D: "hijack_alarm",
    0xC0DE000E: "unlocked_inside_after_arming",
    0xC0DE000F: "too_many_palm_print_failures",
    0xC0DE0010: "safe_moved",
    0xC0DE1000: "battery_below_10_percent",
    0xC0DE1001: "battery_below_5_percent",
    0xC0DE1002: "fingerprint_sensor_fault",
    0xC0DE1003: "accessory_battery_low",
    0xC0DE1004: "mechanical_fault",
    0xC0DE1005: "lock_sensor_fault",
}

#: High 16 bits of a key id → kind of key.
_KEY_KINDS = {
    0x8001: "Fingerprint",
    0x8002: "Password",
    0x8003: "Mechanical key",
    0x8004: "NFC",
    0x8005: "Two-step verification",
    0x8006: "Human face",
    0x8007: "Finger vein",
    0x8008: "Palm print",
}


def lock_key_name(key_id: int) -> str:
    """Human-readable name of a lock key id (``"Fingerprint key id 2"``)."""
    special = _special_key_id(key_id)
    if special is not None:
        return special
    if key_id <= 0x7FFFFFFF:
        return f"Bluetooth key {key_id}"
    kind = _KEY_KINDS.get(key_id >> 16)
    if kind is None:
        return f"key id 0x{key_id:08X}"
    return f"{kind} key id {key_id & 0xFFFF}"


def _lock_event(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) < 5:
        return
    op = p[0]
    action = _LOCK_ACTIONS.get(op & 0x0F)
    if action is None:
        return
    key_id = _U32.unpack_from(p, 1)[0]
    state_name, state, action_name = action
    v["lock_action"] = action_name
    method = _LOCK_METHODS.get(op >> 4)
    if method is not None:
        v["lock_method"] = method
    error = LOCK_ERRORS.get(key_id)
    if error is not None:
        v["lock_error"] = error
        return
    v[state_name] = state
    v["key_id"] = lock_key_name(key_id)


def _u24(p: bytes) -> int:
    return p[0] | p[1] << 8 | p[2] << 16


def _motion_lux(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) < 3:
        return
    lux = _u24(p)
    v["motion"] = True
    if m in _LIGHT_000F:
        v["light"] = lux >= 100
    v["illuminance"] = lux


def _toothbrush(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if not p:
        return
    brushing = p[0] == 0
    v["toothbrush"] = brushing
    if len(p) >= 2:
        v["toothbrush_counter" if brushing else "score"] = p[1]


def _kettle(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) >= 2:
        v["power"] = p[0] != 0
        v["temperature"] = float(p[1])


def _illuminance(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) < 3:
        return
    lux = _u24(p)
    if m in _LIGHT_1007:
        v["light"] = lux == 100
    v["illuminance"] = lux


def _temp_humidity(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) >= 4:
        v["temperature"] = _S16.unpack_from(p)[0] / 10
        v["humidity"] = _U16.unpack_from(p, 2)[0] / 10


def _lock_attribute(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p:
        v["locked"] = bool(p[0] & 0x01)
        v["child_lock"] = bool(p[0] & 0x08)


def _door_attribute(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p:
        v["opening"] = p[0] == 1


def _smoke(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if not p:
        return
    b = p[0]
    if b <= 1:
        v["smoke"] = b == 1
    elif b == 2:
        v["smoke_fault"] = True


def _no_motion_u32(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) >= 4:
        t = _U32.unpack_from(p)[0]
        v["no_motion_seconds"] = t
        v["motion"] = t <= 30


def _no_motion_u16(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) >= 2:
        t = _U16.unpack_from(p)[0]
        v["no_motion_seconds"] = t
        v["motion"] = t <= 30


def _door_1019(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if not p:
        return
    b = p[0]
    if b == 0:
        v["opening"] = True
    elif b == 1:
        v["opening"] = False
        v["door_left_open"] = False
    elif b == 2:
        v["opening"] = True
        v["door_left_open"] = True


def _no_motion_timeout(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    v["motion"] = False


def _body_temperature_2000(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    # MMC-T201-1: body temperature approximated from two skin sensors (empirical fit of the
    # Mi Home app's values between 36.5 and 37.8 °C).
    if len(p) < 5:
        return
    t1, t2, battery = _HHB.unpack_from(p)
    v["temperature"] = (
        3.71934e-11 * math.exp(0.69314 * t1 / 100)
        - 1.02801e-8 * math.exp(0.53871 * t2 / 100)
        + 36.413
    )
    v["battery"] = battery


def _brushing(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if not p:
        return
    v["toothbrush"] = p[0] == 0
    if len(p) >= 6:
        v["score"] = p[5]


# ---- MIoT objects ----------------------------------------------------------------------


def _opening_state(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if not p:
        return
    b = p[0]
    if b == 1:
        v["opening"] = True
    elif b == 2:
        v["opening"] = False
        v["door_left_open"] = False
        v["device_forcibly_removed"] = False


def _door_480c(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p and p[0] <= 1:
        v["opening"] = p[0] == 0


def _occupancy(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p:
        v["occupancy"] = p[0] == 1 if m == "XMOSB01XS" else p[0] > 0


def _motion_illuminance(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) >= 4:
        v["motion"] = True
        x = _F32.unpack_from(p)[0]
        if math.isfinite(x):
            v["illuminance"] = round(x, 2)


def _forcibly_removed(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    v["opening"] = True
    v["device_forcibly_removed"] = True


def _left_open(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p and p[0] == 1:
        v["opening"] = True
        v["door_left_open"] = True


#: 0x4A68 (SJWS02LM water event) byte → (value name, state).
_WATER_EVENTS = {
    0: ("leak", True),
    1: ("leak", False),
    2: ("top_splash", True),
    3: ("top_splash", False),
}


def _water_event(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p:
        ev = _WATER_EVENTS.get(p[0])
        if ev is not None:
            v[ev[0]] = ev[1]


def _weight_s200(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) < 5:
        return
    profile, weight = _BII.unpack_from(p)
    if weight == 0:
        return
    v["mass"] = weight / 100
    v["profile_id"] = profile
    v["stabilized"] = True


_CHARGING = {0: "charging", 1: "not_charging", 2: "full"}


def _weight_or_bed(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if len(p) == 1:
        if p[0] == 1:
            v["occupancy"] = True
        return
    _weight_s200(p, v, e, m)


def _sleep(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p:
        if p[0] <= 1:
            v["asleep"] = p[0] == 1
        elif p[0] == 2:
            e.append(Event("double_press", 1))


def _snoring(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p:
        v["snoring"] = p[0] != 0


def _left_bed(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p and p[0] == 1:
        v["occupancy"] = False


def _bed_occupancy(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if not p:
        return
    if p[0] == 1 or p[0] == 2:
        v["occupancy"] = p[0] == 1
    elif p[0] == 3:
        e.append(Event("double_press", 1))


def _charging(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p:
        state = _CHARGING.get(p[0])
        if state is not None:
            v["charging_state"] = state


def _asleep(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p:
        v["asleep"] = p[0] == 0


def _wearing(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    if p:
        v["wearing"] = p[0] == 0


def _body_composition(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    # S400 scales: mass bits 0-10 (0.1 kg; 0x7FF = none), heart rate bits 11-17 (+50 bpm),
    # impedance bits 18-31 (0.1 Ω). Mass and heart rate zero: the final high-frequency
    # impedance of a weighing; everything zero: the person stepped off.
    if len(p) < 5:
        return
    profile, packed = _BII.unpack_from(p)
    mass = packed & 0x7FF
    heart_rate = (packed >> 11) & 0x7F
    impedance = packed >> 18
    if mass == 0x7FF:
        mass = 0
    v["profile_id"] = profile
    if not (mass or heart_rate or impedance):
        v["stabilized"] = False
        return
    if mass:
        v["mass"] = mass / 10
    if 0 < heart_rate < 127:
        v["heart_rate"] = heart_rate + 50
    if not mass and not heart_rate:
        v["impedance_high"] = impedance / 10
        v["stabilized"] = True
    elif impedance:
        v["impedance_low"] = impedance / 10
        v["stabilized"] = False
    else:
        v["stabilized"] = True


def _build() -> dict[int, Handler]:
    table: dict[int, Handler] = {}
    for oid, (name, layout, divisor) in SCALARS.items():
        table[oid] = _scalar(name, layout, divisor)
    for oid, name in FLOATS.items():
        table[oid] = _float(name)
    for oid, name in FLAGS.items():
        table[oid] = _flag(name)
    table.update(
        {
            0x0003: _someone_near,
            0x0006: _fingerprint,
            0x0007: _door_event,
            0x0008: _armed,
            0x000A: _body_temperature,
            0x000B: _lock_event,
            0x000F: _motion_lux,
            0x0010: _toothbrush,
            0x1005: _kettle,
            0x1007: _illuminance,
            0x100D: _temp_humidity,
            0x100E: _lock_attribute,
            0x100F: _door_attribute,
            0x1015: _smoke,
            0x1017: _no_motion_u32,
            0x1019: _door_1019,
            0x101B: _no_motion_timeout,
            0x2000: _body_temperature_2000,
            0x3003: _brushing,
            0x4804: _opening_state,
            0x480C: _door_480c,
            0x4818: _no_motion_u16,
            0x484E: _occupancy,
            0x4A08: _motion_illuminance,
            0x4A0F: _forcibly_removed,
            0x4A12: _opening_state,
            0x4A1A: _left_open,
            0x4A68: _water_event,
            0x4810: _sleep,
            0x4811: _snoring,
            0x4E16: _weight_or_bed,
            0x4E17: _left_bed,
            0x5010: _sleep,
            0x5011: _snoring,
            0x5A16: _bed_occupancy,
            0x5422: _charging,
            0x5810: _asleep,
            0x6461: _wearing,
            0x6E16: _body_composition,
        }
    )
    table.update(BUTTON_HANDLERS)
    return table


#: Models whose one button is the double press carried by the sleep and bed objects
#: (0x4810, 0x5010, 0x5A16) rather than by a button object of :mod:`.buttons`.
SLEEP_BUTTON_MODELS = frozenset({"MJZNZ018H", "ZX1"})

#: Object id → handler.
HANDLERS: dict[int, Handler] = _build()

#: Objects that may legitimately be empty (button presses without an index).
EMPTY_OK = frozenset({0x4A0C, 0x4A0D, 0x4A0E, 0x4E0C, 0x4E0D, 0x4E0E, 0x560C, 0x560D, 0x560E})

# ---- the object loop's table ---------------------------------------------------------------

#: How the MiBeacon object loop records an object (the first field of an
#: :data:`OBJECT_TABLE` row).
INT = 0  # values[name] = the number
DIVIDE = 1  # values[name] = the number / divisor
FLAG = 2  # values[name] = the first byte != 0
CALL = 3  # handler(object data, values, events, model)

Reader = Callable[[bytes, int], tuple[int]]
#: (how, value name, least data size, reader, divisor, handler)
ObjectRow = tuple[int, str, int, Reader, int, Handler]


def _rows() -> dict[int, ObjectRow]:
    rows: dict[int, ObjectRow] = {
        oid: (CALL, "", 0, _U8.unpack_from, 1, handler) for oid, handler in HANDLERS.items()
    }
    for oid, (name, layout, divisor) in SCALARS.items():
        st = _STRUCTS[layout]
        how = INT if divisor == 1 else DIVIDE
        rows[oid] = (how, name, st.size, st.unpack_from, divisor, HANDLERS[oid])
    for oid, name in FLAGS.items():
        rows[oid] = (FLAG, name, 1, _U8.unpack_from, 1, HANDLERS[oid])
    return rows


#: Object id → what the object loop does with it, decided once: plain numbers and flags
#: (:data:`SCALARS`, :data:`FLAGS`) are recorded by the loop itself, reading them in place
#: (the values their :data:`HANDLERS` entry gives), the other objects call their handler.
OBJECT_TABLE: dict[int, ObjectRow] = _rows()
