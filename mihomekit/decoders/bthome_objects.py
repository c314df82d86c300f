"""The BTHome object table as data: every object id of the BTHome v2 specification.

Each id has a kind, the reading name it gives (see :mod:`mihomekit.readings`), its size in
bytes (0: a length byte follows the id), whether it is signed, and its scale. A scale
given as an ``int`` divides (exact decimal results: 2506 / 100 = 25.06); a ``float``
multiplies and the result is rounded to 2 decimals (only 0x58, factor 0.35).

Naming: door (0x1A), garage door (0x1B), window (0x2D) and opening (0x11) all give
``opening``; binary "moisture" (0x20) gives ``leak``; power in W is ``load_power``
(``power`` is the on/off state 0x10); lock (0x1F) gives ``locked`` (True = locked, the
opposite of the wire value); the 1-byte humidity and moisture ids give the same names as
the 2-byte ones. Two objects that give the same name in one frame are numbered
``temperature``, ``temperature_2`` ... in the order they appear (see :mod:`.bthome_parse`).
"""

from __future__ import annotations

from typing import NamedTuple

# Kinds of object.
NUM = 0  # a number: int, or scaled to float
BOOL = 1  # binary sensor: 0 off, anything else on
BUTTON = 2  # button event (0x3A)
DIMMER = 3  # dimmer event (0x3C): direction, steps
COMMAND = 4  # command event (0x3B): opcode and arguments, length in the low 5 bits
TEXT = 5  # UTF-8 text, length byte
RAW = 6  # bytes, length byte (given as hex)
PACKET = 7  # packet id (0x00): the frame counter, not a value
LOCK = 8  # lock state (0x1F): 0 = locked
FIRMWARE = 9  # firmware version, least significant part first
DEVICE_TYPE = 10  # device type id (0xF0)


class ObjectSpec(NamedTuple):
    """How one BTHome object id is read."""

    kind: int
    name: str
    size: int
    signed: bool = False
    scale: int | float = 1


def _n(name: str, size: int, scale: int | float = 1, signed: bool = False) -> ObjectSpec:
    return ObjectSpec(NUM, name, size, signed, scale)


def _b(name: str) -> ObjectSpec:
    return ObjectSpec(BOOL, name, 1)


