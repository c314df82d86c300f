"""Xiaomi/Aqara Zigbee gateways over the LAN protocol (JSON over UDP, v1 and v2).

* :mod:`.codec` - parse/build messages, properties → readings (pure)
* :mod:`.keys` - write keys
* :mod:`.models` - model strings → :class:`~mihomekit.catalog.DeviceModel`
* :mod:`.client` - discovery, device list, read, write (one UDP socket)
* :mod:`.transport` - :class:`GatewayAdapter`, the bridge's source of gateway readings
* :mod:`.simulator` - a gateway simulator for tests and the demo
"""

from __future__ import annotations

from mihomekit.sources.gateway.sink import ReadingSink

__all__ = ["GatewayAdapter", "GatewayClient", "GatewaySimulator", "ReadingSink"]


def __getattr__(name: str) -> object:
    # Sockets and asyncio are only imported when used.
    if name in ("GatewayAdapter", "GatewayClient"):
        from mihomekit.sources.gateway import transport

        return getattr(transport, name)
    if name == "GatewaySimulator":
        from mihomekit.sources.gateway.simulator import GatewaySimulator

        return GatewaySimulator
    raise AttributeError(name)
