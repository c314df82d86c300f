"""miIO: the binary UDP protocol (port 54321) of Xiaomi Wi-Fi devices and gateways.

* :mod:`.protocol` - packets, checksum, encryption (pure)
* :mod:`.client` - :class:`MiioClient` (handshake, calls) and :func:`discover`
* :mod:`.simulator` - a device simulator for tests and the demo
"""

from __future__ import annotations

from mihomekit.sources.miio.client import DeviceError, HelloReply, MiioClient, discover

__all__ = ["DeviceError", "HelloReply", "MiioClient", "discover"]
