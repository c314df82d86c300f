"""Whether a Zigbee2MQTT device can be reached (pure; time passed in).

* ``bridge/state`` offline (Zigbee2MQTT stopped, its MQTT will) makes every device
  unreachable;
* while connected, a device with an ``<name>/availability`` topic follows it
  (Zigbee2MQTT's own availability feature, off by default);
* otherwise our own staleness clock: a battery device is reachable while heard within
  :data:`BATTERY_WINDOW` (Zigbee2MQTT's passive default, 25 h; Aqara sensors report about
  hourly), a mains device within :data:`MAINS_WINDOW`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

BATTERY_WINDOW = 25 * 3600.0
MAINS_WINDOW = 150 * 60.0


def parse_state(payload: bytes) -> bool | None:
    """``{"state":"online"}`` (2.x) or ``online`` (1.x) → True/False; None if unreadable."""
    text = payload.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError:
            return None
        state = raw.get("state") if isinstance(raw, dict) else None
        if not isinstance(state, str):
            return None
        text = state
    if text == "online":
        return True
    if text == "offline":
        return False
    return None


@dataclass(slots=True)
class Availability:
    """The source's view of what is reachable."""

    #: The broker connection is up.
    connected: bool = False
    #: ``bridge/state``; None until heard.
    bridge_online: bool | None = None
    #: Per device id: the availability topic's last state.
    devices: dict[str, bool] = field(default_factory=dict)

    def alive(self, device_id: str, *, battery: bool, last_seen: float | None, now: float) -> bool:
        """Whether the device counts as reachable now."""
        if self.bridge_online is False:
            return False
        state = self.devices.get(device_id)
        if state is not None and self.connected:
            return state
        if last_seen is None:
            return False
        return now - last_seen <= (BATTERY_WINDOW if battery else MAINS_WINDOW)
