"""Zigbee2MQTT ``exposes`` → what mihomekit reads, shows and writes (pure; data tables).

A device is mapped from the features it exposes, never from its model string (models get
renamed: ``WXKG02LM_rev1``/``_rev2``). Every expose ends up either as a :class:`Field`
(a state key read into a reading of :mod:`mihomekit.readings`), as part of the button
table (the ``action`` enum), as a :class:`Write` (what HomeKit may set), or in
``unmapped`` with the reason, for ``mihomekit z2m list``.

``access`` is Zigbee2MQTT's bit mask: 1 = published in the state, 2 = settable, 4 = gettable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mihomekit.catalog import DeviceModel
from mihomekit.readings import EventType

ACCESS_STATE = 1
ACCESS_SET = 2

#: binary expose name → reading (the reading is True when the value equals ``value_on``;
#: Aqara's ``contact`` has ``value_on`` false, so ``contact: true`` reads as closed).
BINARY_READINGS: dict[str, str] = {
    "contact": "opening",
    "occupancy": "motion",
    "presence": "occupancy",
    "water_leak": "leak",
    "smoke": "smoke",
    "gas": "gas",
    "carbon_monoxide": "carbon_monoxide",
    "vibration": "vibration",
    "moving": "vibration",
    "battery_low": "low_battery",
    "tamper": "tamper",
}

#: numeric expose name → (reading, factor to the reading's unit)
NUMERIC_READINGS: dict[str, tuple[str, float]] = {
    "temperature": ("temperature", 1.0),
    "humidity": ("humidity", 1.0),
    "pressure": ("pressure", 1.0),
    "illuminance": ("illuminance", 1.0),
    "illuminance_lux": ("illuminance", 1.0),  # Zigbee2MQTT 1.x
    "soil_moisture": ("moisture", 1.0),
    "battery": ("battery", 1.0),
    "voltage": ("voltage", 0.001),  # mV → V
    "device_temperature": ("device_temperature", 1.0),
    "power": ("load_power", 1.0),
    "energy": ("energy", 1.0),
    "current": ("current", 1.0),
    "co2": ("co2", 1.0),
    "pm25": ("pm25", 1.0),
    "pm10": ("pm10", 1.0),
    "linkquality": ("linkquality", 1.0),
}

#: Readings Zigbee2MQTT gives as whole numbers, kept as ``int``.
INTEGER_READINGS = frozenset({"battery", "linkquality", "co2", "moisture"})

#: ``action`` value (after its button suffix is taken off) → event; None = ignored.
ACTION_EVENTS: dict[str, str | None] = {
    "single": EventType.PRESS.value,
    "click": EventType.PRESS.value,
    "press": EventType.PRESS.value,
    "double": EventType.DOUBLE_PRESS.value,
    "hold": EventType.LONG_PRESS.value,
    "long": EventType.LONG_PRESS.value,
    "long_press": EventType.LONG_PRESS.value,
    "triple": EventType.TRIPLE_PRESS.value,
    "quadruple": "quadruple_press",
    "shake": EventType.SHAKE.value,
    "tap": EventType.TAP_TWICE.value,
    "slide": EventType.MOVE.value,
    "flip90": EventType.FLIP90.value,
    "flip180": EventType.FLIP180.value,
    "rotate_left": EventType.ROTATE_LEFT.value,
    "rotate_right": EventType.ROTATE_RIGHT.value,
    "fall": EventType.FREE_FALL.value,
    "release": None,
}

#: Button suffixes, in button order (``single_left`` is button 1, ``single_both`` 3).
BUTTON_SUFFIXES: tuple[str, ...] = ("left", "right", "both", "center", "up", "down")
#: Press events every button declares; others get a switch of their own.
PRESS_EVENTS = (
    EventType.PRESS.value,
    EventType.DOUBLE_PRESS.value,
    EventType.LONG_PRESS.value,
)

#: Light features (light expose feature name → reading).
LIGHT_FEATURES: dict[str, str] = {
    "state": "light_on",
    "brightness": "brightness",
    "color_temp": "color_temp",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One key of the state payload and how it becomes a reading.

    ``kind``: ``binary`` (True when the value is ``value_on``), ``number`` (times
    ``factor``), ``percent`` (0..``value_max`` → 0..100), ``color``, ``cover_state``
    (OPEN/CLOSE → position 100/0, for covers without a position), ``cover_stop`` (STOP),
    ``motor_state`` (opening/closing/stopped) and ``running`` (its ``value_off`` is a
    stop); the last three give ``cover_motion``.
    """

    key: str
    reading: str
    kind: str
    value_on: Any = True
    value_off: Any = False
    factor: float = 1.0
    value_max: float = 100.0


