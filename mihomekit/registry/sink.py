"""The narrow side of the registry that sources write to.

A source never reaches the HomeKit side, the outputs or the running app: it hands what it
hears to a :class:`DeviceSink` (the :class:`~mihomekit.registry.Registry`), which keeps
the state and tells every listener.

* BLE sources call :meth:`~DeviceSink.handle` with each
  :class:`~mihomekit.advertisement.Advertisement`;
* sources that know their devices (Zigbee gateways, Zigbee2MQTT) announce them with
  :meth:`~DeviceSink.add_device` (with how to reach and control them) and send readings
  with :meth:`~DeviceSink.ingest`; a source's new name for a device goes through
  :meth:`~DeviceSink.source_renamed`, a change of reachability through
  :meth:`~DeviceSink.reachability_changed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from mihomekit.advertisement import Advertisement
from mihomekit.catalog import DeviceModel
from mihomekit.readings import Event, Value

from .device import Control, Device

__all__ = ["DeviceSink"]


class DeviceSink(Protocol):
    """What a source may do with the registry."""

    def handle(self, advertisement: Advertisement) -> None:
        """Decode and apply one BLE advertisement (every service/manufacturer data entry)."""

    def add_device(
        self,
        device_id: str,
        model: DeviceModel | None,
        name: str | None,
        *,
        source: str,
        liveness: Callable[[], bool] | None = None,
        control: Control | None = None,
        saved: Mapping[str, Any] | None = None,
    ) -> Device:
        """Announce a device (or update what is known of it); returns the registry's device."""
        ...

    def ingest(
        self,
        device_id: str,
        values: Mapping[str, Value],
        events: Sequence[Event] = (),
        *,
        heartbeat: bool = False,
    ) -> bool:
        """Apply a reading of an announced device; False if the device is unknown."""
        ...

    def source_renamed(self, device_id: str, name: str) -> None:
        """The source's own name for a device changed (the owner's name still wins)."""

    def reachability_changed(self, device_id: str) -> None:
        """The source's idea of whether it can reach the device changed: show it now."""

    def get(self, device_id: str) -> Device | None:
        """The device as the registry knows it (read only), or None."""
        ...

    def devices(self) -> list[Device]:
        """Every device the registry knows (read only): a source finds its own by source."""
        ...
