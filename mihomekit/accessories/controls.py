"""Writable HomeKit services for devices whose features vary (Zigbee2MQTT lights, covers,
multi-channel switches): built from the device model's ``controls`` and ``measures``.

Each builder returns the characteristics by reading name; a write from a controller
becomes one command of readings (``{"brightness": 40}``) for the device's source.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import Any

from mihomekit.catalog import DeviceModel
from mihomekit.homekit.hap_python import HapAccessory, HapCharacteristic
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
#: WindowCovering PositionState values.
POSITION_DECREASING, POSITION_INCREASING, POSITION_STOPPED = 0, 1, 2
#: A cover whose reported position has not changed for this many seconds has stopped.
COVER_QUIET_TIME = 10.0
#: A report of exactly the target this soon after the write, before any movement, is
#: Zigbee2MQTT's optimistic echo of the ``/set`` (its ``optimistic`` option, on by default).
ECHO_WINDOW = 3.0

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
    accessory: HapAccessory, model: DeviceModel, command: Command
) -> dict[str, HapCharacteristic]:
    """A Lightbulb with the characteristics the light has (brightness, colour temperature,
    hue/saturation), writing only what the controller changed."""
    measures = model.measures
    optional = [
        name for name, reading in LIGHT_CHARS.items() if name != "On" and reading in measures
    ]
    service = accessory.add_preload_service("Lightbulb", chars=optional)
    chars: dict[str, HapCharacteristic] = {"light_on": service.configure_char("On", value=False)}
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


class CoverControl:
    """A WindowCovering that shows what the device reports.

    * CurrentPosition is the reported ``position``. Zigbee2MQTT answers a ``/set`` at once
      with the target as the new position (its optimistic state); that echo, a report of
      exactly the target before any movement and within :data:`ECHO_WINDOW` seconds of
      the write, is not shown as reached.
    * PositionState is increasing/decreasing while the reported position moves (toward
      the target) or the motor says it is opening/closing (``cover_motion``); stopped
      when the target is reached, the motor reports a stop, or nothing moved for
      ``quiet_time`` seconds (a stalled motor must not show "opening" forever).
    * Once stopped, TargetPosition is set to the position, so Home shows no movement.
    """

    def __init__(
        self, accessory: HapAccessory, command: Command, *, quiet_time: float | None = None
    ) -> None:
        self._accessory = accessory
        self._command = command
        self.quiet_time = COVER_QUIET_TIME if quiet_time is None else quiet_time
        service = accessory.add_preload_service("WindowCovering")
        self.current = service.configure_char("CurrentPosition", value=0)
        self.state = service.configure_char("PositionState", value=POSITION_STOPPED)
        self.target = service.configure_char(
            "TargetPosition", value=0, setter_callback=self._on_target
        )
        #: The target HomeKit set and is still being moved to, with when it was set.
        self._goal: int | None = None
        self._goal_at = 0.0
        self._moved = False
        self._timer: asyncio.TimerHandle | None = None

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return self._accessory.driver.loop

    def _on_target(self, value: Any) -> None:
        goal = max(0, min(100, int(value)))
        if goal != self.current.value:
            self._goal, self._goal_at, self._moved = goal, self._loop.time(), False
            self._arm()
        self._command({"position": goal})

    def restore(self, values: Mapping[str, Value]) -> None:
        """The persisted position, shown silently at start."""
        position = values.get("position")
        if isinstance(position, int | float) and not isinstance(position, bool):
            self.current.set_value(position, should_notify=False)
            self.target.set_value(position, should_notify=False)

    def apply(self, values: Mapping[str, Value]) -> None:
        """A report: ``position`` first, then ``cover_motion`` of the same message."""
        position = values.get("position")
        if isinstance(position, int | float) and not isinstance(position, bool):
            self._position(max(0, min(100, round(position))))
        motion = values.get("cover_motion")
        if motion in ("opening", "closing"):
            self._moved = True
            self._show(POSITION_INCREASING if motion == "opening" else POSITION_DECREASING)
            self._arm()
        elif motion == "stopped":
            self.halt()

    def _position(self, position: int) -> None:
        goal, before = self._goal, self.current.value
        echo = goal is not None and not self._moved and position == goal != before
        if echo and self._loop.time() - self._goal_at < ECHO_WINDOW:
            return  # Zigbee2MQTT's optimistic echo of the target, not a report
        if position == before:
            return
        self._moved = True
        self.current.set_value(position)
        if goal is not None and position == goal:
            self.halt()
            return
        toward = goal if goal is not None else (100 if position > before else 0)
        self._show(POSITION_INCREASING if toward > position else POSITION_DECREASING)
        if goal is None:
            self.target.set_value(position)
        self._arm()

    def halt(self) -> None:
        """Stopped where the device last reported it."""
        self._cancel()
        self._goal = None
        self._show(POSITION_STOPPED)
        if self.target.value != self.current.value:
            self.target.set_value(self.current.value)

    def _show(self, state: int) -> None:
        if self.state.value != state:
            self.state.set_value(state)

    def _arm(self) -> None:
        self._cancel()
        self._timer = self._loop.call_later(self.quiet_time, self.halt)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def add_channel(
    accessory: HapAccessory, channel: int, command: Command, *, labelled: bool = True
) -> HapCharacteristic:
    """One Switch for relay channel ``channel`` (named ``Channel <n>``)."""
    reading = channel_reading(channel)
    service = accessory.add_preload_service("Switch", chars=["Name"] if labelled else None)
    if labelled:
        service.configure_char("Name", value=f"Channel {channel}")

    def setter(value: Any) -> None:
        command({reading: bool(value)})

    char: HapCharacteristic = service.configure_char("On", value=False, setter_callback=setter)
    return char