@dataclass(frozen=True, slots=True)
class Write:
    """How HomeKit writes a reading: the ``/set`` key and how the value is converted."""

    reading: str
    key: str
    kind: str
    value_on: Any = "ON"
    value_off: Any = "OFF"
    value_min: float = 0.0
    value_max: float = 100.0


@dataclass(frozen=True, slots=True)
class Unmapped:
    """An expose not shown in HomeKit (nor read), and why."""

    property: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExposeMap:
    """Everything mihomekit knows about one device's exposes."""

    fields: dict[str, list[Field]] = field(default_factory=dict)
    writes: dict[str, Write] = field(default_factory=dict)
    #: action value → (button number, event name)
    actions: dict[str, tuple[int, str]] = field(default_factory=dict)
    action_key: str = "action"
    buttons: int = 0
    button_events: tuple[str, ...] = ()
    controls: tuple[str, ...] = ()
    unmapped: tuple[Unmapped, ...] = ()

    @property
    def measures(self) -> frozenset[str]:
        """Every reading the state can carry."""
        readings = {f.reading for fields in self.fields.values() for f in fields}
        readings.discard("action")
        if "outlet" in self.controls:
            readings.add("in_use")
        if "color" in readings:
            readings.discard("color")
            readings.update({"hue", "saturation"})
        if "cover_state" in readings:
            readings.discard("cover_state")
            readings.add("position")
        return frozenset(readings)

    def model(self, model: str, name: str, *, vendor: str | None, sleepy: bool) -> DeviceModel:
        """The :class:`DeviceModel` that the accessories and outputs work from."""
        return DeviceModel(
            model=model,
            name=name,
            vendor=vendor,
            measures=self.measures,
            buttons=self.buttons,
            button_events=self.button_events,
            controls=self.controls,
            sleepy=sleepy,
        )


def _features(expose: Mapping[str, Any]) -> list[dict[str, Any]]:
    features = expose.get("features")
    if not isinstance(features, list):
        return []
    return [f for f in features if isinstance(f, dict)]


def _prop(expose: Mapping[str, Any]) -> str:
    value = expose.get("property") or expose.get("name") or ""
    return value if isinstance(value, str) else ""


def _access(expose: Mapping[str, Any]) -> int:
    access = expose.get("access")
    return access if isinstance(access, int) and not isinstance(access, bool) else ACCESS_STATE


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def parse_action(value: str) -> tuple[str, str | None] | None:
    """``"double_left"`` → (``"double"``, ``"left"``); None if it is no button action.

    Also ``button_2_single``/``2_single`` and ``single_2`` (the button's number).
    """
    if value in ACTION_EVENTS:
        return value, None
    for prefix in ("button_", ""):
        head, _, rest = value.removeprefix(prefix).partition("_")
        if head.isdigit() and len(head) == 1 and rest in ACTION_EVENTS:
            return rest, head
    base, _, suffix = value.rpartition("_")
    if base in ACTION_EVENTS and (
        suffix in BUTTON_SUFFIXES or (suffix.isdigit() and len(suffix) == 1)
    ):
        return base, suffix
    return None


def _button_order(suffix: str | None) -> tuple[int, str]:
    if suffix is None:
        return (0, "")
    if suffix.isdigit():
        return (int(suffix), suffix)
    return (100 + BUTTON_SUFFIXES.index(suffix), suffix)


