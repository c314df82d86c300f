"""How a source, or a connection a source uses, is doing: read by scan, logs, dashboard."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SourceStatus"]


@dataclass(slots=True)
class SourceStatus:
    """How a source is doing: kept by the source, read by ``scan``, logs and dashboard.

    ``since`` is the wall-clock time ``connected`` last changed (None before the first
    attempt); ``advertisements`` counts what the source received (advertisements or
    messages), ``errors`` what it could not use or do; ``last_error`` says why, in words;
    ``over_cap`` what it left out for a cap of the settings (setting → how many: a
    Zigbee2MQTT device list longer than ``zigbee2mqtt.max_devices``).
    """

    kind: str
    name: str
    connected: bool = False
    since: float | None = None
    advertisements: int = 0
    errors: int = 0
    last_error: str | None = None
    over_cap: dict[str, int] = field(default_factory=dict)

    def set_connected(self, connected: bool, *, error: str | None = None) -> bool:
        """Record a (dis)connection; True if the state changed. ``error`` counts as one."""
        if error is not None:
            self.error(error)
        if connected == self.connected and self.since is not None:
            return False
        self.connected = connected
        self.since = time.time()
        return True

    def error(self, reason: str) -> None:
        """Count one error and remember why."""
        self.errors += 1
        self.last_error = reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "connected": self.connected,
            "since": self.since,
            "advertisements": self.advertisements,
            "errors": self.errors,
            "last_error": self.last_error,
        }
