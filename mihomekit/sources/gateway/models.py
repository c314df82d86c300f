"""Gateway model strings → :class:`~mihomekit.catalog.DeviceModel`.

Every model of the LAN protocol that the bridge shows is listed, under its v1 and v2
names. Each model belongs to a *family* (``magnet``, ``plug``, ...) that tells the codec
how to read its properties; see :mod:`mihomekit.sources.gateway.codec`.

Battery-powered subdevices are ``sleepy`` (they send a heartbeat about every 60 min);
mains-powered ones send one about every 10 min.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from mihomekit.catalog import DeviceModel
from mihomekit.readings import EventType

_LOGGER = logging.getLogger(__name__)

_CLICKS = (EventType.PRESS.value, EventType.DOUBLE_PRESS.value, EventType.LONG_PRESS.value)
_CUBE_EVENTS = tuple(
    e.value
    for e in (
        EventType.FLIP90,
        EventType.FLIP180,
        EventType.MOVE,
        EventType.TAP_TWICE,
        EventType.SHAKE,
        EventType.SWING,
        EventType.ALERT,
        EventType.FREE_FALL,
        EventType.ROTATE_LEFT,
        EventType.ROTATE_RIGHT,
    )
)
_VIBRATION_EVENTS = (EventType.VIBRATE.value, EventType.TILT.value, EventType.FREE_FALL.value)


@dataclass(frozen=True, slots=True)
class GatewayModel:
    """A model string, its family (how the codec reads it) and what it shows."""

    family: str
    device: DeviceModel


def _battery(*measures: str) -> frozenset[str]:
    return frozenset({*measures, "battery", "voltage"})


#: family → what its models show (``model`` is filled in per model string)
_FAMILIES: dict[str, DeviceModel] = {
    "gateway": DeviceModel(
        model="",
        name="Xiaomi Gateway",
        measures=frozenset({"illuminance", "light_on", "brightness", "hue", "saturation"}),
        controls=("light",),
    ),
    "magnet": DeviceModel(
        model="", name="Door/Window Sensor", measures=_battery("opening"), sleepy=True
    ),
    "motion": DeviceModel(model="", name="Motion Sensor", measures=_battery("motion"), sleepy=True),
    "motion_lux": DeviceModel(
        model="",
        name="Aqara Motion Sensor",
        measures=_battery("motion", "illuminance"),
        sleepy=True,
    ),
    "ht": DeviceModel(
        model="",
        name="Temperature/Humidity Sensor",
        measures=_battery("temperature", "humidity"),
        sleepy=True,
    ),
    "weather": DeviceModel(
        model="",
        name="Aqara Temperature/Humidity/Pressure Sensor",
        measures=_battery("temperature", "humidity", "pressure"),
        sleepy=True,
    ),
    "leak": DeviceModel(
        model="", name="Aqara Water Leak Sensor", measures=_battery("leak"), sleepy=True
    ),
    "switch": DeviceModel(
        model="",
        name="Wireless Switch",
        measures=_battery(),
        buttons=1,
        button_events=_CLICKS,
        sleepy=True,
    ),
    "switch_aq2": DeviceModel(
        model="",
        name="Aqara Wireless Mini Switch",
        measures=_battery(),
        buttons=1,
        button_events=_CLICKS[:2],
        sleepy=True,
    ),
    "switch_aq3": DeviceModel(
        model="",
        name="Aqara Wireless Mini Switch",
        measures=_battery(),
        buttons=1,
        button_events=(*_CLICKS, EventType.SHAKE.value),
        sleepy=True,
    ),
    "wall1": DeviceModel(
        model="",
        name="Aqara Wireless Wall Switch",
        measures=_battery(),
        buttons=1,
        button_events=_CLICKS,
        sleepy=True,
    ),
    # Button 3 is "both keys at once" (dual_channel).
    "wall2": DeviceModel(
        model="",
        name="Aqara Wireless Wall Switch (double)",
        measures=_battery(),
        buttons=3,
        button_events=_CLICKS,
        sleepy=True,
    ),
    "cube": DeviceModel(
        model="",
        name="Cube",
        measures=_battery(),
        buttons=1,
        button_events=_CUBE_EVENTS,
        sleepy=True,
    ),
    "vibration": DeviceModel(
        model="",
        name="Aqara Vibration Sensor",
        measures=_battery(),
        buttons=1,
        button_events=_VIBRATION_EVENTS,
        sleepy=True,
    ),
    "smoke": DeviceModel(model="", name="Smoke Detector", measures=_battery("smoke"), sleepy=True),
    "natgas": DeviceModel(model="", name="Natural Gas Detector", measures=frozenset({"gas"})),
    "plug": DeviceModel(
        model="",
        name="Smart Plug",
        measures=frozenset({"power", "in_use", "load_power"}),
        controls=("outlet",),
    ),
    "relay1": DeviceModel(
        model="",
        name="Aqara Wall Switch",
        measures=frozenset({"power"}),
        controls=("switch",),
    ),
    "relay2": DeviceModel(
        model="",
        name="Aqara Wall Switch (double)",
        measures=frozenset({"power", "power_2"}),
        controls=("switch", "switch_2"),
    ),
}

#: model string (as the gateway sends it, without ``lumi.``) → family
MODEL_FAMILIES: dict[str, str] = {
    "gateway": "gateway",
    "gateway.v3": "gateway",
    "gateway.aq1": "gateway",
    "acpartner.v3": "gateway",
    "magnet": "magnet",
    "sensor_magnet": "magnet",
    "sensor_magnet.aq2": "magnet",
    "motion": "motion",
    "sensor_motion": "motion",
    "sensor_motion.aq2": "motion_lux",
    "sensor_ht": "ht",
    "weather.v1": "weather",
    "weather": "weather",
    "sensor_wleak.aq1": "leak",
    "switch": "switch",
    "sensor_switch": "switch",
    "sensor_switch.aq2": "switch_aq2",
    "remote.b1acn01": "switch_aq2",
    "sensor_switch.aq3": "switch_aq3",
    "86sw1": "wall1",
    "sensor_86sw1": "wall1",
    "sensor_86sw1.aq1": "wall1",
    "remote.b186acn01": "wall1",
    "86sw2": "wall2",
    "sensor_86sw2": "wall2",
    "sensor_86sw2.aq1": "wall2",
    "remote.b286acn01": "wall2",
    "cube": "cube",
    "sensor_cube": "cube",
    "sensor_cube.aqgl01": "cube",
    "vibration": "vibration",
    "vibration.aq1": "vibration",
    "smoke": "smoke",
    "sensor_smoke": "smoke",
    "natgas": "natgas",
    "sensor_natgas": "natgas",
    "plug": "plug",
    "86plug": "plug",
    "ctrl_86plug": "plug",
    "ctrl_86plug.aq1": "plug",
    "ctrl_neutral1": "relay1",
    "ctrl_ln1": "relay1",
    "ctrl_ln1.aq1": "relay1",
    "ctrl_neutral2": "relay2",
    "ctrl_ln2": "relay2",
    "ctrl_ln2.aq1": "relay2",
}

#: Families of the gateways themselves.
GATEWAY_FAMILY = "gateway"


def _build() -> dict[str, GatewayModel]:
    table: dict[str, GatewayModel] = {}
    for model, family in MODEL_FAMILIES.items():
        device = replace(_FAMILIES[family], model=model)
        table[model] = GatewayModel(family=family, device=device)
    return table


MODELS: dict[str, GatewayModel] = _build()
_warned: set[str] = set()


def canonical(model: str) -> str:
    """The model string without a ``lumi.`` prefix, lower case."""
    model = model.strip().lower()
    return model[5:] if model.startswith("lumi.") else model


def lookup(model: object) -> GatewayModel | None:
    """The entry for ``model``, or None (an unknown model is logged once)."""
    if not isinstance(model, str):
        return None
    entry = MODELS.get(canonical(model))
    if entry is None and model not in _warned:
        _warned.add(model)
        _LOGGER.warning("unknown gateway device model %r: its devices are ignored", model)
    return entry


def device_model(model: object) -> DeviceModel | None:
    """The :class:`DeviceModel` for a gateway model string, or None if unknown."""
    entry = lookup(model)
    return entry.device if entry else None


#: Alias used when devices are restored from the bridge state.
model_for = device_model


def is_gateway_model(model: object) -> bool:
    """Whether ``model`` names a gateway (not a subdevice)."""
    return isinstance(model, str) and MODEL_FAMILIES.get(canonical(model)) == GATEWAY_FAMILY
