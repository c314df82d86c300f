"""Connects a gateway adapter to the registry (devices, readings, commands)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from mihomekit.catalog import DeviceModel
from mihomekit.readings import Event, Value
from mihomekit.registry import DeviceSink
from mihomekit.sources import SourceStatus

#: The registry's source name of gateway devices.
SOURCE = "zigbee"


class GatewaySource:
    """Runs a :class:`~mihomekit.sources.gateway.transport.GatewayAdapter` for the bridge.

    Zigbee devices the gateways report are announced to the registry (and so shown in
    HomeKit); their readings go to the registry; writes to plugs, switches and the gateway
    light go back through the adapter.
    """

    def __init__(self, sink: DeviceSink, settings: Any, *, adapter: Any = None) -> None:
        from mihomekit.sources.gateway.transport import GatewayAdapter

        self.sink = sink
        self.adapter = adapter or GatewayAdapter(settings, self)
        self._status = SourceStatus("gateway", "Aqara gateways")

    @property
    def status(self) -> SourceStatus:
        """Connected while at least one gateway is alive; counts from the adapter."""
        status = self._refresh()
        stats: dict[str, int] = getattr(self.adapter, "stats", {})
        status.advertisements = stats.get("reports", 0) + stats.get("heartbeats", 0)
        status.errors = sum(n for name, n in stats.items() if name.startswith("dropped_"))
        return status

    def _refresh(self) -> SourceStatus:
        """Note whether a gateway is alive: at once when one is heard, so that the
        connection's time is the time it came up, not the time someone looked."""
        status = self._status
        gateways = getattr(self.adapter, "gateways", {})
        status.set_connected(any(self.adapter.is_alive(sid) for sid in gateways))
        return status

    async def start(self) -> None:
        await self.adapter.start()

    async def stop(self) -> None:
        await self.adapter.stop()

    # -- ReadingSink ---------------------------------------------------------------------

    def on_device(self, device_id: str, model: DeviceModel, name: str | None) -> None:
        self._refresh()
        self.sink.add_device(
            device_id,
            model,
            name,
            source=SOURCE,
            # A silent gateway makes all of its devices unreachable.
            liveness=functools.partial(self.adapter.is_alive, device_id),
            control=self.adapter.send_command if model.controls else None,
        )

    def on_reading(
        self,
        device_id: str,
        values: Mapping[str, Value],
        events: Sequence[Event],
        *,
        heartbeat: bool = False,
    ) -> None:
        self._refresh()
        self.sink.ingest(device_id, values, events, heartbeat=heartbeat)
