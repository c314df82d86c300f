"""Gateway device properties → mihomekit readings and events, and back for writes.

Pure functions. v1 and v2 property names are both understood (``status`` and
``window_status``, ``voltage`` and ``battery_voltage``, ...). Scaling and filters:
temperature and humidity ÷ 100, pressure Pa → hPa, temperatures outside -50...60 °C,
humidity outside (0, 100] and pressure 0 are rejected; battery % from the cell voltage by
Home Assistant's clamped rule (2800 mV = 0 %, 3300 mV = 100 %).

Buttons: ``click`` → press, ``double_click`` → double_press, ``long_click_press`` →
long_press (``long_click_release`` gives nothing). Double wall switches report the left
key as button 1, the right as button 2 and both at once (``both_click``) as button 3.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mihomekit.errors import GatewayError
from mihomekit.readings import Event, EventType, Value
from mihomekit.sources.gateway.models import MODEL_FAMILIES, canonical

# --------------------------------------------------------------------------- readings


@dataclass(slots=True)
class Reading:
    """Values and events from one property dict; ``invalid`` names rejected properties."""

    values: dict[str, Value] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


def _num(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def battery_percent(millivolts: float) -> int:
    """Home Assistant's rule: clamp to 2800-3300 mV, linear to 0-100 %."""
    clamped = min(max(millivolts, 2800.0), 3300.0)
    return int(round((clamped - 2800.0) / 500.0 * 100.0, 1))


def _on_off(value: object) -> bool | None:
    if isinstance(value, bool):
        return None
    if value in ("on", 1, "1"):
        return True
    if value in ("off", 0, "0"):
        return False
    return None


_CLICK_EVENTS: dict[str, str] = {
    "click": EventType.PRESS.value,
    "double_click": EventType.DOUBLE_PRESS.value,
    "long_click_press": EventType.LONG_PRESS.value,
    "long_click": EventType.LONG_PRESS.value,
    "both_click": EventType.PRESS.value,
    "double_both_click": EventType.DOUBLE_PRESS.value,
    "long_both_click": EventType.LONG_PRESS.value,
    "shake": EventType.SHAKE.value,
}
#: Statuses that are valid but carry no event (the end of a long press).
_SILENT_CLICKS = frozenset({"long_click_release", "long_both_click_release", "unknown", ""})

_CUBE_EVENTS: dict[str, str] = {
    "flip90": EventType.FLIP90.value,
    "flip180": EventType.FLIP180.value,
    "move": EventType.MOVE.value,
    "tap_twice": EventType.TAP_TWICE.value,
    "shake_air": EventType.SHAKE.value,
    "swing": EventType.SWING.value,
    "alert": EventType.ALERT.value,
    "free_fall": EventType.FREE_FALL.value,
}
_VIBRATION_EVENTS: dict[str, str] = {
    "vibrate": EventType.VIBRATE.value,
    "tilt": EventType.TILT.value,
    "free_fall": EventType.FREE_FALL.value,
}

_BATTERY_FAMILIES = frozenset(
    {
        "magnet",
        "motion",
        "motion_lux",
        "ht",
        "weather",
        "leak",
        "switch",
        "switch_aq2",
        "switch_aq3",
        "wall1",
        "wall2",
        "cube",
        "vibration",
        "smoke",
    }
)


