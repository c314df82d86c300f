"""One bridged HomeKit accessory per device, composed from what the device measures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyhap.accessory import Accessory
from pyhap.const import CATEGORY_SENSOR

from mihomekit import __version__
from mihomekit.catalog import DeviceModel
from mihomekit.homekit.hap_python import HapCharacteristic, HapDriver, HapService
from mihomekit.learning import (
    BATTERY_READINGS,
    PRESS_EVENTS,
    button_count,
    gestures,
    learned_button,
    shown_readings,
)
from mihomekit.readings import Event, Value
from mihomekit.registry import Device, DeviceEvent, Update
from mihomekit.vocabulary import (
    DEFAULT_STALENESS,
    HOMEKIT_SENSORS,
    Level,
    ReadingInfo,
    info,
    staleness_kinds,
)

from .controls import CoverControl, add_channel, add_lightbulb, is_on_off, switch_channel
from .services import SENSOR_BY_READING, SWITCH_EVENT_VALUES, to_hap

_LOGGER = logging.getLogger(__name__)

CommandSender = Callable[[str, Mapping[str, Value]], Awaitable[None]]

#: Zigbee battery devices send a heartbeat only about once an hour (mains ones every 10
#: minutes), so through a gateway nothing is stale before 2.5 heartbeats (150 min).
ZIGBEE_MIN_STALENESS = 9000.0
#: A motion "detected" is shown at least this long, even if the device says "clear" sooner.
MIN_MOTION_HOLD = 2.0
STALENESS_CHECK_INTERVAL = 30.0
#: Readings a cover's WindowCovering shows.
_COVER_READINGS = ("position", "cover_motion")


@dataclass(frozen=True, slots=True)
class AccessoryOptions:
    """HomeKit-side behaviour that the settings file controls."""

    battery_low_threshold: int = 20
    motion_timeout: float = 30.0
    staleness: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STALENESS))
    firmware: str = __version__


def staleness_window(model: DeviceModel, options: AccessoryOptions) -> float:
    """The most lenient window among the kinds of thing the device measures (what its
    model lists and what it learned)."""
    kinds = staleness_kinds(shown_readings(model))
    if button_count(model) or gestures(model):
        kinds.add("button")
    windows = [options.staleness.get(k, options.staleness.get("default", 3600.0)) for k in kinds]
    return max(windows) if windows else options.staleness.get("default", 3600.0)


class DeviceAccessory(Accessory):  # type: ignore[misc]
    """A device shown in HomeKit: sensors, battery, buttons and controls.

    The services of the model's catalog entry come first, in a fixed order, then those of
    what the model learned (:mod:`mihomekit.learning`), in the order learned; :meth:`learn`
    adds the ones learned later in the same way. HAP-python numbers services and
    characteristics in the order they are added, so every instance id stays what it was,
    whether the accessory grew while running or was built with everything at a start.
    """

    category = CATEGORY_SENSOR
    driver: HapDriver

    def __init__(
        self,
        driver: HapDriver,
        device: Device,
        *,
        aid: int,
        options: AccessoryOptions,
        send_command: CommandSender | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert device.model is not None
        super().__init__(driver, device.name, aid=aid)
        self.device = device
        self.model: DeviceModel = device.model
        self.options = options
        self._send_command = send_command
        self._clock = clock
        self._window = self._staleness_window()
        self._sensor_chars: dict[str, tuple[ReadingInfo, HapCharacteristic]] = {}
        #: The characteristic that grades a reading (AirQuality, CarbonDioxideDetected).
        self._level_chars: dict[str, tuple[Level, HapCharacteristic]] = {}
        #: The reading each sensor characteristic shows (the same reading again: no work).
        self._sensor_values: dict[str, Value] = {}
        self._active_chars: list[HapCharacteristic] = []
        self._battery: tuple[HapCharacteristic, HapCharacteristic] | None = None
        self._switch_chars: dict[tuple[int, str], HapCharacteristic] = {}
        self._control_chars: dict[str, HapCharacteristic] = {}
        self._cover: CoverControl | None = None
        self._motion_since: float | None = None
        self._motion_timer: asyncio.TimerHandle | None = None
        self._active = True
        #: How many of the model's learned capabilities have their services here.
        self._learned = 0
        self._button_label = False
        self.set_info_service(
            firmware_revision=options.firmware,
            manufacturer=self.model.vendor or ("Aqara" if device.source == "zigbee" else "Xiaomi"),
            model=self.model.model,
            serial_number=_serial(device),
        )
        self._add_sensors()
        self._add_battery()
        self._add_buttons()
        self._add_controls()
        self._add_sensors(appended=True)
        self._add_learned()
        self._restore(device.values)
        self.refresh_active()
        device.subscribe(self._on_event)

    # -- building ------------------------------------------------------------------------

    def _add_sensors(self, *, appended: bool = False) -> None:
        """The sensors the model lists; ``appended``: those whose services come after the
        battery, buttons and controls (:attr:`HomeKitSensor.appended`)."""
        measures = self.model.measures
        for reading in HOMEKIT_SENSORS:
            if reading.name in measures and _appended(reading) == appended:
                self._add_sensor(reading)

    def _add_sensor(self, reading: ReadingInfo) -> None:
        sensor = reading.homekit
        if sensor is None or reading.name in self._sensor_chars:
            return
        chars = ["Name", "StatusActive"]
        if sensor.level is not None:  # the number is one of the service's optional chars
            chars.append(sensor.characteristic)
        service: HapService = self.add_preload_service(sensor.service, chars=chars)
        service.configure_char("Name", value=sensor.name)
        properties = dict(sensor.properties) if sensor.properties else None
        char = service.configure_char(
            sensor.characteristic, value=sensor.initial, properties=properties
        )
        if sensor.level is not None:
            level = service.configure_char(sensor.level.characteristic, value=sensor.level.initial)
            self._level_chars[reading.name] = (sensor.level, level)
        self._active_chars.append(service.configure_char("StatusActive", value=self._active))
        self._sensor_chars[reading.name] = (reading, char)

    def _add_battery(self) -> None:
        if BATTERY_READINGS.isdisjoint(self.model.measures):
            return
        self._add_battery_service()

    def _add_battery_service(self) -> None:
        if self._battery is not None:
            return
        service: HapService = self.add_preload_service("BatteryService")
        level = service.configure_char("BatteryLevel", value=100)
        low = service.configure_char("StatusLowBattery", value=0)
        service.configure_char("ChargingState", value=2)  # not chargeable
        self._battery = (level, low)

    def _add_buttons(self) -> None:
        presses = [e for e in PRESS_EVENTS if e in self.model.button_events]
        own_gestures = gestures(self.model)
        count = self.model.buttons if presses else 0
        total = count + len(own_gestures)
        if total == 0:
            return
        if total > 1:
            label: HapService = self.add_preload_service("ServiceLabel")
            label.configure_char("ServiceLabelNamespace", value=1)  # arabic numerals
        valid = {name.replace("_", " ").title(): SWITCH_EVENT_VALUES[name] for name in presses}
        index = 0
        for button in range(1, count + 1):
            index += 1
            self._switch_chars[(button, "*")] = self._add_switch(
                f"Button {button}", index, valid, total > 1
            )
        for gesture in own_gestures:
            index += 1
            self._switch_chars[(0, gesture)] = self._add_switch(
                gesture.replace("_", " ").title(), index, {"Press": 0}, total > 1
            )

    def _add_switch(
        self, name: str, index: int, valid: dict[str, int], labelled: bool
    ) -> HapCharacteristic:
        chars = ["Name", "ServiceLabelIndex"] if labelled else ["Name"]
        service: HapService = self.add_preload_service("StatelessProgrammableSwitch", chars=chars)
        service.configure_char("Name", value=name)
        if labelled:
            service.configure_char("ServiceLabelIndex", value=index)
        return service.configure_char("ProgrammableSwitchEvent", properties={"ValidValues": valid})

    def _add_learned(self) -> bool:
        """Add the services of what the model learned since the last call, in order;
        True if any was added."""
        learned = self.model.learned
        before = len(self.services)
        for name in learned[self._learned :]:
            button = learned_button(name)
            if button is not None:
                self._add_learned_button(button)
            elif name in BATTERY_READINGS:
                self._add_battery_service()
            elif name in SENSOR_BY_READING:
                self._add_sensor(SENSOR_BY_READING[name])
        self._learned = len(learned)
        return len(self.services) > before

    def _add_learned_button(self, button: int) -> None:
        """A programmable switch for a button heard sending presses, labelled by number."""
        if (button, "*") in self._switch_chars:
            return
        if not self._button_label:
            label: HapService = self.add_preload_service("ServiceLabel")
            label.configure_char("ServiceLabelNamespace", value=1)  # arabic numerals
            self._button_label = True
        valid = {name.replace("_", " ").title(): SWITCH_EVENT_VALUES[name] for name in PRESS_EVENTS}
        self._switch_chars[(button, "*")] = self._add_switch(
            f"Button {button}", button, valid, True
        )

    def learn(self) -> bool:
        """Show what the device's model learned since this accessory was built (new
        services after the others); True if a service was added (the bridge's
        configuration changed)."""
        model = self.device.model
        if model is None or model is self.model:
            return False
        self.model = model
        self._window = self._staleness_window()
        return self._add_learned()

    def _staleness_window(self) -> float:
        window = staleness_window(self.model, self.options)
        if self.device.source == "zigbee":
            window = max(window, ZIGBEE_MIN_STALENESS)
        return window

    def _add_controls(self) -> None:
        service: HapService
        for control in self.model.controls:
            if control == "outlet":
                service = self.add_preload_service("Outlet")
                self._control_chars["power"] = service.configure_char(
                    "On", value=False, setter_callback=self._setter("power")
                )
                self._control_chars["in_use"] = service.configure_char("OutletInUse", value=False)
            elif (channel := switch_channel(control)) is not None:
                reading = "power" if channel == 1 else f"power_{channel}"
                self._control_chars[reading] = add_channel(self, channel, self._command)
            elif control == "lightbulb":
                self._control_chars.update(add_lightbulb(self, self.model, self._command))
            elif control == "cover":
                self._cover = CoverControl(self, self._command)
            elif control == "light":
                service = self.add_preload_service(
                    "Lightbulb", chars=["Brightness", "Hue", "Saturation"]
                )
                self._control_chars["light_on"] = service.configure_char("On", value=False)
                self._control_chars["brightness"] = service.configure_char("Brightness", value=100)
                self._control_chars["hue"] = service.configure_char("Hue", value=0)
                self._control_chars["saturation"] = service.configure_char("Saturation", value=0)
                service.setter_callback = self._light_setter

    # -- updates -------------------------------------------------------------------------

    def _restore(self, values: Mapping[str, Value]) -> None:
        """Show persisted values at start, silently (nobody is connected yet)."""
        for reading, value in values.items():
            self._apply_value(reading, value, notify=False)
        if self._cover is not None:
            self._cover.restore(values)

    def _on_event(self, event: DeviceEvent) -> None:
        """The device's news: readings, a new name, a change of reachability."""
        if isinstance(event, Update):
            self._on_update(event)
        elif event.what == "name":
            self._show_name(self.device.name)
        elif event.what == "reachable":
            self.refresh_active()

    def _show_name(self, name: str) -> None:
        self.display_name = name
        information: HapService | None = self.get_service("AccessoryInformation")
        if information is not None:
            information.get_characteristic("Name").set_value(name)

    def _on_update(self, update: Update) -> None:
        for reading, value in update.values.items():
            self._apply_value(reading, value, notify=True)
        if self._cover is not None and any(r in update.values for r in _COVER_READINGS):
            self._cover.apply(update.values)
        for event in update.events:
            self._fire(event)
        if not self._active:
            self.refresh_active()

    def _apply_value(self, reading: str, value: Value, *, notify: bool) -> None:
        entry = self._sensor_chars.get(reading)
        if entry is not None:
            spec, char = entry
            if reading == "motion":
                self._motion(bool(value), notify)
                return
            shown = self._sensor_values
            if reading in shown and shown[reading] == value:
                return
            shown[reading] = value
            _set(char, to_hap(spec, value), notify=notify, immediate=spec.alert, spec=spec)
            graded = self._level_chars.get(reading)
            if graded is not None and isinstance(value, int | float):
                _set(graded[1], graded[0].of(value), notify=notify)
            return
        if reading == "battery" and self._battery is not None:
            level, low = self._battery
            pct = max(0, min(100, round(float(value))))
            _set(level, pct, notify=notify)
            _set(low, 1 if pct < self.options.battery_low_threshold else 0, notify=notify)
        elif reading == "low_battery" and self._battery is not None:
            _set(self._battery[1], 1 if value else 0, notify=notify)
        elif reading == "no_motion_seconds" and "motion" in self._sensor_chars:
            if isinstance(value, (int, float)) and value > self.options.motion_timeout:
                self._motion(False, notify)
        elif reading in self._control_chars:
            char = self._control_chars[reading]
            if is_on_off(reading):
                _set(char, bool(value), notify=notify)
            else:
                spec = info(reading)
                _set(char, spec.round(value), notify=notify, spec=spec)

    def _motion(self, detected: bool, notify: bool) -> None:
        char = self._sensor_chars["motion"][1]
        now = self._clock()
        if detected:
            self._motion_since = now
            _set(char, True, notify=notify, immediate=True)
            self._schedule_motion_clear(self.options.motion_timeout)
            return
        if self._motion_since is None:
            _set(char, False, notify=notify, immediate=True)
            return
        held = now - self._motion_since
        hold = min(MIN_MOTION_HOLD, self.options.motion_timeout)
        if held < hold:
            self._schedule_motion_clear(hold - held)
        else:
            self._clear_motion()

    def _schedule_motion_clear(self, delay: float) -> None:
        if self._motion_timer is not None:
            self._motion_timer.cancel()
        loop = self.driver.loop
        self._motion_timer = loop.call_later(delay, self._clear_motion)

    def _clear_motion(self) -> None:
        if self._motion_timer is not None:
            self._motion_timer.cancel()
            self._motion_timer = None
        self._motion_since = None
        _set(self._sensor_chars["motion"][1], False, notify=True, immediate=True)

    def _fire(self, event: Event) -> None:
        if event.event in SWITCH_EVENT_VALUES:
            char = self._switch_chars.get((event.button, "*"))
            value = SWITCH_EVENT_VALUES[event.event]
        else:
            char = self._switch_chars.get((0, event.event))
            value = 0
        if char is None or value not in char.properties["ValidValues"].values():
            # A press type the switch does not declare would confuse controllers (HAP-python
            # does not check ValidValues on this characteristic), so it is dropped.
            _LOGGER.debug("%s: event %s has no switch", self.device.id, event)
            return
        char.set_value(value)  # ProgrammableSwitchEvent is always sent at once

    # -- liveness ------------------------------------------------------------------------

    @property
    def stale(self) -> bool:
        if self.device.liveness is not None:
            return not self.device.liveness()
        seen = self.device.last_seen
        return seen is None or self._clock() - seen > self._window

    def refresh_active(self) -> None:
        """Show StatusActive false on every sensor once the device is stale.

        The bridge calls this every :data:`STALENESS_CHECK_INTERVAL` seconds for all its
        accessories (one timer, not one per accessory).
        """
        active = not self.stale
        if active != self._active:
            self._active = active
            for char in self._active_chars:
                char.set_value(active)

    async def stop(self) -> None:
        if self._cover is not None:
            self._cover.halt()
        if self._motion_timer is not None:
            self._motion_timer.cancel()
            self._motion_timer = None

    # -- controls ------------------------------------------------------------------------

    def _setter(self, reading: str) -> Callable[[Any], None]:
        def setter(value: Any) -> None:
            self._command({reading: bool(value)})

        return setter

    def _light_setter(self, values: Mapping[str, Any]) -> None:
        command: dict[str, Value] = {}
        names = {
            "On": "light_on",
            "Brightness": "brightness",
            "Hue": "hue",
            "Saturation": "saturation",
        }
        for char_name, value in values.items():
            reading = names.get(char_name)
            if reading is not None:
                command[reading] = bool(value) if reading == "light_on" else value
        if command:
            for reading in ("light_on", "brightness", "hue", "saturation"):
                command.setdefault(reading, self._control_chars[reading].value)
            self._command(command)

    def _command(self, values: Mapping[str, Value]) -> None:
        if self._send_command is None:
            _LOGGER.warning("%s: no way to send %s", self.device.name, dict(values))
            return
        sent = asyncio.ensure_future(
            self._send_command(self.device.id, values), loop=self.driver.loop
        )
        sent.add_done_callback(self._command_done)

    def _command_done(self, task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return
        err = task.exception()
        if err is not None:
            _LOGGER.warning("%s: command failed: %s", self.device.name, err)
            # Show the device's real state again.
            if self._cover is not None:
                self._cover.halt()
            for reading, char in self._control_chars.items():
                if reading in self.device.values:
                    _set(char, self.device.values[reading], notify=True)


def _set(
    char: HapCharacteristic,
    value: Any,
    *,
    notify: bool,
    immediate: bool = False,
    spec: ReadingInfo | None = None,
) -> None:
    """Set a characteristic; alert states go out at once instead of being coalesced.

    A value that is unchanged once converted and rounded sets nothing and sends nothing.
    With ``spec``, a number is rounded to the reading's precision once more after
    HAP-python's ``minStep`` rounding (``569 * 0.1`` is ``56.900000000000006``), so a
    controller reads ``56.9``.
    """
    value = char.to_valid_value(value)
    if spec is not None and isinstance(value, float):
        value = spec.round(value)
    if value == char.value:
        return
    char.valid_value_or_raise(value)
    char.value = value
    if not notify or char.broker is None:
        return
    if immediate:
        char.broker.publish(value, char, None, True)
    else:
        char.notify()


def _appended(reading: ReadingInfo) -> bool:
    return reading.homekit is not None and reading.homekit.appended


def _serial(device: Device) -> str:
    if device.source == "ble" and len(device.id) == 12:
        return ":".join(device.id[i : i + 2] for i in range(0, 12, 2))
    return device.id
