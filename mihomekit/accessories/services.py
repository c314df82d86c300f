"""Which HomeKit service shows which reading: the vocabulary's HomeKit column, and the
services a model gets."""

from __future__ import annotations

from typing import Any

from mihomekit.catalog import DeviceModel
from mihomekit.learning import BATTERY_READINGS, PRESS_EVENTS, learned_readings, shown_readings
from mihomekit.readings import Value
from mihomekit.vocabulary import HOMEKIT_SENSORS, ReadingInfo, info

#: reading → its record, for the readings HomeKit shows as sensors (in service order).
SENSOR_BY_READING: dict[str, ReadingInfo] = {r.name: r for r in HOMEKIT_SENSORS}

#: ProgrammableSwitchEvent values.
SWITCH_EVENT_VALUES = {"press": 0, "double_press": 1, "long_press": 2}


def to_hap(reading: ReadingInfo, value: Value) -> Any:
    """A reading's value as its sensor characteristic takes it: 0/1 or a bool for alert
    states (``opening`` True is 1, contact not detected), a number clamped to the
    characteristic's range and rounded to the reading's precision."""
    sensor = reading.homekit
    assert sensor is not None
    if reading.binary:
        return bool(value) if isinstance(sensor.initial, bool) else (1 if value else 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    number = float(value)
    if sensor.minimum is not None:
        number = max(sensor.minimum, number)
    if sensor.maximum is not None:
        number = min(sensor.maximum, number)
    return reading.round(number)


#: Control → the HomeKit service it gets (other controls: a Switch per channel).
CONTROL_SERVICES = {
    "outlet": "Outlet",
    "lightbulb": "Lightbulb",
    "light": "Lightbulb",
    "cover": "WindowCovering",
}


def homekit_services(model: DeviceModel) -> list[str]:
    """The HomeKit services a device of ``model`` gets (what it lists and what it learned),
    in words (for ``z2m list``)."""
    measures = shown_readings(model)
    sensors = [
        sensor
        for r in sorted(measures)
        if r in SENSOR_BY_READING and (sensor := SENSOR_BY_READING[r].homekit) is not None
    ]
    services = [sensor.service for sensor in sensors if not sensor.appended]
    if measures & BATTERY_READINGS:
        services.append("BatteryService")
    for control in model.controls:
        services.append(CONTROL_SERVICES.get(control, "Switch"))
    if model.buttons or model.button_events:
        presses = [e for e in model.button_events if e in PRESS_EVENTS]
        count = (model.buttons if presses else 0) + len(model.button_events) - len(presses)
        count += len(model.learned) - len(learned_readings(model))
        if count:
            services.append(f"StatelessProgrammableSwitch x{count}")
    services.extend(sensor.service for sensor in sensors if sensor.appended)
    return services


def not_shown(model: DeviceModel) -> list[str]:
    """Readings kept and published over MQTT but not shown in HomeKit."""
    return sorted(
        r
        for r in model.measures
        if r not in SENSOR_BY_READING and r not in BATTERY_READINGS and not info(r).control
    )