class _Decoder:
    """Reads one property dict for one family into a :class:`Reading`."""

    def __init__(self, props: Mapping[str, Any], heartbeat: bool) -> None:
        self.props = props
        self.heartbeat = heartbeat
        self.out = Reading()

    def get(self, *names: str) -> tuple[str, Any] | None:
        for name in names:
            if name in self.props:
                return name, self.props[name]
        return None

    def bad(self, name: str) -> None:
        self.out.invalid.append(name)

    def event(self, event: str, button: int = 1, **properties: Value) -> None:
        if not self.heartbeat:
            self.out.events.append(Event(event, button, properties))

    def number(self, *names: str) -> tuple[str, float] | None:
        found = self.get(*names)
        if found is None:
            return None
        value = _num(found[1])
        if value is None:
            self.bad(found[0])
            return None
        return found[0], value

    # ------------------------------------------------------------------ shared pieces

    def battery(self) -> None:
        found = self.number("voltage", "battery_voltage")
        if found is None:
            return
        name, mv = found
        if not 0 < mv <= 5000:
            self.bad(name)
            return
        self.out.values["voltage"] = round(mv / 1000.0, 3)
        self.out.values["battery"] = battery_percent(mv)
        self.out.values["low_battery"] = mv < 2800

    def climate(self) -> None:
        found = self.number("temperature")
        if found is not None:
            celsius = found[1] / 100.0
            if -50.0 <= celsius <= 60.0:
                self.out.values["temperature"] = round(celsius, 2)
            else:
                self.bad("temperature")
        found = self.number("humidity")
        if found is not None:
            percent = found[1] / 100.0
            if 0.0 < percent <= 100.0:
                self.out.values["humidity"] = round(percent, 2)
            else:
                self.bad("humidity")
        found = self.number("pressure")
        if found is not None:
            if found[1] > 0:
                self.out.values["pressure"] = round(found[1] / 100.0, 2)
            else:
                self.bad("pressure")

    def flag(self, names: tuple[str, ...], out: str, true: set[str], false: set[str]) -> None:
        found = self.get(*names)
        if found is None:
            return
        name, raw = found
        if raw in true:
            self.out.values[out] = True
        elif raw in false:
            self.out.values[out] = False
        elif raw != "unknown":
            self.bad(name)

    def clicks(self, names: tuple[str, ...], button: int) -> None:
        found = self.get(*names)
        if found is None:
            return
        name, raw = found
        if not isinstance(raw, str):
            self.bad(name)
        elif raw in _CLICK_EVENTS:
            self.event(_CLICK_EVENTS[raw], button)
        elif raw not in _SILENT_CLICKS:
            self.bad(name)

    def channel(self, names: tuple[str, ...], out: str) -> None:
        found = self.get(*names)
        if found is None:
            return
        state = _on_off(found[1])
        if state is not None:
            self.out.values[out] = state
        elif found[1] != "unknown":
            self.bad(found[0])

    def alarm(self, out: str) -> None:
        found = self.get("alarm")
        if found is not None:
            raw = str(found[1]) if isinstance(found[1], int | str) else None
            if raw == "0":
                self.out.values[out] = False
            elif raw in ("1", "2"):
                self.out.values[out] = True
            else:
                self.bad("alarm")
        density = self.number("density")
        if density is not None:
            self.out.values[f"{out}_density"] = density[1]

    # ------------------------------------------------------------------ families

    def gateway(self) -> None:
        found = self.number("rgb")
        if found is not None:
            if 0 <= found[1] <= 0xFFFFFFFF:
                self.out.values.update(rgb_to_light(int(found[1])))
            else:
                self.bad("rgb")
        found = self.number("illumination")
        if found is not None:
            self.out.values["illuminance"] = max(0.0, found[1] - 300.0)

    def magnet(self) -> None:
        self.flag(("status", "window_status"), "opening", {"open"}, {"close"})
        found = self.number("no_close")
        if found is not None:
            self.out.values["opening"] = True
            self.out.values["no_close_seconds"] = int(found[1])

    def motion(self) -> None:
        found = self.get("status", "motion_status")
        if found is not None:
            if found[1] == "motion":
                # Heartbeats repeat a stale "motion": only reports set it.
                if not self.heartbeat:
                    self.out.values["motion"] = True
            elif found[1] != "unknown":
                self.bad(found[0])
        found = self.number("no_motion")
        if found is not None:
            self.out.values["motion"] = False
            self.out.values["no_motion_seconds"] = int(found[1])
        found = self.number("lux", "illumination")
        if found is not None:
            if found[1] >= 0:
                self.out.values["illuminance"] = found[1]
            else:
                self.bad(found[0])

    def leak(self) -> None:
        self.flag(("status", "wleak_status"), "leak", {"leak"}, {"no_leak", "normal"})

    def switch(self) -> None:
        self.clicks(("status", "button_0", "channel_0"), 1)

    def wall(self) -> None:
        self.clicks(("channel_0", "button_0"), 1)
        self.clicks(("channel_1", "button_1"), 2)
        self.clicks(("dual_channel",), 3)

    def cube(self) -> None:
        found = self.get("status", "cube_status")
        if found is not None:
            name, raw = found
            if raw in _CUBE_EVENTS:
                self.event(_CUBE_EVENTS[raw])
            elif raw != "rotate" and raw not in _SILENT_CLICKS:
                self.bad(name)
        angle: float | None = None
        duration: float | None = None
        if "rotate" in self.props:  # v1: "<angle / 3.6>,<milliseconds>"
            parts = str(self.props["rotate"]).split(",")
            first = _num(parts[0])
            duration = _num(parts[1]) if len(parts) > 1 else None
            if first is None or (len(parts) > 1 and duration is None) or len(parts) > 2:
                self.bad("rotate")
            else:
                angle = first * 3.6
        elif "rotate_degree" in self.props:  # v2: signed degrees, + = clockwise
            angle = _num(self.props["rotate_degree"])
            if angle is None:
                self.bad("rotate_degree")
            found_time = self.number("detect_time")
            duration = found_time[1] if found_time else None
        if angle is not None:
            kind = EventType.ROTATE_RIGHT if angle >= 0 else EventType.ROTATE_LEFT
            props: dict[str, Value] = {"angle": round(angle, 1)}
            if duration is not None:
                props["duration_ms"] = int(duration)
            self.event(kind.value, 1, **props)

    def vibration(self) -> None:
        tilt = self.number("final_tilt_angle")
        if tilt is not None:
            self.out.values["tilt_angle"] = tilt[1]
        found = self.get("status")
        if found is not None:
            raw = found[1]
            if raw in _VIBRATION_EVENTS:
                extra: dict[str, Value] = {}
                if raw == "tilt" and tilt is not None:
                    extra["angle"] = tilt[1]
                self.event(_VIBRATION_EVENTS[raw], 1, **extra)
            elif raw != "actively":
                self.bad("status")
        activity = self.number("bed_activity")
        if activity is not None:
            self.out.values["bed_activity"] = int(activity[1])

    def plug(self) -> None:
        self.channel(("status", "channel_0"), "power")
        found = self.get("inuse")
        if found is not None:
            state = _on_off(found[1])
            if state is None:
                self.bad("inuse")
            else:
                self.out.values["in_use"] = state
        found = self.number("load_power")
        if found is not None:
            if found[1] >= 0:
                self.out.values["load_power"] = found[1]
            else:
                self.bad("load_power")
        found = self.number("power_consumed", "energy_consumed")
        if found is not None:
            self.out.values["power_consumed"] = found[1]

    def relay(self) -> None:
        self.channel(("channel_0",), "power")
        self.channel(("channel_1",), "power_2")


