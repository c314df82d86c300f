"""Keeping what the registry knows across restarts, in bridge 1's ``bridge.json``.

:class:`SavedDevices` follows the registry: every device's last values (a change is
written at most :data:`PERSIST_DELAY` seconds later, changes within that time share one
write, everything is written at stop), the devices of other sources (Zigbee sensors, with
what their source asked to keep), the names the owner gave them, and what each device's
model learned from what it reported (written soon after it learned). At the next start it
puts them back before any source speaks, so HomeKit sees every device from the first
second, with its services, last values and name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from .catalog import DeviceModel
from .errors import StateWriteError
from .readings import Value
from .registry import Device, DeviceAdded, DeviceChanged, DeviceRemoved, Registry, RegistryEvent
from .registry import Update as _Update
from .state import BridgeState, restorable

__all__ = ["PERSIST_DELAY", "SEEN_REFRESH", "STOP_SEEN_SLACK", "SavedDevices"]

_LOGGER = logging.getLogger(__name__)

#: A changed value is written to the state file at most this many seconds after the
#: change; changes within that time share one write. Everything is written at stop.
PERSIST_DELAY = 10.0
#: A device heard without any change gets its saved last-seen time refreshed this often.
SEEN_REFRESH = 1800.0
#: At stop, last-seen times that moved by more than this many seconds are saved.
STOP_SEEN_SLACK = 1.0

#: Sources whose devices come back from the settings at every start (``[[relays]]``,
#: ``[[presence]]``): only the owner's names for them are kept here.
FROM_SETTINGS = frozenset({"gpio", "presence"})

#: ``model(saved entry)``: the model of a device of another source, from its saved entry.
ModelRestorer = Callable[[Mapping[str, Any]], DeviceModel | None]


class SavedDevices:
    """The registry's devices, values and names, kept in ``state`` (bridge 1's)."""

    def __init__(
        self,
        state: BridgeState,
        registry: Registry,
        *,
        persist_delay: float = PERSIST_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.registry = registry
        self.persist_delay = persist_delay
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._values_due: asyncio.TimerHandle | None = None
        self._devices_due: asyncio.Handle | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # -- at start ------------------------------------------------------------------------

    def restore_devices(self, model_of: ModelRestorer) -> None:
        """Put back the devices of other sources, the owner's names for them and what every
        device's model learned (for the model it has now)."""
        for device_id, info in self.state.known_devices.items():
            if self.registry.get(device_id) is not None:
                continue
            model = model_of(info)
            if model is None:
                continue
            name = info.get("name")
            extra = {k: v for k, v in info.items() if k not in ("source", "model", "name")}
            self.registry.add_device(
                device_id,
                model,
                str(name) if name else None,
                source=str(info.get("source", "zigbee")),
                saved=extra or None,
            )
        for device_id, name in self.state.names.items():
            if self.registry.get(device_id) is not None:
                self.registry.rename(device_id, name)
        for device_id, entry in self.state.learned.items():
            device = self.registry.get(device_id)
            if device is not None and device.model and device.model.model == entry["model"]:
                self.registry.learned_before(device_id, entry["learned"])

    def restore_values(self) -> None:
        """Put back every device's last values, aged by the time since they were heard."""
        now = time.time()
        for device_id, entry in restorable(self.state.last_values.items()).items():
            seen = entry.get("seen")
            age = now - seen if isinstance(seen, int | float) else None
            self.registry.restore(device_id, entry["values"], age)

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the registry from now on (what was learned before, from restored values
        too, is kept at once)."""
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.registry.subscribe(self._on_event)
        for device in self.registry.devices():
            self._remember_learned(device)

    def stop(self) -> None:
        """Stop following; write what changed since the last write."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for handle in (self._values_due, self._devices_due):
            if handle is not None:
                handle.cancel()
        self._values_due = self._devices_due = None
        self._loop = None
        self.save_values(seen_slack=STOP_SEEN_SLACK)

    def _on_event(self, event: RegistryEvent) -> None:
        if isinstance(event, _Update):
            self._on_update(event)
        elif isinstance(event, DeviceAdded):
            self._remember(event.device)
        elif isinstance(event, DeviceChanged):
            if event.what in ("name", "model"):
                self._remember(event.device)
            if event.what == "model":
                self._remember_learned(event.device)
        elif isinstance(event, DeviceRemoved):
            self.state.forget(event.device.id)
            self._save_soon()

    def _on_update(self, update: _Update) -> None:
        """A changed value schedules one coalesced write."""
        if self._values_due is not None or self._loop is None:
            return  # a write is already due (or not running)
        saved = self.state.last_values.get(update.device.id)
        if saved is None or _news(saved, update.values):
            self._values_due = self._loop.call_later(self.persist_delay, self._flush)

    def _remember(self, device: Device) -> None:
        """Keep a device of another source (and the owner's name for it) for the next start."""
        if device.source == "ble" or device.model is None:
            return  # BLE devices and their names live in the mi32cfg
        changed = False
        entry = {
            "source": device.source,
            "model": device.model.model,
            "name": device.source_name,
            **(device.saved or {}),
        }
        if device.source not in FROM_SETTINGS and self.state.known_devices.get(device.id) != entry:
            self.state.known_devices[device.id] = entry
            changed = True
        if device.owner_named:
            changed |= self.state.names.get(device.id) != device.name
            self.state.names[device.id] = device.name
        elif self.state.names.pop(device.id, None) is not None:
            changed = True
        if changed:
            self._save_soon()

    def _remember_learned(self, device: Device) -> None:
        """Keep what a device's model learned (one write soon, for a batch of changes)."""
        model = device.model
        if model is None or not model.learned:
            return
        entry = {"model": model.model, "learned": list(model.learned)}
        if self.state.learned.get(device.id) != entry:
            self.state.learned[device.id] = entry
            self._save_soon()

    def _save_soon(self) -> None:
        """One write for a batch of device changes (a whole device list counts as one)."""
        if self._loop is None:
            return
        if self._devices_due is None:
            self._devices_due = self._loop.call_soon(self._save_devices)

    def _save_devices(self) -> None:
        self._devices_due = None
        try:
            self.state.save()
        except StateWriteError as err:
            _LOGGER.error("could not save the devices: %s", err)

    def _flush(self) -> None:
        self._values_due = None
        if not self.save_values(seen_slack=SEEN_REFRESH) and self._loop is not None:
            self._values_due = self._loop.call_later(self.persist_delay, self._flush)

    def save_values(self, *, seen_slack: float = STOP_SEEN_SLACK) -> bool:
        """Save every device's last values, if any changed (atomically).

        A last-seen time alone counts as a change when it moved by more than
        ``seen_slack`` seconds. Nothing is written when nothing changed. Returns False if
        the state could not be written (the error is logged; a later call retries).
        """
        now_mono = self._clock()
        now_wall = time.time()
        for device in self.registry.devices():
            if not device.values:
                continue
            seen = device.last_seen
            seen_wall = now_wall - (now_mono - seen) if seen is not None else None
            values = {k: v for k, v in device.values.items() if k != "rssi"}
            saved = self.state.last_values.get(device.id)
            if (
                saved is not None
                and saved.get("values") == values
                and not _moved(saved.get("seen"), seen_wall, seen_slack)
            ):
                continue
            self.state.remember_values(device.id, values, seen_wall)
        try:
            self.state.save()  # writes only if the content differs from the file's
        except StateWriteError as err:
            _LOGGER.error("could not save the last values: %s", err)
            return False
        return True


def _news(saved: Mapping[str, Any], values: Mapping[str, Value]) -> bool:
    """True if ``values`` differ from the ``saved`` entry, or its last-seen time is old."""
    old = saved.get("values", {})
    if any(name != "rssi" and old.get(name, _MISSING) != value for name, value in values.items()):
        return True
    seen = saved.get("seen")
    return not isinstance(seen, int | float) or time.time() - seen > SEEN_REFRESH


def _moved(old: Any, new: float | None, slack: float) -> bool:
    if new is None:
        return False
    return not isinstance(old, int | float) or abs(new - old) > slack


_MISSING = object()