class _Builder:
    def __init__(self) -> None:
        self.fields: dict[str, list[Field]] = {}
        self.writes: dict[str, Write] = {}
        self.unmapped: list[Unmapped] = []
        self.switches: list[tuple[Field, Write | None]] = []
        self.controls: list[str] = []
        self.actions: dict[str, tuple[int, str]] = {}
        self.action_key = "action"
        self.buttons = 0
        self.button_events: tuple[str, ...] = ()
        self.light_done = False
        self.cover_done = False

    def add(self, fld: Field) -> None:
        self.fields.setdefault(fld.key, []).append(fld)

    def skip(self, prop: str, reason: str) -> None:
        self.unmapped.append(Unmapped(prop, reason))

    # -- generic exposes --------------------------------------------------------------

    def generic(self, expose: Mapping[str, Any]) -> None:
        kind = expose.get("type")
        name = expose.get("name")
        prop = _prop(expose)
        if not isinstance(name, str) or not prop:
            self.skip(prop or "?", "expose without a name")
            return
        access = _access(expose)
        if not access & ACCESS_STATE:
            self.skip(prop, "write-only (not in the published state)")
            return
        if expose.get("category") == "config":
            self.skip(prop, "a configuration setting")
            return
        if kind == "binary" and name in BINARY_READINGS:
            self.add(
                Field(
                    prop,
                    BINARY_READINGS[name],
                    "binary",
                    value_on=expose.get("value_on", True),
                    value_off=expose.get("value_off", False),
                )
            )
        elif kind == "numeric" and name in NUMERIC_READINGS:
            reading, factor = NUMERIC_READINGS[name]
            self.add(Field(prop, reading, "number", factor=factor))
        elif kind == "enum" and name == "motor_state":
            self.add(Field(prop, "cover_motion", "motor_state"))
        elif kind == "binary" and name == "running":
            on, off = expose.get("value_on", True), expose.get("value_off", False)
            self.add(Field(prop, "cover_motion", "running", value_on=on, value_off=off))
        elif kind == "enum" and name == "action":
            self.action(prop, expose.get("values"))
        elif kind in ("binary", "numeric", "enum", "text"):
            self.skip(prop, f"no HomeKit or MQTT reading for {kind} {name!r}")
        else:
            self.skip(prop, f"expose type {kind!r} is not mapped")

    def action(self, prop: str, values: Any) -> None:
        if not isinstance(values, list):
            self.skip(prop, "action without values")
            return
        parsed: list[tuple[str, str, str | None]] = []
        ignored: list[str] = []
        for value in values:
            if not isinstance(value, str):
                continue
            got = parse_action(value)
            event = ACTION_EVENTS.get(got[0]) if got else None
            if got is None or event is None:
                ignored.append(value)
                continue
            parsed.append((value, event, got[1]))
        if ignored:
            self.skip(f"{prop}={'|'.join(ignored)}", "action value without a HomeKit event")
        if not parsed:
            return
        suffixes = sorted({s for _, _, s in parsed}, key=_button_order)
        number = {s: i + 1 for i, s in enumerate(suffixes)}
        events: list[str] = []
        for value, event, suffix in parsed:
            self.actions[value] = (number[suffix], event)
            if event not in events:
                events.append(event)
        presses = [e for e in PRESS_EVENTS if e in events]
        gestures = [e for e in events if e not in PRESS_EVENTS]
        self.action_key = prop
        self.buttons = len(suffixes) if presses else 0
        self.button_events = (*presses, *gestures)
        self.fields.setdefault(prop, []).append(Field(prop, "action", "action"))

    # -- specific exposes ---------------------------------------------------------------

    def switch(self, expose: Mapping[str, Any]) -> None:
        for feature in _features(expose):
            prop = _prop(feature)
            if feature.get("name") != "state" or feature.get("type") != "binary":
                self.skip(prop or "?", "switch feature is not mapped")
                continue
            on, off = feature.get("value_on", "ON"), feature.get("value_off", "OFF")
            channel = len(self.switches) + 1
            reading = "power" if channel == 1 else f"power_{channel}"
            fld = Field(prop, reading, "binary", value_on=on, value_off=off)
            write = (
                Write(reading, prop, "binary", on, off) if _access(feature) & ACCESS_SET else None
            )
            self.switches.append((fld, write))

    def light(self, expose: Mapping[str, Any]) -> None:
        if self.light_done:
            self.skip(_prop(expose) or "light", "only the first light of a device is shown")
            return
        self.light_done = True
        has_state = False
        for feature in _features(expose):
            name = feature.get("name")
            name = name if isinstance(name, str) else ""
            prop = _prop(feature)
            settable = bool(_access(feature) & ACCESS_SET)
            if name in LIGHT_FEATURES:
                reading = LIGHT_FEATURES[str(name)]
                if reading == "light_on":
                    has_state = True
                    on, off = feature.get("value_on", "ON"), feature.get("value_off", "OFF")
                    self.add(Field(prop, reading, "binary", value_on=on, value_off=off))
                    if settable:
                        self.writes[reading] = Write(reading, prop, "binary", on, off)
                elif reading == "brightness":
                    high = _number(feature.get("value_max"), 254.0)
                    self.add(Field(prop, reading, "percent", value_max=high))
                    if settable:
                        self.writes[reading] = Write(reading, prop, "percent", value_max=high)
                else:
                    low = _number(feature.get("value_min"), 153.0)
                    high = _number(feature.get("value_max"), 500.0)
                    self.add(Field(prop, reading, "number"))
                    if settable:
                        self.writes[reading] = Write(reading, prop, "number", None, None, low, high)
            elif name in ("color_xy", "color_hs"):
                if "color" not in {f.reading for f in self.fields.get(prop, [])}:
                    self.add(Field(prop, "color", "color"))
                if settable:
                    for reading in ("hue", "saturation"):
                        self.writes[reading] = Write(reading, prop, "color")
            else:
                self.skip(prop or "?", "light feature is not mapped")
        if has_state:
            self.controls.append("lightbulb")

    def cover(self, expose: Mapping[str, Any]) -> None:
        if self.cover_done:
            self.skip(_prop(expose) or "cover", "only the first cover of a device is shown")
            return
        self.cover_done = True
        features = _features(expose)
        has_position = any(f.get("name") == "position" for f in features)
        for feature in features:
            name = feature.get("name")
            prop = _prop(feature)
            settable = bool(_access(feature) & ACCESS_SET)
            if name == "position":
                self.add(Field(prop, "position", "number"))
                if settable:
                    self.writes["position"] = Write("position", prop, "number", None, None, 0, 100)
            elif name == "state" and has_position:
                # OPEN/CLOSE only repeat the position; STOP says the motor stopped.
                self.add(Field(prop, "cover_motion", "cover_stop"))
            elif name == "state":
                self.add(Field(prop, "cover_state", "cover_state"))
                if settable and "position" not in self.writes:
                    self.writes["position"] = Write("position", prop, "cover_state")
            else:
                self.skip(prop or "?", "cover feature is not mapped")
        if "position" in self.writes or any(
            f.reading in ("position", "cover_state") for fs in self.fields.values() for f in fs
        ):
            self.controls.append("cover")

    def finish_switches(self) -> None:
        if not self.switches:
            return
        outlet = len(self.switches) == 1 and any(
            f.reading == "load_power" for fs in self.fields.values() for f in fs
        )
        for index, (fld, write) in enumerate(self.switches):
            self.add(fld)
            if write is not None:
                self.writes[fld.reading] = write
            if outlet:
                self.controls.append("outlet")
            else:
                self.controls.append("switch" if index == 0 else f"switch_{index + 1}")