_FAMILY_DECODERS = {
    "gateway": _Decoder.gateway,
    "magnet": _Decoder.magnet,
    "motion": _Decoder.motion,
    "motion_lux": _Decoder.motion,
    "ht": _Decoder.climate,
    "weather": _Decoder.climate,
    "leak": _Decoder.leak,
    "switch": _Decoder.switch,
    "switch_aq2": _Decoder.switch,
    "switch_aq3": _Decoder.switch,
    "wall1": _Decoder.wall,
    "wall2": _Decoder.wall,
    "cube": _Decoder.cube,
    "vibration": _Decoder.vibration,
    "smoke": lambda d: d.alarm("smoke"),
    "natgas": lambda d: d.alarm("gas"),
    "plug": _Decoder.plug,
    "relay1": _Decoder.relay,
    "relay2": _Decoder.relay,
}


def family_of(model: str) -> str | None:
    """The codec family of a model string (see :mod:`.models`), or None."""
    return MODEL_FAMILIES.get(canonical(model))


def decode_properties(model: str, props: Mapping[str, Any], *, heartbeat: bool = False) -> Reading:
    """Readings and events from a property dict of ``model`` (v1 or v2 names).

    Heartbeats (``heartbeat=True``) give values only, never events, and do not set
    ``motion`` (firmware repeats a stale "motion" in heartbeats). Unknown properties are
    ignored; known ones with unusable values are listed in ``invalid``.
    """
    family = family_of(model)
    if family is None:
        raise GatewayError(f"unknown gateway device model {model!r}")
    decoder = _Decoder(props, heartbeat)
    if family in _BATTERY_FAMILIES:
        decoder.battery()
    _FAMILY_DECODERS[family](decoder)
    return decoder.out


