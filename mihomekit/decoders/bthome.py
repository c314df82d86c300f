"""BTHome v2 (service data UUID 0xFCD2), plain and AES-CCM encrypted.

Layout: device-info byte (bit 0 encrypted, bit 2 trigger based, bits 5-7 version = 2),
then objects ``id (1) | value`` whose size is fixed by the id (text and raw carry a length
byte). Encrypted: ``info | ciphertext | counter (4, LE) | MIC (4)``, nonce = MAC (display
order) ‖ ``D2 FC`` ‖ info ‖ counter, no associated data (mibeacon.md §10).

Names follow :mod:`mihomekit.readings`: door, garage door and window all give
``opening``; "moisture" (binary) gives ``leak``; power in W is ``load_power`` (``power``
is the on/off switch); lock gives ``locked`` (True = locked). Several objects of the same
id: the last wins, except button and dimmer events, which are numbered in order of
appearance (the first 0x3A is button 1). An unknown object id ends the frame (the sizes
of the following objects cannot be known); the objects before it are kept. ``counter`` is
the 32-bit counter of encrypted frames, else the packet id (0x00) when present. The
timestamp (0x50) is given in Unix seconds.
"""

from __future__ import annotations

from ..readings import DecodeResult, Event, KeyStatus, Value
from .crypto import ccm_decrypt

FORMAT = "bthome"
PID_BTHOME = 0xB770
MODEL_BTHOME = "BTHome"

# Kinds of object besides plain numbers.
_BOOL = 0
_NUM = 1
_BUTTON = 2
_DIMMER = 3
_TEXT = 4
_RAW = 5
_PACKET = 6
_LOCK = 7
_FIRMWARE = 8

