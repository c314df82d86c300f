"""The bundled demo: devices, a recording replayed in a loop, and a simulated gateway.

``mihomekit run --demo`` shows a working, pairable bridge on a machine without Bluetooth:
the bundled recording (``recording.jsonl``, made by :mod:`mihomekit.demo.frames`) goes
through the real decoder and registry; on every later pass its frames are made again with
newer counters and new values, so encrypted frames are not dropped as replays and the
values keep changing. A simulated Aqara gateway on loopback adds Zigbee sensors and a plug
through the real LAN protocol. A line tells what went through the bridge (advertisements,
events) and how many controllers are paired: rewritten in place on a terminal, so that
the QR code stays on screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..mi32cfg import DeviceEntry, parse_mi32cfg
from .data import bundled_text

if TYPE_CHECKING:
    from ..app import SourceFactory

__all__ = ["demo_entries", "demo_sources", "demo_state_dir"]


def demo_state_dir(state_dir: str | Path) -> Path:
    """Where ``mihomekit run --demo`` keeps its state: ``mihomekit-demo`` beside the
    bridge's own state directory, so that the demo never touches a real bridge's pairing."""
    return Path(state_dir).expanduser().parent / "mihomekit-demo"


def demo_entries() -> list[DeviceEntry]:
    """The devices of the bundled ``mi32cfg.json``."""
    return parse_mi32cfg(bundled_text("mi32cfg.json"), path="<demo mi32cfg>")


def demo_sources(*, speed: float = 1.0, activity: float | None = None) -> list[SourceFactory]:
    """Source factories for the bridge: the BLE replay and the simulated gateway.

    With ``activity`` (seconds), also a line of activity printed that often.
    """
    from .sources import activity_source, gateway_source, replay_source

    sources = [replay_source(speed), gateway_source()]
    if activity is not None:
        sources.append(activity_source(activity))
    return sources
