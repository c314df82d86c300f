"""What the gateway adapter reports to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from mihomekit.catalog import DeviceModel
from mihomekit.readings import Event, Value


class ReadingSink(Protocol):
    """Receives devices and readings from :class:`~.transport.GatewayAdapter`.

    ``device_id`` is the sid (lower-case hex; a gateway's own sid padded to 12).
    """

    def on_device(self, device_id: str, model: DeviceModel, name: str | None) -> None:
        """A subdevice (or the gateway itself) is known."""

    def on_reading(
        self,
        device_id: str,
        values: Mapping[str, Value],
        events: Sequence[Event],
        *,
        heartbeat: bool = False,
    ) -> None:
        """New values/events; ``heartbeat=True``: a refresh that fires no events."""