#: id → (kind, value name, size, signed, divisor). A float divisor multiplies instead.
OBJECTS: dict[int, tuple[int, str, int, bool, float]] = {
    0x00: (_PACKET, "packet_id", 1, False, 1),
    0x01: (_NUM, "battery", 1, False, 1),
    0x02: (_NUM, "temperature", 2, True, 100),
    0x03: (_NUM, "humidity", 2, False, 100),
    0x04: (_NUM, "pressure", 3, False, 100),
    0x05: (_NUM, "illuminance", 3, False, 100),
    0x06: (_NUM, "mass", 2, False, 100),
    0x07: (_NUM, "mass_lb", 2, False, 100),
    0x08: (_NUM, "dew_point", 2, True, 100),
    0x09: (_NUM, "count", 1, False, 1),
    0x0A: (_NUM, "energy", 3, False, 1000),
    0x0B: (_NUM, "load_power", 3, False, 100),
    0x0C: (_NUM, "voltage", 2, False, 1000),
    0x0D: (_NUM, "pm25", 2, False, 1),
    0x0E: (_NUM, "pm10", 2, False, 1),
    0x0F: (_BOOL, "binary", 1, False, 1),
    0x10: (_BOOL, "power", 1, False, 1),
    0x11: (_BOOL, "opening", 1, False, 1),
    0x12: (_NUM, "co2", 2, False, 1),
    0x13: (_NUM, "tvoc", 2, False, 1),
    0x14: (_NUM, "moisture", 2, False, 100),
    0x15: (_BOOL, "low_battery", 1, False, 1),
    0x16: (_BOOL, "battery_charging", 1, False, 1),
    0x17: (_BOOL, "carbon_monoxide", 1, False, 1),
    0x18: (_BOOL, "cold", 1, False, 1),
    0x19: (_BOOL, "connectivity", 1, False, 1),
    0x1A: (_BOOL, "opening", 1, False, 1),
    0x1B: (_BOOL, "opening", 1, False, 1),
    0x1C: (_BOOL, "gas", 1, False, 1),
    0x1D: (_BOOL, "heat", 1, False, 1),
    0x1E: (_BOOL, "light", 1, False, 1),
    0x1F: (_LOCK, "locked", 1, False, 1),
    0x20: (_BOOL, "leak", 1, False, 1),
    0x21: (_BOOL, "motion", 1, False, 1),
    0x22: (_BOOL, "moving", 1, False, 1),
    0x23: (_BOOL, "occupancy", 1, False, 1),
    0x24: (_BOOL, "plug", 1, False, 1),
    0x25: (_BOOL, "presence", 1, False, 1),
    0x26: (_BOOL, "problem", 1, False, 1),
    0x27: (_BOOL, "running", 1, False, 1),
    0x28: (_BOOL, "safety", 1, False, 1),
    0x29: (_BOOL, "smoke", 1, False, 1),
    0x2A: (_BOOL, "sound", 1, False, 1),
    0x2B: (_BOOL, "tamper", 1, False, 1),
    0x2C: (_BOOL, "vibration", 1, False, 1),
    0x2D: (_BOOL, "opening", 1, False, 1),
    0x2E: (_NUM, "humidity", 1, False, 1),
    0x2F: (_NUM, "moisture", 1, False, 1),
    0x3A: (_BUTTON, "button", 1, False, 1),
    0x3C: (_DIMMER, "dimmer", 2, False, 1),
    0x3D: (_NUM, "count", 2, False, 1),
    0x3E: (_NUM, "count", 4, False, 1),
    0x3F: (_NUM, "rotation", 2, True, 10),
    0x40: (_NUM, "distance_mm", 2, False, 1),
    0x41: (_NUM, "distance_m", 2, False, 10),
    0x42: (_NUM, "duration", 3, False, 1000),
    0x43: (_NUM, "current", 2, False, 1000),
    0x44: (_NUM, "speed", 2, False, 100),
    0x45: (_NUM, "temperature", 2, True, 10),
    0x46: (_NUM, "uv_index", 1, False, 10),
    0x47: (_NUM, "volume", 2, False, 10),
    0x48: (_NUM, "volume_ml", 2, False, 1),
    0x49: (_NUM, "volume_flow_rate", 2, False, 1000),
    0x4A: (_NUM, "voltage", 2, False, 10),
    0x4B: (_NUM, "gas_volume", 3, False, 1000),
    0x4C: (_NUM, "gas_volume", 4, False, 1000),
    0x4D: (_NUM, "energy", 4, False, 1000),
    0x4E: (_NUM, "volume", 4, False, 1000),
    0x4F: (_NUM, "water", 4, False, 1000),
    0x50: (_NUM, "timestamp", 4, False, 1),
    0x51: (_NUM, "acceleration", 2, False, 1000),
    0x52: (_NUM, "gyroscope", 2, False, 1000),
    0x53: (_TEXT, "text", 0, False, 1),
    0x54: (_RAW, "raw", 0, False, 1),
    0x55: (_NUM, "volume_storage", 4, False, 1000),
    0x56: (_NUM, "conductivity", 2, False, 1),
    0x57: (_NUM, "temperature", 1, True, 1),
    0x58: (_NUM, "temperature", 1, True, 0.35),
    0x59: (_NUM, "count", 1, True, 1),
    0x5A: (_NUM, "count", 2, True, 1),
    0x5B: (_NUM, "count", 4, True, 1),
    0x5C: (_NUM, "load_power", 4, True, 100),
    0x5D: (_NUM, "current", 2, True, 1000),
    0x5E: (_NUM, "direction", 2, False, 100),
    0x5F: (_NUM, "precipitation", 2, False, 10),
    0x60: (_NUM, "channel", 1, False, 1),
    0x61: (_NUM, "rotational_speed", 2, False, 1),
    0xF0: (_NUM, "device_type_id", 2, False, 1),
    0xF1: (_FIRMWARE, "firmware", 4, False, 1),
    0xF2: (_FIRMWARE, "firmware", 3, False, 1),
}

#: Button event byte → event name (0 = no event).
BUTTON_EVENTS = {
    1: "press",
    2: "double_press",
    3: "triple_press",
    4: "long_press",
    5: "long_double_press",
    6: "long_triple_press",
    0x80: "hold_press",
}

_DIMMER_EVENTS = {1: "rotate_left", 2: "rotate_right"}


