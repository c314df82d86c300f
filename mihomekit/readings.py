"""What decoders produce: readings (named values) and events.

Every source (BLE decoders, the gateway codec) speaks this one vocabulary, so the registry
and the HomeKit side never care where a value came from.

Value names (the ``values`` mapping) are those of :mod:`mihomekit.vocabulary`, which also
gives each one's unit (temperature in °C, humidity in %, pressure in hPa, illuminance in
lx, power in W ...), label and precision, and how HomeKit, Home Assistant and Tasmota
messages show it (``docs/readings.md``). Binary readings are ``bool`` (``opening`` True =
open; ``power`` True = the switch is on), counts and percentages ``int``, measurements
``float``; a few are text (``lock_method``). Decoders give values at the resolution the
device sends; outputs round them to the reading's precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Value = float | int | bool | str
Values = Mapping[str, Value]


class EventType(StrEnum):
    """Button (and cube/dimmer) events."""

    PRESS = "press"
    DOUBLE_PRESS = "double_press"
    TRIPLE_PRESS = "triple_press"
    LONG_PRESS = "long_press"
    LONG_DOUBLE_PRESS = "long_double_press"
    LONG_TRIPLE_PRESS = "long_triple_press"
    ROTATE_LEFT = "rotate_left"
    ROTATE_RIGHT = "rotate_right"
    FLIP90 = "flip90"
    FLIP180 = "flip180"
    MOVE = "move"
    TAP_TWICE = "tap_twice"
    SHAKE = "shake"
    SWING = "swing"
    ALERT = "alert"
    FREE_FALL = "free_fall"
    VIBRATE = "vibrate"
    TILT = "tilt"


@dataclass(frozen=True, slots=True)
class Event:
    """One discrete event. ``button`` counts from 1 (the first or only button)."""

    event: str
    button: int = 1
    properties: Mapping[str, Value] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.event, "button": self.button}
        if self.properties:
            out.update(self.properties)
        return out


class KeyStatus(StrEnum):
    """What a decoder learned about the device's encryption key from one frame."""

    NOT_NEEDED = "not_needed"
    OK = "ok"
    MISSING = "missing"
    WRONG = "wrong"


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """The outcome of decoding one advertisement.

    ``ok`` is False when the frame could not be used (``error`` says why); a valid frame
    that carries no objects is ``ok`` with empty ``values``. ``counter`` is the frame's
    anti-replay counter where the format has one (the 32-bit counter of encrypted
    MiBeacon frames; the 8-bit frame counter otherwise). ``mac`` is the device's address in
    display order (``A4:C1:38:12:34:56``): for ATC/pvvx it comes from the payload.
    ``warning`` says why an ``ok`` result is partial (a BTHome frame whose decoding stopped
    at an object it does not know keeps the objects before it); ``None`` otherwise.
    """

    ok: bool
    mac: str | None = None
    pid: int | None = None
    model: str | None = None
    values: Values = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    error: str | None = None
    format: str = "mibeacon"
    encrypted: bool = False
    key_status: KeyStatus = KeyStatus.NOT_NEEDED
    counter: int | None = None
    warning: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``mihomekit decode`` prints for this result (``warning`` only
        when there is one)."""
        out: dict[str, Any] = {
            "ok": self.ok,
            "pid": self.pid,
            "model": self.model,
            "values": dict(self.values),
            "events": [e.to_json() for e in self.events],
            "error": self.error,
        }
        if self.warning is not None:
            out["warning"] = self.warning
        return out


def failure(error: str, **kwargs: Any) -> DecodeResult:
    """A result that carries no values, with the reason."""
    return DecodeResult(ok=False, error=error, **kwargs)
