"""BTHome object loops: the decrypted payload → readings and events.

v2 objects are ``id | value`` with the size fixed by the id (:data:`.bthome_objects.OBJECTS`),
so an id this table does not know ends the frame: the objects before it are kept and the
stop is reported (``stop``), as the BTHome specification asks of receivers. v1 objects
carry their own length and number format (``control byte | id | value``), so an unknown v1
id is skipped and the loop goes on.

Repeated names are numbered in order of appearance: ``temperature``, ``temperature_2``,
``temperature_3`` ... Button, dimmer and command events are numbered separately from 1
(the first 0x3A object is button 1, the second button 2; a 0x3A of 0 is "no event" but
still takes its number).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from struct import Struct

from ..readings import Event, Value
from .bthome_objects import (
    BOOL,
    BUTTON,
    BUTTON_EVENTS,
    COMMAND,
    COMMAND_EVENTS,
    DEVICE_TYPE,
    DIMMER,
    DIMMER_EVENTS,
    LOCK,
    NUM,
    OBJECTS,
    PACKET,
    RAW,
    TEXT,
    ObjectSpec,
)
from .result import make_event

#: What a loop gives besides values and events: the number of objects decoded, the packet
#: id (object 0x00) if there was one, and why decoding ended before the end of the
#: payload (``None`` if it did not).
Parsed = tuple[int, "int | None", "str | None"]

_FLOATS = {2: Struct("<e"), 4: Struct("<f"), 8: Struct("<d")}
_get = OBJECTS.get
_from_bytes = int.from_bytes

# ---- the v2 table: each id's work decided once ----------------------------------------

Reader = Callable[[bytes, int], tuple[int]]

#: How the v2 loop records an object (the first field of a :data:`V2_TABLE` row).
INT = 0  # a number as it is
DIVIDE = 1  # a number divided by its (int) scale
MULTIPLY = 2  # a number times its (float) scale, rounded to 2 decimals
FLAG = 3  # a binary sensor: byte != 0
PACKET_ID = 4  # the packet id: not a value
OTHER = 5  # events, text, raw, lock, firmware, device type: :func:`_apply`

_STRUCT_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}


def _reader(size: int, signed: bool) -> Reader:
    """``read(payload, at)`` → ``(integer,)`` for a little-endian number of ``size`` bytes."""
    code = _STRUCT_CODES.get(size)
    if code is not None:
        return Struct("<" + (code if signed else code.upper())).unpack_from

    def read(payload: bytes, at: int) -> tuple[int]:
        return (_from_bytes(payload[at : at + size], "little", signed=signed),)

    return read


V2Row = tuple[int, str, int, "Reader | None", "int | float", ObjectSpec]


def _row(spec: ObjectSpec) -> V2Row:
    if spec.kind == NUM:
        scale = spec.scale
        how = INT if scale == 1 else MULTIPLY if isinstance(scale, float) else DIVIDE
        return (how, spec.name, spec.size, _reader(spec.size, spec.signed), scale, spec)
    how = FLAG if spec.kind == BOOL else PACKET_ID if spec.kind == PACKET else OTHER
    return (how, spec.name, spec.size, None, 1, spec)


#: Object id → (how, name, size, reader, scale, spec), made from
#: :data:`.bthome_objects.OBJECTS` so that the loop does one lookup per object.
V2_TABLE: dict[int, V2Row] = {oid: _row(spec) for oid, spec in OBJECTS.items()}
_v2_row = V2_TABLE.get


def store(values: dict[str, Value], name: str, value: Value) -> None:
    """Set ``name``, or the next free ``name_2``, ``name_3`` ... if it is taken."""
    if name in values:
        n = 2
        while f"{name}_{n}" in values:
            n += 1
        name = f"{name}_{n}"
    values[name] = value


def scaled(x: int, scale: int | float) -> Value:
    """A raw integer with its BTHome scale applied."""
    if scale == 1:
        return x
    if isinstance(scale, float):
        return round(x * scale, 2)
    return x / scale


def _apply(
    spec: ObjectSpec,
    raw: bytes,
    values: dict[str, Value],
    events: list[Event],
    counts: list[int],
) -> None:
    """Record one object of a kind other than number and packet id. ``counts`` numbers
    the button, dimmer and command events."""
    kind = spec.kind
    if kind == BOOL:
        store(values, spec.name, raw[0] != 0)
    elif kind == BUTTON:
        counts[0] += 1
        event = BUTTON_EVENTS.get(raw[0])
        if event is not None:
            events.append(make_event(event, counts[0], {}))
    elif kind == DIMMER:
        counts[1] += 1
        event = DIMMER_EVENTS.get(raw[0])
        if event is not None:
            events.append(make_event(event, counts[1], {"steps": raw[1] if len(raw) > 1 else 0}))
    elif kind == COMMAND:
        counts[2] += 1
        event = COMMAND_EVENTS.get(raw[0])
        if event is not None:
            events.append(make_event(event, counts[2], {"args": raw[1:].hex()} if raw[1:] else {}))
    elif kind == LOCK:
        store(values, spec.name, raw[0] == 0)
    elif kind == TEXT:
        store(values, spec.name, raw.decode("utf-8", "replace"))
    elif kind == RAW:
        store(values, spec.name, raw.hex())
    elif kind == DEVICE_TYPE:
        store(values, spec.name, _from_bytes(raw, "little"))
    else:  # firmware version, least significant part first
        store(values, spec.name, ".".join(str(b) for b in reversed(raw)))


def parse_v2(payload: bytes, values: dict[str, Value], events: list[Event]) -> Parsed:
    """Decode BTHome v2 objects into ``values`` and ``events``."""
    decoded = 0
    packet_id: int | None = None
    counts = [0, 0, 0]
    pos = 0
    end = len(payload)
    while pos < end:
        oid = payload[pos]
        row = _v2_row(oid)
        if row is None:
            return decoded, packet_id, f"unknown BTHome object id 0x{oid:02X} at byte {pos}"
        how, name, size, read, scale, spec = row
        start = pos + 1
        if size == 0:  # text, raw, command: a length byte first
            if start >= end:
                return (
                    decoded,
                    packet_id,
                    f"BTHome object 0x{oid:02X} at byte {pos} has no length byte",
                )
            size = payload[start]
            if spec.kind == COMMAND:
                size = 1 + (size & 0x1F)  # opcode and arguments
            start += 1
        nxt = start + size
        if nxt > end:
            return decoded, packet_id, f"BTHome object 0x{oid:02X} at byte {pos} runs past the end"
        pos = nxt
        decoded += 1
        value: Value
        if read is not None:
            value = read(payload, start)[0]
            if how == DIVIDE:
                value = value / scale
            elif how == MULTIPLY:
                value = round(value * scale, 2)
        elif how == FLAG:
            value = payload[start] != 0
        elif how == PACKET_ID:
            packet_id = payload[start]
            continue
        else:
            if size:
                _apply(spec, payload[start:nxt], values, events, counts)
            continue
        if name in values:
            store(values, name, value)
        else:
            values[name] = value
    return decoded, packet_id, None


def parse_v1(payload: bytes, values: dict[str, Value], events: list[Event]) -> Parsed:
    """Decode BTHome v1 objects (``control | id | value``; control bits 0-4 = length of id
    and value, bits 5-7 = format: 0 uint, 1 sint, 2 float, 3 text, 4 raw)."""
    decoded = 0
    packet_id: int | None = None
    stop: str | None = None
    counts = [0, 0, 0]
    skipped: list[str] = []
    pos = 0
    end = len(payload)
    while pos < end:
        control = payload[pos]
        length = control & 0x1F
        nxt = pos + 1 + length
        if length < 2 or nxt > end:
            stop = f"BTHome v1 object at byte {pos} has a bad length ({length})"
            break
        oid = payload[pos + 1]
        raw = payload[pos + 2 : nxt]
        fmt = control >> 5
        spec = _get(oid)
        pos = nxt
        if fmt == 3 or fmt == 4:
            name = spec.name if spec is not None else f"object_{oid:02x}"
            store(values, name, raw.decode("utf-8", "replace") if fmt == 3 else raw.hex())
        elif spec is None or fmt > 2:
            skipped.append(f"0x{oid:02X}")
            continue
        elif fmt == 2:
            unpack = _FLOATS.get(len(raw))
            if unpack is None or spec.kind != NUM:
                skipped.append(f"0x{oid:02X}")
                continue
            x = unpack.unpack(raw)[0]
            if not math.isfinite(x):
                skipped.append(f"0x{oid:02X}")
                continue
            scale = spec.scale
            store(values, spec.name, round(x / scale if isinstance(scale, int) else x * scale, 6))
        elif spec.kind == NUM:
            store(
                values, spec.name, scaled(_from_bytes(raw, "little", signed=fmt == 1), spec.scale)
            )
        elif spec.kind == PACKET:
            packet_id = raw[0]
        else:
            _apply(spec, raw, values, events, counts)
        decoded += 1
    if skipped and stop is None:
        stop = "skipped unknown BTHome v1 object ids " + ", ".join(skipped)
    return decoded, packet_id, stop
