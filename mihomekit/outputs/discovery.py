"""Home Assistant MQTT discovery, device-based format (pure builders).

Entity names, device classes, units and state classes are the reading vocabulary's
(:mod:`mihomekit.vocabulary`).

One retained message per device on ``<discovery_prefix>/device/mihomekit_<id>/config``
with ``device``, ``origin`` and ``components`` (``cmps``). Every component reads the
device's retained JSON state on ``<topic_prefix>/<id>``; availability is the bridge's
``<topic_prefix>/status`` (its MQTT last will). Buttons are ``event`` entities fed by
``<topic_prefix>/<id>/button_<n>``; switch channels are ``switch`` entities commanded
through ``<topic_prefix>/<id>/set``.
"""

from __future__ import annotations

import re
from typing import Any

from mihomekit import __version__
from mihomekit.catalog import DeviceModel
from mihomekit.learning import button_count, shown_readings
from mihomekit.vocabulary import info

ORIGIN = {"name": "mihomekit", "sw_version": __version__}


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
    """The device discovery payload. ``readings``: names heard besides the model's (what
    it lists and what it learned)."""
    oid = object_id(device_id)
    base = f"{topic_prefix}/{device_id}"
    components: dict[str, dict[str, Any]] = {}
    for reading in sorted(shown_readings(model) | readings):
        if info(reading).switchable and _switchable(model, reading):
            components[f"{oid}_{reading}"] = {
                "platform": "switch",
                "unique_id": f"{oid}_{reading}",
                "name": info(reading).label,
                "command_topic": f"{base}/set",
                "payload_on": f'{{"{reading}": true}}',
                "payload_off": f'{{"{reading}": false}}',
                "value_template": f"{{{{ 'ON' if value_json.{reading} else 'OFF' }}}}",
                "state_on": "ON",
                "state_off": "OFF",
            }
            continue
        spec = info(reading)
        entity = spec.home_assistant
        if entity is None:
            continue
        sensor = not spec.binary
        component: dict[str, Any] = {
            "platform": "sensor" if sensor else "binary_sensor",
            "unique_id": f"{oid}_{reading}",
            "name": spec.label,
        }
        if entity.device_class:
            component["device_class"] = entity.device_class
        if sensor:
            component["value_template"] = f"{{{{ value_json.{reading} }}}}"
            if spec.unit:
                component["unit_of_measurement"] = spec.unit
            if entity.state_class:
                component["state_class"] = entity.state_class
        else:
            component["value_template"] = f"{{{{ 'ON' if value_json.{reading} else 'OFF' }}}}"
        if entity.diagnostic:
            component["entity_category"] = "diagnostic"
        components[f"{oid}_{reading}"] = component
    if model.button_events:
        buttons = button_count(model)
        for button in range(1, max(1, buttons) + 1):
            uid = f"{oid}_button_{button}"
            components[uid] = {
                "platform": "event",
                "unique_id": uid,
                "name": f"Button {button}" if buttons > 1 else "Button",
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
