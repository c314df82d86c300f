"""Which HomeKit service shows which reading: data, not code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mihomekit.catalog import DeviceModel


@dataclass(frozen=True, slots=True)
class SensorService:
    """One reading shown as one HAP service/characteristic."""

    reading: str
    service: str
    characteristic: str
    name: str
    initial: Any
    properties: dict[str, Any] | None = None
    #: Alert sensors notify controllers at once (not held back by event coalescing).
    immediate: bool = False


#: In the order services are added to an accessory (keeps iids stable).
SENSOR_SERVICES: tuple[SensorService, ...] = (
    SensorService(
        "temperature",
        "TemperatureSensor",
        "CurrentTemperature",
        "Temperature",
        20.0,
        {"minValue": -40.0, "maxValue": 100.0, "minStep": 0.1},
    ),
    SensorService(
        "humidity",
        "HumiditySensor",
        "CurrentRelativeHumidity",
        "Humidity",
        50.0,
        {"minStep": 0.1},
    ),
    SensorService(
        "moisture",
        "HumiditySensor",
        "CurrentRelativeHumidity",
        "Moisture",
        0.0,
        {"minStep": 1},
    ),
    SensorService("illuminance", "LightSensor", "CurrentAmbientLightLevel", "Light", 0.0001),
    SensorService("motion", "MotionSensor", "MotionDetected", "Motion", False, immediate=True),
    SensorService("opening", "ContactSensor", "ContactSensorState", "Contact", 0, immediate=True),
    SensorService("leak", "LeakSensor", "LeakDetected", "Leak", 0, immediate=True),
    SensorService("smoke", "SmokeSensor", "SmokeDetected", "Smoke", 0, immediate=True),
    SensorService("gas", "SmokeSensor", "SmokeDetected", "Gas", 0, immediate=True),
    SensorService(
        "occupancy", "OccupancySensor", "OccupancyDetected", "Occupancy", 0, immediate=True
    ),
    SensorService(
        "presence", "OccupancySensor", "OccupancyDetected", "Presence", 0, immediate=True
    ),
    SensorService(
        "carbon_monoxide",
        "CarbonMonoxideSensor",
        "CarbonMonoxideDetected",
        "Carbon Monoxide",
        0,
        immediate=True,
    ),
    SensorService(
        "vibration", "MotionSensor", "MotionDetected", "Vibration", False, immediate=True
    ),
)

SENSOR_BY_READING = {s.reading: s for s in SENSOR_SERVICES}

#: ProgrammableSwitchEvent values.
SWITCH_EVENT_VALUES = {"press": 0, "double_press": 1, "long_press": 2}

#: Minimum illuminance HAP accepts.
MIN_LUX = 0.0001
MAX_LUX = 100000.0


def to_hap(reading: str, value: Any) -> Any:
    """Convert a reading value to the characteristic's value."""
    if reading == "opening":
        return 1 if value else 0  # 1 = CONTACT_NOT_DETECTED (open)
    if reading in ("leak", "smoke", "gas", "occupancy", "presence", "carbon_monoxide"):
        return 1 if value else 0
    if reading in ("motion", "vibration"):
        return bool(value)
    if reading == "illuminance":
        return min(MAX_LUX, max(MIN_LUX, float(value)))
    if reading in ("humidity", "moisture"):
        return min(100.0, max(0.0, float(value)))
    if reading == "temperature":
        return min(100.0, max(-40.0, float(value)))
    return value


#: Press events every button declares; other button events get a switch of their own.
PRESS_EVENTS = tuple(SWITCH_EVENT_VALUES)
#: Control → the HomeKit service it gets (other controls: a Switch per channel).
CONTROL_SERVICES = {"outlet": "Outlet", "lightbulb": "Lightbulb", "cover": "WindowCovering"}
#: Readings shown by a service other than a sensor's (battery, controls).
_SHOWN_ELSEWHERE = frozenset(
    {
        "battery",
        "low_battery",
        "power",
        "in_use",
        "light_on",
        "brightness",
        "color_temp",
        "hue",
        "saturation",
        "position",
        "cover_motion",
    }
)


def homekit_services(model: DeviceModel) -> list[str]:
    """The HomeKit services a device of ``model`` gets, in words (for ``z2m list``)."""
    measures = model.measures
    services = [SENSOR_BY_READING[r].service for r in sorted(measures) if r in SENSOR_BY_READING]
    if measures & {"battery", "low_battery"}:
        services.append("BatteryService")
    for control in model.controls:
        services.append(CONTROL_SERVICES.get(control, "Switch"))
    if model.buttons or model.button_events:
        presses = [e for e in model.button_events if e in PRESS_EVENTS]
        count = (model.buttons if presses else 0) + len(model.button_events) - len(presses)
        if count:
            services.append(f"StatelessProgrammableSwitch x{count}")
    return services


def not_shown(model: DeviceModel) -> list[str]:
    """Readings kept and published over MQTT but not shown in HomeKit."""
    shown = set(SENSOR_BY_READING) | _SHOWN_ELSEWHERE
    return sorted(r for r in model.measures if r not in shown and not re.fullmatch(r"power_\d+", r))
