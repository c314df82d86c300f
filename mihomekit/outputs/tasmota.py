"""Tasmota MI32-compatible ``tele/<topic>/SENSOR`` messages (pure builder).

Dashboards made for Tasmota's MI32 driver read one JSON object per sensor, keyed
``<Type>-<last 3 MAC bytes, lowercase hex>`` (``"LYWSD03-52680f"``; other devices by
their name), inside ``{"Time": ..., <sensors>, "TempUnit": "C"}``. Fields, in MI32's order:
``Temperature``, ``Humidity``, ``DewPoint``, ``Illuminance``, ``Moisture``, ``Fertility``,
``Button<n>`` (1 single, 2 double, 3 hold), ``Motion``/``Events``, ``Door``/``Events``
(0 open, 1 closed), ``NMT``, ``Battery``, ``RSSI``, ``MAC``. Like MI32 with its default
``MI32Option0 1``, every message carries all the sensor's known values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mihomekit.catalog import DeviceModel
from mihomekit.readings import Event, Value
from mihomekit.vocabulary import READINGS, rounded

#: The readings MI32 messages carry (in the vocabulary's order; :data:`_ORDER` is MI32's).
TASMOTA_READINGS = tuple(r for r in READINGS.values() if r.tasmota is not None)
#: our press event → MI32's Button value
BUTTON_VALUES = {"press": 1, "double_press": 2, "long_press": 3}


def sensor_key(device_id: str, name: str, model: DeviceModel | None, source: str) -> str:
    """MI32's key: ``<Type>-<mac3>`` for a BLE sensor, else the device's name."""
    if source == "ble" and len(device_id) == 12 and model is not None:
        return f"{model.tasmota_name or model.model}-{device_id[-6:].lower()}"
    return name


def dew_point(temperature: float, humidity: float) -> float | None:
    """Magnus formula, as Tasmota's dew point (°C); None for humidity ≤ 0."""
    if humidity <= 0:
        return None
    gamma = math.log(humidity / 100.0) + 17.62 * temperature / (243.12 + temperature)
    return 243.12 * gamma / (17.62 - gamma)


def _number(values: Mapping[str, Value], name: str) -> float | None:
    value = values.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


#: MI32's field order (``Button<n>`` fields go where ``Button`` is; ``Events`` follows the
#: first of ``Motion`` and ``Door``).
_ORDER = (
    "Temperature",
    "Humidity",
    "DewPoint",
    "Illuminance",
    "Moisture",
    "Fertility",
    "Button",
    "Motion",
    "Door",
    "NMT",
    "Battery",
    "RSSI",
)


def sensor_object(
    device_id: str,
    values: Mapping[str, Value],
    events: Sequence[Event] = (),
    *,
    source: str,
    event_count: int = 0,
) -> dict[str, Any]:
    """One sensor's fields, in MI32's order, each rounded to its reading's precision.

    The keys are the vocabulary's Tasmota column; a binary reading is 1 or 0 (``Door``:
    0 open, 1 closed, as MI32).
    """
    fields: dict[str, Any] = {}
    for reading in TASMOTA_READINGS:
        key, value = reading.tasmota, values.get(reading.name)
        if key is None or value is None:
            continue
        if reading.binary:
            fields[key] = 1 if bool(value) != (key == "Door") else 0
        elif isinstance(value, int | float) and not isinstance(value, bool):
            fields[key] = reading.round(value)
    if not fields.get("Battery"):
        fields.pop("Battery", None)  # MI32 leaves out a battery level of 0 (not heard)
    temperature, humidity = _number(values, "temperature"), _number(values, "humidity")
    if temperature is not None and humidity is not None:
        dew = dew_point(temperature, humidity)
        if dew is not None:
            fields["DewPoint"] = rounded("dew_point", dew)
    out: dict[str, Any] = {}
    for key in _ORDER:
        if key == "Button":
            for event in events:
                if event.event in BUTTON_VALUES:
                    out[f"Button{max(0, event.button - 1)}"] = BUTTON_VALUES[event.event]
        elif key in fields:
            out[key] = fields[key]
            if key in ("Motion", "Door"):
                out.setdefault("Events", event_count)
    if source == "ble" and len(device_id) == 12:
        out["MAC"] = device_id.upper()
    return out


def sensor_message(time_text: str, sensors: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The whole ``SENSOR`` payload: ``Time`` first, ``TempUnit`` last."""
    return {"Time": time_text, **sensors, "TempUnit": "C"}
