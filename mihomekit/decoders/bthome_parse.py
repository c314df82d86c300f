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

_FLOATS = {2: Struct("<e"), 4: Struct("<f"), 8: Struct("<d")}
_get = OBJECTS.get
_from_bytes = int.from_bytes


class Parsed:
    """What one payload gave besides values and events."""

    __slots__ = ("decoded", "packet_id", "stop")

    def __init__(self) -> None:
        self.decoded = 0  # objects decoded
        self.packet_id: int | None = None
        self.stop: str | None = None  # why decoding ended before the end of the payload


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
    parsed: Parsed,
) -> None:
    """Record one object of a non-numeric kind."""
    kind = spec.kind
    if kind == BOOL:
        store(values, spec.name, raw[0] != 0)
    elif kind == PACKET:
        parsed.packet_id = raw[0]
    elif kind == BUTTON:
        counts[0] += 1
        event = BUTTON_EVENTS.get(raw[0])
        if event is not None:
            events.append(Event(event, counts[0]))
    elif kind == DIMMER:
        counts[1] += 1
        event = DIMMER_EVENTS.get(raw[0])
        if event is not None:
            events.append(Event(event, counts[1], {"steps": raw[1] if len(raw) > 1 else 0}))
    elif kind == COMMAND:
        counts[2] += 1
        event = COMMAND_EVENTS.get(raw[0])
        if event is not None:
            events.append(Event(event, counts[2], {"args": raw[1:].hex()} if raw[1:] else {}))
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
    parsed = Parsed()
    counts = [0, 0, 0]
    pos = 0
    end = len(payload)
    while pos < end:
        oid = payload[pos]
        spec = _get(oid)
        if spec is None:
            parsed.stop = f"unknown BTHome object id 0x{oid:02X} at byte {pos}"
            break
        start = pos + 1
        size = spec.size
        if size == 0:  # text, raw, command: a length byte first
            if start >= end:
                parsed.stop = f"BTHome object 0x{oid:02X} at byte {pos} has no length byte"
                break
            size = payload[start]
            if spec.kind == COMMAND:
                size = 1 + (size & 0x1F)  # opcode and arguments
            start += 1
        nxt = start + size
        if nxt > end:
            parsed.stop = f"BTHome object 0x{oid:02X} at byte {pos} runs past the end"
            break
        if spec.kind == NUM:
            store(
                values,
                spec.name,
                scaled(_from_bytes(payload[start:nxt], "little", signed=spec.signed), spec.scale),
            )
        elif size:
            _apply(spec, payload[start:nxt], values, events, counts, parsed)
        parsed.decoded += 1
        pos = nxt
    return parsed


def parse_v1(payload: bytes, values: dict[str, Value], events: list[Event]) -> Parsed:
    """Decode BTHome v1 objects (``control | id | value``; control bits 0-4 = length of id
    and value, bits 5-7 = format: 0 uint, 1 sint, 2 float, 3 text, 4 raw)."""
    parsed = Parsed()
    counts = [0, 0, 0]
    skipped: list[str] = []
    pos = 0
    end = len(payload)
    while pos < end:
        control = payload[pos]
        length = control & 0x1F
        nxt = pos + 1 + length
        if length < 2 or nxt > end:
            parsed.stop = f"BTHome v1 object at byte {pos} has a bad length ({length})"
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
        else:
            _apply(spec, raw, values, events, counts, parsed)
        parsed.decoded += 1
    if skipped and parsed.stop is None:
        parsed.stop = "skipped unknown BTHome v1 object ids " + ", ".join(skipped)
    return parsed
