"""Writable HomeKit services for devices whose features vary (Zigbee2MQTT lights, covers,
multi-channel switches): built from the device model's ``controls`` and ``measures``.

Each builder returns the characteristics by reading name; a write from a controller
becomes one command of readings (``{"brightness": 40}``) for the device's source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pyhap.characteristic import Characteristic

from mihomekit.catalog import DeviceModel
from mihomekit.readings import Value

#: ``switch_<n>`` controls and their readings (``power_<n>``); ``switch`` is channel 1.
_SWITCH_N = re.compile(r"^switch_(\d+)$")
#: Lightbulb characteristic → reading.
LIGHT_CHARS = {
    "On": "light_on",
    "Brightness": "brightness",
    "ColorTemperature": "color_temp",
    "Hue": "hue",
    "Saturation": "saturation",
}
#: HomeKit's colour temperature range (mired).
MIRED_MIN, MIRED_MAX = 140, 500
#: WindowCovering PositionState: stopped.
POSITION_STOPPED = 2

Command = Callable[[Mapping[str, Value]], None]


def switch_channel(control: str) -> int | None:
    """``"switch_3"`` → 3; ``"switch"`` → 1; None for other controls."""
    if control == "switch":
        return 1
    match = _SWITCH_N.match(control)
    return int(match.group(1)) if match else None


def channel_reading(channel: int) -> str:
    """Channel 1 → ``power``, channel n → ``power_<n>``."""
    return "power" if channel == 1 else f"power_{channel}"


def is_on_off(reading: str) -> bool:
    """Readings shown as a boolean ``On`` (channels, lights, outlet in use)."""
    return reading in ("power", "light_on", "in_use") or bool(re.fullmatch(r"power_\d+", reading))


def add_lightbulb(
    accessory: Any, model: DeviceModel, command: Command
) -> dict[str, Characteristic]:
    """A Lightbulb with the characteristics the light has (brightness, colour temperature,
    hue/saturation), writing only what the controller changed."""
    measures = model.measures
    optional = [
        name for name, reading in LIGHT_CHARS.items() if name != "On" and reading in measures
    ]
    service = accessory.add_preload_service("Lightbulb", chars=optional)
    chars: dict[str, Characteristic] = {"light_on": service.configure_char("On", value=False)}
    if "brightness" in measures:
        chars["brightness"] = service.configure_char("Brightness", value=100)
    if "color_temp" in measures:
        chars["color_temp"] = service.configure_char(
            "ColorTemperature",
            value=370,
            properties={"minValue": MIRED_MIN, "maxValue": MIRED_MAX},
        )
    if "hue" in measures:
        chars["hue"] = service.configure_char("Hue", value=0)
        chars["saturation"] = service.configure_char("Saturation", value=0)

    def setter(values: Mapping[str, Any]) -> None:
        out: dict[str, Value] = {}
        for name, value in values.items():
            reading = LIGHT_CHARS.get(name)
            if reading is None:
                continue
            out[reading] = bool(value) if reading == "light_on" else value
        if ("hue" in out) != ("saturation" in out) and "hue" in chars:
            other = "saturation" if "hue" in out else "hue"
            out[other] = chars[other].value
        if out:
            command(out)

    service.setter_callback = setter
    return chars


def add_cover(accessory: Any, command: Command) -> dict[str, Characteristic]:
    """A WindowCovering: the position the device reports, the target HomeKit sets."""
    service = accessory.add_preload_service("WindowCovering")
    current = service.configure_char("CurrentPosition", value=0)
    service.configure_char("PositionState", value=POSITION_STOPPED)

    def setter(value: Any) -> None:
        command({"position": int(value)})

    target = service.configure_char("TargetPosition", value=0, setter_callback=setter)
    return {"position": current, "target_position": target}


def add_channel(
    accessory: Any, channel: int, command: Command, *, labelled: bool = True
) -> Characteristic:
    """One Switch for relay channel ``channel`` (named ``Channel <n>``)."""
    reading = channel_reading(channel)
    service = accessory.add_preload_service("Switch", chars=["Name"] if labelled else None)
    if labelled:
        service.configure_char("Name", value=f"Channel {channel}")

    def setter(value: Any) -> None:
        command({reading: bool(value)})

    char: Characteristic = service.configure_char("On", value=False, setter_callback=setter)
    return char
