"""The reading vocabulary as data: one record per reading name, read by every output.

Decoders, the gateway adapter and Zigbee2MQTT name their values with the names below
(:mod:`mihomekit.readings`). Each :class:`ReadingInfo` says how a reading is shown and
sent: its label and unit, its precision (decimals), the HomeKit service and characteristic
that show it (if any), its Home Assistant entity, its key in Tasmota MI32's ``SENSOR``
message, the staleness kind it implies and whether it is an alert.

Values are rounded to their precision where they leave (HomeKit, MQTT, the dashboard,
Tasmota messages) with :func:`rounded`, never in the decoders. A name with a number
appended (``temperature_2``: a second sensor of a BTHome device; ``power_2``: a switch's
second channel) reads as its base name, labelled ``Temperature 2``; only the base name is
shown in HomeKit, Home Assistant and Tasmota messages. Names not listed are shown as they
come, numbers with :data:`DEFAULT_PRECISION` decimals.

``docs/readings.md`` is this table in words (``python -m mihomekit.vocabulary`` writes it;
a test keeps the two in step).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from mihomekit.readings import Value

__all__ = [
    "DEFAULT_PRECISION",
    "DEFAULT_STALENESS",
    "HOMEKIT_SENSORS",
    "READINGS",
    "STALENESS_KINDS",
    "HomeAssistant",
    "HomeKitSensor",
    "Level",
    "ReadingInfo",
    "in_physical_range",
    "info",
    "markdown_table",
    "rounded",
    "rounded_values",
    "staleness_kinds",
]

#: Decimals of a number whose name is not in the table.
DEFAULT_PRECISION = 2

Kind = Literal["number", "binary", "text"]
#: The kinds of staleness a reading implies (``[staleness]`` in the settings), with the
#: seconds without news after which a device counts as stale by default. A device that
#: measures several kinds gets the most lenient window; ``button`` is for devices with
#: buttons, ``default`` for devices that measure none of the kinds.
DEFAULT_STALENESS: Mapping[str, float] = {
    "climate": 3600.0,
    "motion": 7200.0,
    "contact": 7200.0,
    "leak": 7200.0,
    "smoke": 7200.0,
    "button": 7 * 86400.0,
    "default": 3600.0,
}
STALENESS_KINDS: tuple[str, ...] = tuple(DEFAULT_STALENESS)


@dataclass(frozen=True, slots=True)
class Level:
    """A characteristic that grades a number: ``first`` up to ``thresholds[0]``, one more
    above each threshold (HomeKit's AirQuality 1-5 from a density, CarbonDioxideDetected
    0-1 from a CO2 level); ``initial`` before the first reading (0: unknown, normal)."""

    characteristic: str
    thresholds: tuple[float, ...]
    first: int
    initial: int = 0

    def of(self, value: float) -> int:
        """The grade of ``value`` (a value equal to a threshold takes the lower grade)."""
        return self.first + bisect_left(self.thresholds, value)


@dataclass(frozen=True, slots=True)
class HomeKitSensor:
    """The HomeKit sensor service that shows a reading.

    ``name`` is the service's Name; ``initial`` its value before the first reading (its
    type is the characteristic's: ``bool``, ``int`` for the 0/1 alert states, ``float``);
    ``minimum``/``maximum`` clamp numbers to what the characteristic accepts;
    ``properties`` are set on the characteristic (a ``minStep`` agrees with the
    reading's precision). ``level``: the service's required characteristic grades the
    number, which is then one of its optional characteristics. ``appended``: the service
    comes after the battery, buttons and controls, where it cannot move the instance ids
    of services that accessories paired before it existed already have.
    """

    service: str
    characteristic: str
    name: str
    initial: Value
    minimum: float | None = None
    maximum: float | None = None
    properties: Mapping[str, float] | None = None
    level: Level | None = None
    appended: bool = False


@dataclass(frozen=True, slots=True)
class HomeAssistant:
    """The Home Assistant entity of a reading (``binary_sensor`` for binary readings,
    ``sensor`` for the others); ``state_class`` is for numbers only."""

    device_class: str | None = None
    state_class: str | None = "measurement"
    diagnostic: bool = False


@dataclass(frozen=True, slots=True)
class ReadingInfo:
    """Everything the outputs need to know about one reading name.

    ``precision``: decimals of a number (0 gives an ``int``). ``on``/``off``: the words
    for a binary reading's True and False. ``alert``: HomeKit sends its changes at once,
    never held back by event coalescing. ``control``: the state of something the device
    switches (a plug's relay, a light); shown only for devices that declare it, so a remote
    whose "on" button sets ``power`` does not show a switch.
    """

    name: str
    label: str
    kind: Kind = "number"
    unit: str | None = None
    precision: int = DEFAULT_PRECISION
    on: str = "yes"
    off: str = "no"
    alert: bool = False
    control: bool = False
    homekit: HomeKitSensor | None = None
    home_assistant: HomeAssistant | None = None
    tasmota: str | None = None
    staleness: str = "default"
    #: HomeKit, Home Assistant (``<p>/<id>/set``) and the dashboard may switch it on and
    #: off (a switch channel, a light), where the device can be controlled.
    switchable: bool = False
    #: The physically possible range of a number (inclusive): a value outside it comes
    #: from a broken or hostile sender (see :func:`in_physical_range`); None: any.
    limits: tuple[float, float] | None = None

    @property
    def binary(self) -> bool:
        return self.kind == "binary"

    def round(self, value: Value) -> Value:
        """``value`` rounded to this reading's precision (numbers only; an ``int`` for 0)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        if isinstance(value, int) or not math.isfinite(value):
            return value
        if self.precision <= 0:
            return int(round(value, self.precision))
        return round(value, self.precision)

    def text(self, value: Value) -> str:
        """The value in words with its unit: ``21.5 °C``, ``open``, ``press``."""
        if isinstance(value, bool):
            return self.on if value else self.off
        if isinstance(value, int | float) and math.isfinite(value):
            number = f"{value:.{max(0, self.precision)}f}"
            return f"{number} {self.unit}" if self.unit else number
        return str(value)


def _number(
    name: str,
    label: str,
    unit: str | None,
    precision: int,
    *,
    ha: HomeAssistant | None = None,
    homekit: HomeKitSensor | None = None,
    tasmota: str | None = None,
    staleness: str = "default",
    control: bool = False,
    limits: tuple[float, float] | None = None,
) -> ReadingInfo:
    return ReadingInfo(
        name,
        label,
        "number",
        unit,
        precision,
        home_assistant=ha,
        homekit=homekit,
        tasmota=tasmota,
        staleness=staleness,
        control=control,
        limits=limits,
    )


def _binary(
    name: str,
    label: str,
    on: str = "yes",
    off: str = "no",
    *,
    ha: str | None = None,
    diagnostic: bool = False,
    homekit: HomeKitSensor | None = None,
    alert: bool = False,
    tasmota: str | None = None,
    staleness: str = "default",
    control: bool = False,
    switchable: bool = False,
) -> ReadingInfo:
    entity = HomeAssistant(ha, None, diagnostic) if ha is not None or diagnostic else None
    return ReadingInfo(
        name,
        label,
        "binary",
        on=on,
        off=off,
        alert=alert,
        control=control,
        switchable=switchable,
        homekit=homekit,
        home_assistant=entity,
        tasmota=tasmota,
        staleness=staleness,
    )


def _text(name: str, label: str, *, control: bool = False) -> ReadingInfo:
    return ReadingInfo(name, label, "text", control=control)


def _ha(device_class: str | None, state_class: str | None = "measurement") -> HomeAssistant:
    return HomeAssistant(device_class, state_class)


def _diagnostic(device_class: str | None) -> HomeAssistant:
    return HomeAssistant(device_class, "measurement", diagnostic=True)


def _alert(service: str, characteristic: str, name: str, initial: Value) -> HomeKitSensor:
    return HomeKitSensor(service, characteristic, name, initial)


def _graded(
    service: str, characteristic: str, name: str, maximum: float, level: Level
) -> HomeKitSensor:
    """A number shown with a grade of it, after the other services (see HomeKitSensor)."""
    return HomeKitSensor(
        service, characteristic, name, 0.0, 0.0, maximum, level=level, appended=True
    )


def _particles(name: str, label: str, ha: str, characteristic: str, level: Level) -> ReadingInfo:
    """A density in µg/m³, shown by an AirQualitySensor with its grade."""
    return _number(
        name,
        label,
        "µg/m³",
        0,
        ha=_ha(ha),
        homekit=_graded("AirQualitySensor", characteristic, label, 1000.0, level),
        staleness="climate",
    )


def _air(excellent: float, good: float, fair: float, inferior: float) -> Level:
    """HomeKit's AirQuality: 1 excellent up to ``excellent`` ... 5 poor above ``inferior``."""
    return Level("AirQuality", (excellent, good, fair, inferior), 1)


#: Every reading, in order: the HomeKit sensors first, in the order their services are
#: added to an accessory (never reorder them: that keeps every accessory's iids), then
#: Tasmota MI32's fields in its order, then the rest.
_TABLE: tuple[ReadingInfo, ...] = (
    # -- shown by a HomeKit sensor (this order keeps the iids) ----------------------------
    _number(
        "temperature",
        "Temperature",
        "°C",
        1,
        ha=_ha("temperature"),
        homekit=HomeKitSensor(
            "TemperatureSensor",
            "CurrentTemperature",
            "Temperature",
            20.0,
            -40.0,
            100.0,
            {"minValue": -40.0, "maxValue": 100.0, "minStep": 0.1},
        ),
        tasmota="Temperature",
        staleness="climate",
        limits=(-80.0, 150.0),
    ),
    _number(
        "humidity",
        "Humidity",
        "%",
        1,
        ha=_ha("humidity"),
        homekit=HomeKitSensor(
            "HumiditySensor",
            "CurrentRelativeHumidity",
            "Humidity",
            50.0,
            0.0,
            100.0,
            {"minStep": 0.1},
        ),
        tasmota="Humidity",
        staleness="climate",
        limits=(0.0, 100.0),
    ),
    _number(
        "moisture",
        "Moisture",
        "%",
        0,
        ha=_ha("moisture"),
        homekit=HomeKitSensor(
            "HumiditySensor",
            "CurrentRelativeHumidity",
            "Moisture",
            0.0,
            0.0,
            100.0,
            {"minStep": 1},
        ),
        tasmota="Moisture",
        staleness="climate",
        limits=(0.0, 100.0),
    ),
    _number(
        "illuminance",
        "Illuminance",
        "lx",
        0,
        ha=_ha("illuminance"),
        homekit=HomeKitSensor(
            "LightSensor", "CurrentAmbientLightLevel", "Light", 0.0001, 0.0001, 100000.0
        ),
        tasmota="Illuminance",
        staleness="climate",
        limits=(0.0, 200_000.0),
    ),
    _binary(
        "motion",
        "Motion",
        "detected",
        "clear",
        ha="motion",
        homekit=_alert("MotionSensor", "MotionDetected", "Motion", False),
        alert=True,
        tasmota="Motion",
        staleness="motion",
    ),
    _binary(
        "opening",
        "Contact",
        "open",
        "closed",
        ha="door",
        homekit=_alert("ContactSensor", "ContactSensorState", "Contact", 0),
        alert=True,
        tasmota="Door",
        staleness="contact",
    ),
    _binary(
        "leak",
        "Leak",
        "water!",
        "dry",
        ha="moisture",
        homekit=_alert("LeakSensor", "LeakDetected", "Leak", 0),
        alert=True,
        staleness="leak",
    ),
    _binary(
        "smoke",
        "Smoke",
        "SMOKE!",
        "clear",
        ha="smoke",
        homekit=_alert("SmokeSensor", "SmokeDetected", "Smoke", 0),
        alert=True,
        staleness="smoke",
    ),
    _binary(
        "gas",
        "Gas",
        "GAS!",
        "clear",
        ha="gas",
        homekit=_alert("SmokeSensor", "SmokeDetected", "Gas", 0),
        alert=True,
        staleness="smoke",
    ),
    _binary(
        "occupancy",
        "Occupancy",
        "occupied",
        "empty",
        ha="occupancy",
        homekit=_alert("OccupancySensor", "OccupancyDetected", "Occupancy", 0),
        alert=True,
        staleness="motion",
    ),
    _binary(
        "presence",
        "Presence",
        "home",
        "away",
        ha="presence",
        homekit=_alert("OccupancySensor", "OccupancyDetected", "Presence", 0),
        alert=True,
    ),
    _binary(
        "carbon_monoxide",
        "Carbon monoxide",
        "CO!",
        "clear",
        ha="carbon_monoxide",
        homekit=_alert("CarbonMonoxideSensor", "CarbonMonoxideDetected", "Carbon Monoxide", 0),
        alert=True,
        staleness="smoke",
    ),
    _binary(
        "vibration",
        "Vibration",
        "vibrating",
        "still",
        ha="vibration",
        homekit=_alert("MotionSensor", "MotionDetected", "Vibration", False),
        alert=True,
        staleness="motion",
    ),
    # -- shown in HomeKit since 0.3, after the other services (appended) -----------------
    _number(
        "co2",
        "CO2",
        "ppm",
        0,
        ha=_ha("carbon_dioxide"),
        homekit=_graded(
            "CarbonDioxideSensor",
            "CarbonDioxideLevel",
            "Carbon Dioxide",
            100_000.0,
            # Above 1,000 ppm a room needs airing: HomeKit's "abnormal".
            Level("CarbonDioxideDetected", (1000.0,), 0),
        ),
        staleness="climate",
        limits=(0.0, 100_000.0),
    ),
    _particles("pm25", "PM2.5", "pm25", "PM2.5Density", _air(15, 35, 55, 75)),
    _particles("pm10", "PM10", "pm10", "PM10Density", _air(25, 50, 100, 300)),
    # The German Environment Agency's TVOC levels.
    _particles(
        "tvoc", "TVOC", "volatile_organic_compounds", "VOCDensity", _air(300, 1000, 3000, 10_000)
    ),
    # -- more of Tasmota MI32's fields --------------------------------------------------
    _number(
        "conductivity",
        "Conductivity",
        "µS/cm",
        0,
        ha=_ha("conductivity"),
        tasmota="Fertility",
        staleness="climate",
        limits=(0.0, 100_000.0),
    ),
    _number(
        "no_motion_seconds",
        "No motion for",
        "s",
        0,
        ha=_ha("duration"),
        tasmota="NMT",
        staleness="motion",
        limits=(0.0, 1e8),
    ),
    _number(
        "battery",
        "Battery",
        "%",
        0,
        ha=_diagnostic("battery"),
        tasmota="Battery",
        limits=(0.0, 100.0),
    ),
    _number(
        "rssi",
        "RSSI",
        "dBm",
        0,
        ha=_diagnostic("signal_strength"),
        tasmota="RSSI",
        limits=(-127.0, 20.0),
    ),
    # -- climate and air ------------------------------------------------------------------
    _number(
        "pressure",
        "Pressure",
        "hPa",
        1,
        ha=_ha("atmospheric_pressure"),
        staleness="climate",
        limits=(100.0, 2000.0),
    ),
    _number(
        "formaldehyde",
        "Formaldehyde",
        "mg/m³",
        3,
        ha=_ha(None),
        staleness="climate",
        limits=(0.0, 100.0),
    ),
    _number("dew_point", "Dew point", "°C", 1, ha=_ha("temperature"), staleness="climate"),
    _number("uv_index", "UV index", None, 1, ha=_ha(None), staleness="climate"),
    _number("precipitation", "Precipitation", "mm", 1, ha=_ha("precipitation")),
    _binary("light", "Light", "bright", "dark", ha="light", staleness="climate"),
    # -- power, battery, radio ------------------------------------------------------------
    _number("voltage", "Voltage", "V", 3, ha=_diagnostic("voltage"), limits=(0.0, 1000.0)),
    _binary("low_battery", "Low battery", ha="battery", diagnostic=True),
    _binary("battery_charging", "Charging", ha="battery_charging"),
    _text("charging_state", "Charging"),
    _number("load_power", "Power", "W", 1, ha=_ha("power"), limits=(-100_000.0, 100_000.0)),
    _number("energy", "Energy", "kWh", 3, ha=_ha("energy", "total_increasing"), limits=(-1e9, 1e9)),
    _number("power_consumed", "Power consumed", None, 2),
    _number("current", "Current", "A", 3, ha=_ha("current"), limits=(-1000.0, 1000.0)),
    _number(
        "device_temperature",
        "Device temperature",
        "°C",
        1,
        ha=_diagnostic("temperature"),
        limits=(-80.0, 200.0),
    ),
    _number("linkquality", "Link quality", "lqi", 0, ha=_diagnostic(None), limits=(0.0, 255.0)),
    # -- what HomeKit switches ------------------------------------------------------------
    _binary("power", "Switch", "on", "off", control=True, switchable=True),
    _binary("in_use", "In use", ha="power", control=True),
    _binary("light_on", "Light", "on", "off", control=True, switchable=True),
    _number("brightness", "Brightness", "%", 0, control=True, limits=(0.0, 100.0)),
    _number("color_temp", "Colour temperature", "mired", 0, control=True),
    _number("hue", "Hue", "°", 0, control=True, limits=(0.0, 360.0)),
    _number("saturation", "Saturation", "%", 0, control=True, limits=(0.0, 100.0)),
    _number("position", "Position", "%", 0, control=True, limits=(0.0, 100.0)),
    _text("cover_motion", "Moving", control=True),
    # -- presence ([[presence]]) ----------------------------------------------------------
    ReadingInfo("room", "Room", "text", home_assistant=HomeAssistant(None, None)),
    # -- more binary sensors --------------------------------------------------------------
    _binary("tamper", "Tamper", "tampered!", "ok", ha="tamper", diagnostic=True),
    _binary("cold", "Cold", ha="cold"),
    _binary("heat", "Heat", ha="heat"),
    _binary("connectivity", "Connected", ha="connectivity"),
    _binary("moving", "Moving", ha="moving"),
    _binary("plug", "Plugged in", ha="plug"),
    _binary("problem", "Problem", ha="problem"),
    _binary("running", "Running", ha="running"),
    _binary("safety", "Unsafe", ha="safety"),
    _binary("sound", "Sound", "heard", "quiet", ha="sound"),
    _binary("binary", "State", "on", "off"),
    _binary("reed_switch", "Reed switch"),
    _binary("trigger_output", "Trigger output"),
    _binary("smoke_fault", "Smoke sensor fault"),
    _binary("top_splash", "Top splash", "water!", "dry"),
    _binary("occupancy_close_range", "Close range occupancy", "occupied", "empty"),
    # -- doors and locks ------------------------------------------------------------------
    _number("no_close_seconds", "Open for", "s", 0),
    _binary("door_left_open", "Door left open"),
    _binary("door_stuck", "Door stuck"),
    _binary("knock_on_the_door", "Knock on the door"),
    _binary("pry_the_door", "Door pried"),
    _binary("device_forcibly_removed", "Forcibly removed"),
    _binary("locked", "Lock", "locked", "unlocked"),
    _binary("armed", "Armed"),
    _binary("antilock", "Anti-lock", "on", "off"),
    _binary("child_lock", "Child lock", "on", "off"),
    _binary("fingerprint", "Fingerprint", "match", "no match"),
    _text("fingerprint_result", "Fingerprint result"),
    _text("key_id", "Key"),
    _text("lock_action", "Lock action"),
    _text("lock_method", "Lock method"),
    _text("lock_error", "Lock error"),
    # -- body, sleep, care ----------------------------------------------------------------
    _number("mass", "Weight", "kg", 2, ha=_ha("weight"), limits=(0.0, 1000.0)),
    _number("mass_lb", "Weight", "lb", 2, ha=_ha("weight")),
    _number("mass_non_stabilized", "Weight (settling)", "kg", 2),
    _number("impedance", "Impedance", "Ω", 1),
    _number("impedance_high", "Impedance (high frequency)", "Ω", 1),
    _number("impedance_low", "Impedance (low frequency)", "Ω", 1),
    _number("heart_rate", "Heart rate", "bpm", 0),
    _number("profile_id", "Profile", None, 0),
    _binary("stabilized", "Stable weight"),
    _binary("asleep", "Asleep"),
    _binary("snoring", "Snoring"),
    _binary("wearing", "Worn"),
    _binary("toothbrush", "Brushing"),
    _number("toothbrush_counter", "Brushing time", "s", 0),
    _number("score", "Score", None, 0),
    _number("consumable", "Consumable left", "%", 0),
    _number("pressure_present_duration", "Pressure present for", "s", 0),
    _number("pressure_not_present_duration", "Pressure absent for", "s", 0),
    _number("duration_detected", "Detected for", None, 0),
    _number("duration_cleared", "Clear for", None, 0),
    _number("tilt_angle", "Tilt angle", "°", 0),
    _number("bed_activity", "Bed activity", None, 0),
    _number("smoke_density", "Smoke density", None, 0),
    _number("gas_density", "Gas density", None, 0),
    # -- BTHome's other measurements ------------------------------------------------------
    _number("count", "Count", None, 0),
    _number("rotation", "Rotation", "°", 1),
    _number("distance_mm", "Distance", "mm", 0, ha=_ha("distance")),
    _number("distance_m", "Distance", "m", 1, ha=_ha("distance")),
    _number("duration", "Duration", "s", 3, ha=_ha("duration")),
    _number("speed", "Speed", "m/s", 2, ha=_ha("speed")),
    _number("volume", "Volume", "L", 3, ha=_ha("volume", "total")),
    _number("volume_ml", "Volume", "mL", 0, ha=_ha("volume", "total")),
    _number("volume_flow_rate", "Flow rate", "m³/h", 3, ha=_ha("volume_flow_rate")),
    _number("volume_storage", "Stored volume", "L", 3, ha=_ha("volume_storage")),
    _number("gas_volume", "Gas", "m³", 3, ha=_ha("gas", "total_increasing")),
    _number("water", "Water", "L", 3, ha=_ha("water", "total_increasing")),
    _number("acceleration", "Acceleration", "m/s²", 3),
    _number("gyroscope", "Gyroscope", "°/s", 3),
    _number("direction", "Direction", "°", 2),
    _number("channel", "Channel", None, 0),
    _number("rotational_speed", "Rotational speed", "rpm", 0),
    _number("light_level", "Light level", None, 0),
    _number("timestamp", "Timestamp", "s", 0),
    _number("settings_revision", "Settings revision", None, 0),
    _number("device_type_id", "Device type", None, 0),
    _number("packet_id", "Packet id", None, 0),
    _text("firmware", "Firmware"),
    _text("text", "Text"),
    _text("raw", "Raw data"),
)

#: Every reading by name, in table order.
READINGS: Mapping[str, ReadingInfo] = {entry.name: entry for entry in _TABLE}
#: The readings HomeKit shows as sensors, in the order their services are added.
HOMEKIT_SENSORS: tuple[ReadingInfo, ...] = tuple(e for e in _TABLE if e.homekit is not None)

_NUMBERED = re.compile(r"^(?P<base>[a-z][a-z0-9_]*?)_(?P<n>[2-9]|[1-9][0-9])$")


def _numbered(name: str) -> ReadingInfo | None:
    match = _NUMBERED.match(name)
    base = READINGS.get(match["base"]) if match else None
    if match is None or base is None:
        return None
    return replace(
        base,
        name=name,
        label=f"{base.label} {match['n']}",
        homekit=None,
        home_assistant=None,
        tasmota=None,
    )


def _unknown(name: str) -> ReadingInfo:
    return ReadingInfo(name, name.replace("_", " ").capitalize())


_CACHE: dict[str, ReadingInfo] = {}


def info(name: str) -> ReadingInfo:
    """The record of ``name``: its own, its base name's (``temperature_2``), or a plain one
    (label from the name, :data:`DEFAULT_PRECISION`, shown nowhere but the dashboard and
    MQTT) for a name not in the table."""
    found = READINGS.get(name) or _CACHE.get(name)
    if found is None:
        found = _numbered(name) or _unknown(name)
        if len(_CACHE) < 1024:  # names come from devices: keep the cache bounded
            _CACHE[name] = found
    return found


def in_physical_range(name: str, value: float) -> bool:
    """True if the number ``value`` of reading ``name`` can be real (its record's
    ``limits``; a reading without limits only has to be finite). Sources that read numbers
    from other systems (Zigbee2MQTT, MQTT receivers) drop (and count) the others."""
    if not math.isfinite(value):
        return False
    limits = info(name).limits
    return limits is None or limits[0] <= value <= limits[1]


def rounded(name: str, value: Value) -> Value:
    """``value`` of reading ``name`` rounded to its precision."""
    return info(name).round(value)


def rounded_values(values: Mapping[str, Value]) -> dict[str, Value]:
    """Every value rounded to its reading's precision (the order kept)."""
    return {name: info(name).round(value) for name, value in values.items()}


def staleness_kinds(measures: Collection[str]) -> set[str]:
    """The staleness kinds the readings ``measures`` imply (``default`` left out)."""
    kinds = {info(name).staleness for name in measures}
    kinds.discard("default")
    return kinds


def markdown_table() -> str:
    """``docs/readings.md``: the table of readings, for users."""
    lines = [
        "# Readings",
        "",
        "Every reading mihomekit knows, how it is shown and where it goes. Values are",
        "rounded to the decimals given here before they reach HomeKit, MQTT, the",
        "dashboard and Tasmota messages. A second sensor of the same kind on one device",
        "appears as `temperature_2` (labelled *Temperature 2*), in MQTT and on the",
        "dashboard only.",
        "",
        "*HomeKit* is the service and characteristic that show the reading; *Home",
        "Assistant* the entity MQTT discovery announces; *Tasmota* the field of the",
        "MI32-style `tele/<topic>/SENSOR` message; *Staleness* the `[staleness]`",
        "setting that says how long a device measuring it may stay silent before HomeKit",
        "shows it as not responding (the longest of the device's readings counts).",
        "",
        "This page is generated from `mihomekit/vocabulary.py`",
        "(`python -m mihomekit.vocabulary > docs/readings.md`).",
        "",
        "| Reading | Label | Unit (or states) | Decimals | HomeKit | Home Assistant "
        "| Tasmota | Staleness |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in _TABLE:
        if entry.kind == "number":
            unit, decimals = entry.unit or "", str(entry.precision)
        elif entry.kind == "binary":
            unit, decimals = f"{entry.on} / {entry.off}", ""
        else:
            unit, decimals = "text", ""
        homekit = f"{entry.homekit.service}.{entry.homekit.characteristic}" if entry.homekit else ""
        if entry.homekit is not None and entry.homekit.level is not None:
            homekit += f" (+ {entry.homekit.level.characteristic})"
        ha = ""
        if entry.home_assistant is not None:
            platform = "binary_sensor" if entry.binary else "sensor"
            ha = f"{platform} ({entry.home_assistant.device_class or 'no class'})"
        elif entry.switchable:
            ha = "switch"
        cells = [
            f"`{entry.name}`",
            entry.label,
            unit,
            decimals,
            homekit,
            ha,
            entry.tasmota or "",
            entry.staleness if entry.staleness != "default" else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - writes docs/readings.md
    print(markdown_table(), end="")
