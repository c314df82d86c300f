"""What decoders produce: readings (named values) and events.

Every source (BLE decoders, the gateway codec) speaks this one vocabulary, so the registry
and the HomeKit side never care where a value came from.

Value names and units (``values`` mapping):

=================  ======================================================
name               meaning
=================  ======================================================
temperature        °C (float)
humidity           % relative humidity (float)
pressure           hPa (float)
battery            % (int, 0-100)
voltage            V (float; battery voltage)
low_battery        bool, the device says its battery is low
illuminance        lx (float)
moisture           soil moisture % (int)
conductivity       soil conductivity µS/cm (int)
formaldehyde       mg/m³ (float)
motion             bool, motion detected
no_motion_seconds  int, seconds since the last motion
light              bool, light detected (bright)
opening            bool, True = open
leak               bool, water detected
smoke              bool, smoke alarm
gas                bool, gas alarm
occupancy          bool, someone present
presence           bool, a tag, beacon or phone is heard (``[[presence]]``)
room               str, the receiver that hears it best ("" while away)
power              bool, switch/outlet channel 0 on (gateway controls)
power_2            bool, switch channel 1 on
in_use             bool, outlet is drawing power
load_power         W (float)
light_on           bool, gateway light on
brightness         % (int)
hue                degrees (float)
saturation         % (float)
rssi               dBm (int), signal of the last advertisement
=================  ======================================================

Decoders may add further names for objects that HomeKit does not show (for example
``consumable``, ``lock``, ``mass``); they are passed through to ``mihomekit decode``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Value = float | int | bool | str
Values = Mapping[str, Value]

#: Value names that HomeKit shows as "alert" sensors: their changes must reach
#: controllers at once, never held back by event coalescing.
IMMEDIATE_VALUES = frozenset({"motion", "opening", "leak", "smoke", "gas", "occupancy", "presence"})

#: The physically possible range of numeric readings (inclusive, in the units above):
#: a number outside it comes from a broken or hostile sender and is dropped (counted) by
#: the sources that read numbers from other systems (Zigbee2MQTT, MQTT receivers).
#: Readings not listed only have to be finite.
PHYSICAL_RANGES: Mapping[str, tuple[float, float]] = {
    "temperature": (-80.0, 150.0),
    "device_temperature": (-80.0, 200.0),
    "humidity": (0.0, 100.0),
    "pressure": (100.0, 2000.0),
    "battery": (0.0, 100.0),
    "voltage": (0.0, 1000.0),
    "illuminance": (0.0, 200_000.0),
    "moisture": (0.0, 100.0),
    "conductivity": (0.0, 100_000.0),
    "formaldehyde": (0.0, 100.0),
    "co2": (0.0, 100_000.0),
    "no_motion_seconds": (0.0, 1e8),
    "load_power": (-100_000.0, 100_000.0),
    "energy": (-1e9, 1e9),
    "current": (-1000.0, 1000.0),
    "linkquality": (0.0, 255.0),
    "rssi": (-127.0, 20.0),
    "brightness": (0.0, 100.0),
    "hue": (0.0, 360.0),
    "saturation": (0.0, 100.0),
    "position": (0.0, 100.0),
    "mass": (0.0, 1000.0),
}


def in_physical_range(name: str, value: float) -> bool:
    """True if the number ``value`` of reading ``name`` can be real (see
    :data:`PHYSICAL_RANGES`); booleans and strings are not numbers here."""
    if value != value or value in (float("inf"), float("-inf")):
        return False
    low, high = PHYSICAL_RANGES.get(name, (-float("inf"), float("inf")))
    return low <= value <= high


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
