"""A Zigbee2MQTT state message → readings and events (pure: no I/O, time passed in).

Rules (Zigbee2MQTT 2.x, ``cache_state`` on by default):

* every message repeats all cached keys, so only readings that changed are reported
  (a repeated ``occupancy: true`` must not fire motion again);
* ``action`` is never cached: a message that carries one is the event itself. It is
  never taken from a retained message (a device with ``retain: true`` would replay a stale
  press after a reconnect), an empty ``action`` is ignored, and the same payload again
  within :data:`ACTION_REPEAT_WINDOW` seconds is one press, not two;
* binary values go through the expose's ``value_on``/``value_off`` (of any JSON type);
  a value of the wrong type is a problem, counted by the caller, never a crash;
* a number outside its physical range (:data:`~mihomekit.readings.PHYSICAL_RANGES`:
  ``1e308`` W) is dropped and named in ``out_of_range``, counted by the caller.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mihomekit.readings import Event, Value, in_physical_range

from .exposes import ExposeMap, Field

#: The same action payload again within this many seconds is a repeat, not a new press.
ACTION_REPEAT_WINDOW = 1.0


@dataclass(slots=True)
class StateResult:
    """What one message changed: readings, events, and what could not be used."""

    values: dict[str, Value] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Numbers dropped for being outside their physical range.
    out_of_range: list[str] = field(default_factory=list)
    #: A retained or repeated ``action`` that was not fired.
    suppressed: int = 0


@dataclass(slots=True)
class ActionGate:
    """Per device: the last action payload and when it came (for repeats)."""

    last: str | None = None
    at: float = -math.inf


def apply_state(
    mapping: ExposeMap,
    payload: Mapping[str, Any],
    previous: Mapping[str, Value],
    *,
    retained: bool,
    now: float,
    gate: ActionGate,
) -> StateResult:
    """Read one decoded state ``payload`` against the device's ``mapping``.

    ``previous`` holds the device's current readings; only differences are returned.
    """
    result = StateResult()
    readings: dict[str, Value] = {}
    for key, value in payload.items():
        fields = mapping.fields.get(key)
        if not fields:
            continue
        for fld in fields:
            if fld.kind == "action":
                _action(mapping, value, result, retained=retained, now=now, gate=gate)
                continue
            got = _convert(fld, value)
            if got is None:
                if value is not None:
                    result.problems.append(f"{key}: unexpected value {_short(value)}")
                continue
            for reading, number in got.items():
                if _is_number(number) and not in_physical_range(reading, float(number)):
                    result.out_of_range.append(f"{key}: {_short(value)} is out of range")
                else:
                    readings[reading] = number
    if "load_power" in readings and "outlet" in mapping.controls:
        readings["in_use"] = float(readings["load_power"]) > 0.0
    for reading, value in readings.items():
        if previous.get(reading, _MISSING) != value or type(previous.get(reading)) is not type(
            value
        ):
            result.values[reading] = value
    return result


_MISSING = object()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _same(value: Any, expected: Any) -> bool:
    """JSON equality that keeps ``true`` and ``1`` apart."""
    return type(value) is type(expected) and bool(value == expected)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _convert(fld: Field, value: Any) -> dict[str, Value] | None:
    kind = fld.kind
    if kind == "binary":
        if _same(value, fld.value_on):
            return {fld.reading: True}
        if _same(value, fld.value_off):
            return {fld.reading: False}
        return None
    if kind == "number":
        number = _finite(value)
        if number is None:
            return None
        number *= fld.factor
        if fld.reading in ("battery", "linkquality", "co2", "moisture"):
            return {fld.reading: round(number)}
        return {fld.reading: round(number, 3)}
    if kind == "percent":
        number = _finite(value)
        if number is None or fld.value_max <= 0:
            return None
        return {fld.reading: max(0, min(100, round(number * 100.0 / fld.value_max)))}
    if kind == "color":
        return _color(value)
    if kind == "cover_state":
        if value in ("OPEN", "open"):
            return {"position": 100}
        if value in ("CLOSE", "close", "CLOSED", "closed"):
            return {"position": 0}
        return None
    if kind == "cover_stop":
        if not isinstance(value, str):
            return None
        return {"cover_motion": "stopped"} if value.upper() == "STOP" else {}
    if kind == "motor_state":
        if value in ("opening", "closing"):
            return {"cover_motion": value}
        return {"cover_motion": "stopped"} if isinstance(value, str) else None
    if kind == "running":
        if _same(value, fld.value_off):
            return {"cover_motion": "stopped"}
        return {} if _same(value, fld.value_on) else None  # running: no direction
    return None


def _color(value: Any) -> dict[str, Value] | None:
    """``{"hue", "saturation"}`` or ``{"x", "y"}`` → HomeKit hue (°) and saturation (%)."""
    if not isinstance(value, Mapping):
        return None
    hue, sat = _finite(value.get("hue")), _finite(value.get("saturation"))
    if hue is not None and sat is not None:
        return {"hue": round(hue % 360.0, 1), "saturation": round(max(0.0, min(100.0, sat)), 1)}
    x, y = _finite(value.get("x")), _finite(value.get("y"))
    if x is None or y is None or not (0.0 < y <= 1.0 and 0.0 <= x <= 1.0):
        return None
    hue, sat = xy_to_hs(x, y)
    return {"hue": hue, "saturation": sat}


def xy_to_hs(x: float, y: float) -> tuple[float, float]:
    """CIE 1931 xy (full brightness) → hue in degrees and saturation in %."""
    z = 1.0 - x - y
    big_y = 1.0
    big_x = big_y / y * x
    big_z = big_y / y * z
    r = big_x * 1.656492 - big_y * 0.354851 - big_z * 0.255038
    g = -big_x * 0.707196 + big_y * 1.655397 + big_z * 0.036152
    b = big_x * 0.051713 - big_y * 0.121364 + big_z * 1.011530
    rgb = [max(0.0, c) for c in (r, g, b)]
    top = max(rgb) or 1.0
    h, s, _ = colorsys.rgb_to_hsv(*(c / top for c in rgb))
    return round(h * 360.0, 1), round(s * 100.0, 1)


def _action(
    mapping: ExposeMap,
    value: Any,
    result: StateResult,
    *,
    retained: bool,
    now: float,
    gate: ActionGate,
) -> None:
    if value is None or value == "":
        return  # the legacy empty action after an event
    if not isinstance(value, str):
        result.problems.append(f"{mapping.action_key}: unexpected value {_short(value)}")
        return
    if retained:
        result.suppressed += 1
        return
    if gate.last == value and now - gate.at < ACTION_REPEAT_WINDOW:
        result.suppressed += 1
        return
    gate.last, gate.at = value, now
    entry = mapping.actions.get(value)
    if entry is None:
        return  # "release" and other values without a HomeKit event
    button, event = entry
    result.events.append(Event(event, button))


def set_payload(
    mapping: ExposeMap, values: Mapping[str, Value]
) -> tuple[dict[str, Any], list[str]]:
    """HomeKit's write (readings) → the JSON object for ``<base>/<ieee>/set``.

    Returns the payload and the readings that cannot be written.
    """
    out: dict[str, Any] = {}
    refused: list[str] = []
    color: dict[str, float] = {}
    for reading, value in values.items():
        write = mapping.writes.get(reading)
        if write is None:
            refused.append(reading)
            continue
        if write.kind == "binary":
            out[write.key] = write.value_on if value else write.value_off
        elif write.kind == "percent":
            out[write.key] = round(max(0.0, min(100.0, float(value))) * write.value_max / 100)
        elif write.kind == "number":
            low, high = write.value_min, write.value_max
            out[write.key] = round(max(low, min(high, float(value))))
        elif write.kind == "color":
            color[reading] = round(float(value), 1)
            out[write.key] = color
        elif write.kind == "cover_state":
            out[write.key] = "OPEN" if float(value) >= 50 else "CLOSE"
    return out, refused