# --------------------------------------------------------------------------- light


def rgb_to_light(rgb: int) -> dict[str, Value]:
    """Gateway ``rgb`` (``0xBBRRGGBB``, BB = brightness %) → light values; 0 = off.

    A brightness byte of 0 also means off; above 100 (old "full" writes) counts as 100.
    """
    level = (rgb >> 24) & 0xFF
    if rgb == 0 or level == 0:
        return {"light_on": False}
    red, green, blue = (rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF
    hue, sat, _ = colorsys.rgb_to_hsv(red / 255.0, green / 255.0, blue / 255.0)
    return {
        "light_on": True,
        "brightness": min(level, 100),
        "hue": round(hue * 360.0, 1),
        "saturation": round(sat * 100.0, 1),
    }


def light_to_rgb(values: Mapping[str, Value], current: Mapping[str, Value]) -> int:
    """The ``rgb`` to write for light values, missing ones taken from ``current``."""

    def pick(name: str, default: float) -> float:
        value = values.get(name, current.get(name, default))
        number = _num(value) if not isinstance(value, bool) else None
        if number is None:
            raise GatewayError(f"{name} must be a number, got {value!r}")
        return number

    on = values.get("light_on", True if values else current.get("light_on", True))
    if not isinstance(on, bool):
        raise GatewayError(f"light_on must be true or false, got {on!r}")
    brightness = round(min(max(pick("brightness", 100.0), 0.0), 100.0))
    if not on or brightness == 0:
        return 0
    hue = pick("hue", 0.0) % 360.0
    sat = min(max(pick("saturation", 0.0), 0.0), 100.0)
    red, green, blue = colorsys.hsv_to_rgb(hue / 360.0, sat / 100.0, 1.0)
    return (
        (brightness << 24)
        | (round(red * 255) << 16)
        | (round(green * 255) << 8)
        | round(blue * 255)
    )


# --------------------------------------------------------------------------- writes

_LIGHT_VALUES = frozenset({"light_on", "brightness", "hue", "saturation"})


def encode_command(
    model: str, proto: int, values: Mapping[str, Value], current: Mapping[str, Value]
) -> dict[str, Any]:
    """Wire properties for a write of ``values`` (``power``, ``power_2``, light values).

    ``current`` holds the device's last known values (for partial light changes).
    Raises :class:`GatewayError` for values the model cannot take.
    """
    family = family_of(model)
    if not values:
        raise GatewayError("nothing to write")
    props: dict[str, Any] = {}
    if family == "gateway":
        unknown = set(values) - _LIGHT_VALUES
        if not unknown:
            props["rgb"] = light_to_rgb(values, current)
            return props
    elif family in ("plug", "relay1", "relay2"):
        channels = {"power": "channel_0"}
        if family == "relay2":
            channels["power_2"] = "channel_1"
        if family == "plug" and proto == 1:
            channels["power"] = "status"
        unknown = set(values) - set(channels)
        if not unknown:
            for name, value in values.items():
                if not isinstance(value, bool):
                    raise GatewayError(f"{name} must be true or false, got {value!r}")
                props[channels[name]] = "on" if value else "off"
            return props
    else:
        unknown = set(values)
    raise GatewayError(f"cannot set {', '.join(sorted(unknown))} on a {model!r} device")
