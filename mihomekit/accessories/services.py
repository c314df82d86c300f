"""Which HomeKit service shows which reading: data, not code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    if reading in ("leak", "smoke", "gas", "occupancy", "carbon_monoxide"):
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