#: specific expose type → builder method name
_SPECIFIC = {"switch": "switch", "light": "light", "cover": "cover"}


def map_exposes(exposes: Any) -> ExposeMap:
    """Map one device's ``definition.exposes`` (any JSON; bad entries are skipped)."""
    builder = _Builder()
    if not isinstance(exposes, list):
        return ExposeMap(unmapped=(Unmapped("exposes", "not a list"),))
    for expose in exposes:
        if not isinstance(expose, dict):
            builder.skip("?", "an expose that is not an object")
            continue
        kind = expose.get("type")
        if not isinstance(kind, str):
            builder.skip(_prop(expose) or "?", "an expose without a type")
        elif kind in _SPECIFIC:
            getattr(builder, _SPECIFIC[str(kind)])(expose)
        elif kind in ("lock", "climate", "fan"):
            builder.skip(_prop(expose) or str(kind), f"{kind} devices are not mapped yet")
        else:
            builder.generic(expose)
    builder.finish_switches()
    return ExposeMap(
        fields=builder.fields,
        writes=builder.writes,
        actions=builder.actions,
        action_key=builder.action_key,
        buttons=builder.buttons,
        button_events=builder.button_events,
        controls=tuple(builder.controls),
        unmapped=tuple(builder.unmapped),
    )


__all__ = [
    "ACTION_EVENTS",
    "BINARY_READINGS",
    "NUMERIC_READINGS",
    "ExposeMap",
    "Field",
    "Unmapped",
    "Write",
    "map_exposes",
    "parse_action",
]
