"""Connects a gateway adapter to the running bridge (devices, readings, commands)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mihomekit.catalog import DeviceModel
from mihomekit.readings import Event, Value
from mihomekit.sources import SourceStatus

if TYPE_CHECKING:
    from mihomekit.bridge import BridgeApp


class GatewaySource:
    """Runs a :class:`~mihomekit.sources.gateway.transport.GatewayAdapter` for the bridge.

    Zigbee devices the gateways report are added to the registry (and to HomeKit, if new);
    their readings go to the registry; HomeKit writes to plugs, switches and the gateway
    light go back through the adapter.
    """

    def __init__(self, app: BridgeApp, settings: Any, *, adapter: Any = None) -> None:
        from mihomekit.sources.gateway.transport import GatewayAdapter

        self.app = app
        self.adapter = adapter or GatewayAdapter(settings, self)
        self._status = SourceStatus("gateway", "Aqara gateways")

    @property
    def status(self) -> SourceStatus:
        """Connected while at least one gateway is alive; counts from the adapter."""
        status = self._status
        gateways = getattr(self.adapter, "gateways", {})
        alive = [sid for sid in gateways if self.adapter.is_alive(sid)]
        status.set_connected(bool(alive))
        stats: dict[str, int] = getattr(self.adapter, "stats", {})
        status.advertisements = stats.get("reports", 0) + stats.get("heartbeats", 0)
        status.errors = sum(n for name, n in stats.items() if name.startswith("dropped_"))
        return status

    async def start(self) -> None:
        await self.adapter.start()

    async def stop(self) -> None:
        await self.adapter.stop()

    # -- ReadingSink ---------------------------------------------------------------------

    def on_device(self, device_id: str, model: DeviceModel, name: str | None) -> None:
        self.app.on_device(device_id, model, name, source="zigbee")
        device = self.app.registry.get(device_id)
        if device is not None:
            # A silent gateway makes all of its devices unreachable.
            device.liveness = functools.partial(self.adapter.is_alive, device_id)
        if model.controls:
            self.app.register_commands([device_id], self.adapter.send_command)

    def on_reading(
        self,
        device_id: str,
        values: Mapping[str, Value],
        events: Sequence[Event],
        *,
        heartbeat: bool = False,
    ) -> None:
        self.app.on_reading(device_id, values, events, heartbeat=heartbeat)