def _fail(
    reason: str,
    mac: str,
    encrypted: bool = False,
    key_status: KeyStatus = KeyStatus.NOT_NEEDED,
    counter: int | None = None,
) -> DecodeResult:
    return DecodeResult(
        False, mac, PID_BTHOME, MODEL_BTHOME, {}, (), reason, FORMAT, encrypted, key_status, counter
    )


def parse_objects(
    payload: bytes, values: dict[str, Value], events: list[Event]
) -> tuple[str | None, int | None]:
    """Decode BTHome objects; returns (error if nothing could be decoded, packet id)."""
    pos = 0
    end = len(payload)
    packet_id: int | None = None
    buttons = 0
    dimmers = 0
    while pos < end:
        oid = payload[pos]
        spec = OBJECTS.get(oid)
        if spec is None:
            if pos == 0:
                return f"unknown BTHome object id 0x{oid:02X}", None
            break
        kind, name, size, signed, divisor = spec
        start = pos + 1
        if kind in (_TEXT, _RAW):
            if start >= end:
                break
            size = payload[start]
            start += 1
        nxt = start + size
        if nxt > end:
            if pos == 0:
                return f"BTHome object 0x{oid:02X} runs past the end of the frame", None
            break
        raw = payload[start:nxt]
        pos = nxt
        if kind == _NUM:
            x = int.from_bytes(raw, "little", signed=signed)
            if divisor == 1:
                values[name] = x
            elif isinstance(divisor, float):
                values[name] = round(x * divisor, 2)
            else:
                values[name] = x / divisor
        elif kind == _BOOL:
            values[name] = raw[0] != 0
        elif kind == _PACKET:
            packet_id = raw[0]
        elif kind == _BUTTON:
            buttons += 1
            event = BUTTON_EVENTS.get(raw[0])
            if event is not None:
                events.append(Event(event, buttons))
        elif kind == _DIMMER:
            dimmers += 1
            event = _DIMMER_EVENTS.get(raw[0])
            if event is not None:
                events.append(Event(event, dimmers, {"steps": raw[1]}))
        elif kind == _LOCK:
            values[name] = raw[0] == 0
        elif kind == _TEXT:
            values[name] = raw.decode("utf-8", "replace")
        elif kind == _RAW:
            values[name] = raw.hex()
        else:  # firmware version, most significant part last
            values[name] = ".".join(str(b) for b in reversed(raw))
    return None, packet_id


def decode_fcd2(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode a BTHome v2 payload."""
    n = len(data)
    if n < 1:
        return _fail("empty BTHome frame", mac)
    info = data[0]
    if info >> 5 != 2:
        return _fail(f"unsupported BTHome version {info >> 5}", mac)
    encrypted = bool(info & 0x01)
    counter: int | None = None
    key_status = KeyStatus.NOT_NEEDED
    if encrypted:
        if n < 10:
            return _fail(f"encrypted BTHome frame too short ({n} bytes)", mac, True)
        counter = int.from_bytes(data[-8:-4], "little")
        if key is None:
            return _fail("encrypted frame: no key given", mac, True, KeyStatus.MISSING, counter)
        if len(key) != 16:
            return _fail(
                f"BTHome needs a 16-byte (32 hex digit) key, got {len(key)} bytes",
                mac,
                True,
                KeyStatus.WRONG,
                counter,
            )
        nonce = mac_le[::-1] + b"\xd2\xfc" + data[0:1] + data[-8:-4]
        payload = ccm_decrypt(key, nonce, data[1:-8] + data[-4:], None)
        if payload is None:
            return _fail(
                "MIC mismatch: wrong key or damaged frame", mac, True, KeyStatus.WRONG, counter
            )
        key_status = KeyStatus.OK
    else:
        payload = data[1:]
    values: dict[str, Value] = {}
    events: list[Event] = []
    error, packet_id = parse_objects(payload, values, events)
    if error is not None:
        return _fail(error, mac, encrypted, key_status, counter)
    if counter is None:
        counter = packet_id
    return DecodeResult(
        True,
        mac,
        PID_BTHOME,
        MODEL_BTHOME,
        values,
        tuple(events),
        None,
        FORMAT,
        encrypted,
        key_status,
        counter,
    )