#: Object id → how it is read (BTHome v2; v1 shares the ids and scales).
OBJECTS: dict[int, ObjectSpec] = {
    0x00: ObjectSpec(PACKET, "packet_id", 1),
    0x01: _n("battery", 1),
    0x02: _n("temperature", 2, 100, signed=True),
    0x03: _n("humidity", 2, 100),
    0x04: _n("pressure", 3, 100),
    0x05: _n("illuminance", 3, 100),
    0x06: _n("mass", 2, 100),
    0x07: _n("mass_lb", 2, 100),
    0x08: _n("dew_point", 2, 100, signed=True),
    0x09: _n("count", 1),
    0x0A: _n("energy", 3, 1000),
    0x0B: _n("load_power", 3, 100),
    0x0C: _n("voltage", 2, 1000),
    0x0D: _n("pm25", 2),
    0x0E: _n("pm10", 2),
    0x0F: _b("binary"),
    0x10: _b("power"),
    0x11: _b("opening"),
    0x12: _n("co2", 2),
    0x13: _n("tvoc", 2),
    0x14: _n("moisture", 2, 100),
    0x15: _b("low_battery"),
    0x16: _b("battery_charging"),
    0x17: _b("carbon_monoxide"),
    0x18: _b("cold"),
    0x19: _b("connectivity"),
    0x1A: _b("opening"),
    0x1B: _b("opening"),
    0x1C: _b("gas"),
    0x1D: _b("heat"),
    0x1E: _b("light"),
    0x1F: ObjectSpec(LOCK, "locked", 1),
    0x20: _b("leak"),
    0x21: _b("motion"),
    0x22: _b("moving"),
    0x23: _b("occupancy"),
    0x24: _b("plug"),
    0x25: _b("presence"),
    0x26: _b("problem"),
    0x27: _b("running"),
    0x28: _b("safety"),
    0x29: _b("smoke"),
    0x2A: _b("sound"),
    0x2B: _b("tamper"),
    0x2C: _b("vibration"),
    0x2D: _b("opening"),
    0x2E: _n("humidity", 1),
    0x2F: _n("moisture", 1),
    0x3A: ObjectSpec(BUTTON, "button", 1),
    0x3B: ObjectSpec(COMMAND, "command", 0),
    0x3C: ObjectSpec(DIMMER, "dimmer", 2),
    0x3D: _n("count", 2),
    0x3E: _n("count", 4),
    0x3F: _n("rotation", 2, 10, signed=True),
    0x40: _n("distance_mm", 2),
    0x41: _n("distance_m", 2, 10),
    0x42: _n("duration", 3, 1000),
    0x43: _n("current", 2, 1000),
    0x44: _n("speed", 2, 100),
    0x45: _n("temperature", 2, 10, signed=True),
    0x46: _n("uv_index", 1, 10),
    0x47: _n("volume", 2, 10),
    0x48: _n("volume_ml", 2),
    0x49: _n("volume_flow_rate", 2, 1000),
    0x4A: _n("voltage", 2, 10),
    0x4B: _n("gas_volume", 3, 1000),
    0x4C: _n("gas_volume", 4, 1000),
    0x4D: _n("energy", 4, 1000),
    0x4E: _n("volume", 4, 1000),
    0x4F: _n("water", 4, 1000),
    0x50: _n("timestamp", 4),
    0x51: _n("acceleration", 2, 1000),
    0x52: _n("gyroscope", 2, 1000),
    0x53: ObjectSpec(TEXT, "text", 0),
    0x54: ObjectSpec(RAW, "raw", 0),
    0x55: _n("volume_storage", 4, 1000),
    0x56: _n("conductivity", 2),
    0x57: _n("temperature", 1, signed=True),
    0x58: _n("temperature", 1, 0.35, signed=True),
    0x59: _n("count", 1, signed=True),
    0x5A: _n("count", 2, signed=True),
    0x5B: _n("count", 4, signed=True),
    0x5C: _n("load_power", 4, 100, signed=True),
    0x5D: _n("current", 2, 1000, signed=True),
    0x5E: _n("direction", 2, 100),
    0x5F: _n("precipitation", 2, 10),
    0x60: _n("channel", 1),
    0x61: _n("rotational_speed", 2),
    0x62: _n("speed", 4, 1_000_000, signed=True),
    0x63: _n("acceleration", 4, 1_000_000, signed=True),
    0x64: _n("light_level", 1),
    0x65: _n("settings_revision", 1),
    0xF0: ObjectSpec(DEVICE_TYPE, "device_type_id", 2),
    0xF1: ObjectSpec(FIRMWARE, "firmware", 4),
    0xF2: ObjectSpec(FIRMWARE, "firmware", 3),
}

#: Button event byte (0x3A) → event name; 0 is "no event" (a button that was not pressed).
BUTTON_EVENTS: dict[int, str] = {
    0x01: "press",
    0x02: "double_press",
    0x03: "triple_press",
    0x04: "long_press",
    0x05: "long_double_press",
    0x06: "long_triple_press",
    0x80: "hold_press",
    0x81: "hold_release",
}

#: Dimmer direction byte (0x3C) → event name (property ``steps``); 0 is "no event".
DIMMER_EVENTS: dict[int, str] = {0x01: "rotate_left", 0x02: "rotate_right"}

#: Command opcode (0x3B) → event name (property ``args``, hex, when there are arguments).
COMMAND_EVENTS: dict[int, str] = {
    0x00: "off",
    0x01: "on",
    0x02: "toggle",
    0x03: "step_up",
    0x04: "step_down",
}
