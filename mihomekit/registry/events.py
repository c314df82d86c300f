"""What the registry tells its listeners: the one stream of news about devices.

Everything that shows devices (HomeKit accessories, MQTT out, the Mi Dashboard, the saved
state, the counters) learns about them here and nowhere else: nothing polls.

* :class:`Update`: an accepted reading (values and events) of one device;
* :class:`DeviceAdded` / :class:`DeviceRemoved`: the set of devices changed;
* :class:`DeviceChanged`: something about a device other than its readings changed
  (``name``, ``key_status``, ``reachable`` when a source says it can or cannot reach it,
  ``model`` when a device's capabilities became known or grew: it reported a reading
  its model did not list, told before the :class:`Update` that carries it).

A device's own listeners (:meth:`~mihomekit.registry.Device.subscribe`) get its
:class:`Update` and :class:`DeviceChanged` events; the registry's listeners
(:meth:`~mihomekit.registry.Registry.subscribe`) get every event of every device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mihomekit.readings import Event, Value

if TYPE_CHECKING:
    from .device import Device

__all__ = [
    "Change",
    "DeviceAdded",
    "DeviceChanged",
    "DeviceEvent",
    "DeviceListener",
    "DeviceRemoved",
    "RegistryEvent",
    "RegistryListener",
    "Update",
]


@dataclass(frozen=True, slots=True)
class Update:
    """One accepted reading of one device (``heartbeat``: a refresh that fires no events)."""

    device: Device
    values: Mapping[str, Value]
    events: tuple[Event, ...] = ()
    heartbeat: bool = False


@dataclass(frozen=True, slots=True)
class DeviceAdded:
    """A device became known (from the mi32cfg, a source, the dashboard, the saved state)."""

    device: Device


@dataclass(frozen=True, slots=True)
class DeviceRemoved:
    """A device was removed (its listeners are dropped right after this event)."""

    device: Device


Change = Literal["name", "key_status", "reachable", "model"]


@dataclass(frozen=True, slots=True)
class DeviceChanged:
    """Something about a device other than its readings changed: ``what`` says which."""

    device: Device
    what: Change


DeviceEvent = Update | DeviceChanged
RegistryEvent = Update | DeviceAdded | DeviceRemoved | DeviceChanged
DeviceListener = Callable[[DeviceEvent], None]
RegistryListener = Callable[[RegistryEvent], None]
