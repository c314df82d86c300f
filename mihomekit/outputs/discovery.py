"""Home Assistant MQTT discovery, device-based format (pure builders; data tables).

One retained message per device on ``<discovery_prefix>/device/mihomekit_<id>/config``
with ``device``, ``origin`` and ``components`` (``cmps``). Every component reads the
device's retained JSON state on ``<topic_prefix>/<id>``; availability is the bridge's
``<topic_prefix>/status`` (its MQTT last will). Buttons are ``event`` entities fed by
``<topic_prefix>/<id>/button_<n>``; switch channels are ``switch`` entities commanded
through ``<topic_prefix>/<id>/set``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mihomekit import __version__
from mihomekit.catalog import DeviceModel

ORIGIN = {"name": "mihomekit", "sw_version": __version__}


@dataclass(frozen=True, slots=True)
class Entity:
    """How one reading appears in Home Assistant."""

    platform: str
    name: str
    device_class: str | None = None
    unit: str | None = None
    diagnostic: bool = False
    #: ``measurement`` for sensors unless given (``total_increasing`` for energy).
    state_class: str | None = "measurement"


#: reading → entity (units are those of :mod:`mihomekit.readings`)
ENTITIES: dict[str, Entity] = {
    "temperature": Entity("sensor", "Temperature", "temperature", "°C"),
    "humidity": Entity("sensor", "Humidity", "humidity", "%"),
    "pressure": Entity("sensor", "Pressure", "atmospheric_pressure", "hPa"),
    "illuminance": Entity("sensor", "Illuminance", "illuminance", "lx"),
    "moisture": Entity("sensor", "Moisture", "moisture", "%"),
    "conductivity": Entity("sensor", "Conductivity", "conductivity", "µS/cm"),
    "formaldehyde": Entity("sensor", "Formaldehyde", None, "mg/m³"),
    "co2": Entity("sensor", "CO2", "carbon_dioxide", "ppm"),
    "load_power": Entity("sensor", "Power", "power", "W"),
    "energy": Entity("sensor", "Energy", "energy", "kWh", state_class="total_increasing"),
    "current": Entity("sensor", "Current", "current", "A"),
    "no_motion_seconds": Entity("sensor", "No motion for", "duration", "s"),
    "battery": Entity("sensor", "Battery", "battery", "%", diagnostic=True),
    "voltage": Entity("sensor", "Voltage", "voltage", "V", diagnostic=True),
    "device_temperature": Entity(
        "sensor", "Device temperature", "temperature", "°C", diagnostic=True
    ),
    "rssi": Entity("sensor", "RSSI", "signal_strength", "dBm", diagnostic=True),
    "linkquality": Entity("sensor", "Link quality", None, "lqi", diagnostic=True),
    "opening": Entity("binary_sensor", "Door", "door", state_class=None),
    "motion": Entity("binary_sensor", "Motion", "motion", state_class=None),
    "occupancy": Entity("binary_sensor", "Occupancy", "occupancy", state_class=None),
    "presence": Entity("binary_sensor", "Presence", "presence", state_class=None),
    "room": Entity("sensor", "Room", state_class=None),
    "light": Entity("binary_sensor", "Light", "light", state_class=None),
    "leak": Entity("binary_sensor", "Leak", "moisture", state_class=None),
    "smoke": Entity("binary_sensor", "Smoke", "smoke", state_class=None),
    "gas": Entity("binary_sensor", "Gas", "gas", state_class=None),
    "carbon_monoxide": Entity(
        "binary_sensor", "Carbon monoxide", "carbon_monoxide", state_class=None
    ),
    "vibration": Entity("binary_sensor", "Vibration", "vibration", state_class=None),
    "tamper": Entity("binary_sensor", "Tamper", "tamper", diagnostic=True, state_class=None),
    "in_use": Entity("binary_sensor", "In use", "power", state_class=None),
    "low_battery": Entity(
        "binary_sensor", "Battery low", "battery", diagnostic=True, state_class=None
    ),
}

#: Readings Home Assistant can switch (through ``<topic_prefix>/<id>/set``).
SWITCHABLE = re.compile(r"^(power(_\d+)?|light_on)$")


def object_id(device_id: str) -> str:
    """A discovery id (``[a-zA-Z0-9_-]``): ``mihomekit_<device id>``."""
    return "mihomekit_" + re.sub(r"[^a-zA-Z0-9_-]", "_", device_id)


def discovery_topic(discovery_prefix: str, device_id: str) -> str:
    return f"{discovery_prefix}/device/{object_id(device_id)}/config"


def _device_block(device_id: str, name: str, model: DeviceModel, source: str) -> dict[str, Any]:
    block: dict[str, Any] = {
        "identifiers": [object_id(device_id)],
        "name": name,
        "manufacturer": model.vendor or ("Aqara" if source == "zigbee" else "Xiaomi"),
        "model": model.model,
    }
    if source == "ble" and len(device_id) == 12:
        mac = ":".join(device_id[i : i + 2] for i in range(0, 12, 2)).lower()
        block["connections"] = [["mac", mac]]
    elif source in ("zigbee", "zigbee2mqtt"):
        block["connections"] = [["zigbee", device_id]]
    return block


def device_config(
    device_id: str,
    name: str,
    model: DeviceModel,
    source: str,
    *,
    topic_prefix: str,
    readings: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The device discovery payload. ``readings``: names heard besides the model's."""
    oid = object_id(device_id)
    base = f"{topic_prefix}/{device_id}"
    components: dict[str, dict[str, Any]] = {}
    for reading in sorted(model.measures | readings):
        if SWITCHABLE.match(reading) and _switchable(model, reading):
            components[f"{oid}_{reading}"] = {
                "platform": "switch",
                "unique_id": f"{oid}_{reading}",
                "name": _switch_name(reading),
                "command_topic": f"{base}/set",
                "payload_on": f'{{"{reading}": true}}',
                "payload_off": f'{{"{reading}": false}}',
                "value_template": f"{{{{ 'ON' if value_json.{reading} else 'OFF' }}}}",
                "state_on": "ON",
                "state_off": "OFF",
            }
            continue
        entity = ENTITIES.get(reading)
        if entity is None:
            continue
        component: dict[str, Any] = {
            "platform": entity.platform,
            "unique_id": f"{oid}_{reading}",
            "name": entity.name,
        }
        if entity.device_class:
            component["device_class"] = entity.device_class
        if entity.platform == "sensor":
            component["value_template"] = f"{{{{ value_json.{reading} }}}}"
            if entity.unit:
                component["unit_of_measurement"] = entity.unit
            if entity.state_class:
                component["state_class"] = entity.state_class
        else:
            component["value_template"] = f"{{{{ 'ON' if value_json.{reading} else 'OFF' }}}}"
        if entity.diagnostic:
            component["entity_category"] = "diagnostic"
        components[f"{oid}_{reading}"] = component
    if model.button_events:
        for button in range(1, max(1, model.buttons) + 1):
            uid = f"{oid}_button_{button}"
            components[uid] = {
                "platform": "event",
                "unique_id": uid,
                "name": f"Button {button}" if model.buttons > 1 else "Button",
                "device_class": "button",
                "state_topic": f"{base}/button_{button}",
                "event_types": list(model.button_events),
            }
    return {
        "device": _device_block(device_id, name, model, source),
        "origin": dict(ORIGIN),
        "state_topic": base,
        "availability_topic": f"{topic_prefix}/status",
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 0,
        "components": components,
    }


def _switchable(model: DeviceModel, reading: str) -> bool:
    if reading == "light_on":
        return "light" in model.controls or "lightbulb" in model.controls
    if reading == "power":
        return "outlet" in model.controls or "switch" in model.controls
    return f"switch_{reading.rpartition('_')[2]}" in model.controls


def _switch_name(reading: str) -> str:
    if reading == "light_on":
        return "Light"
    if reading == "power":
        return "Switch"
    return f"Switch {reading.rpartition('_')[2]}"
