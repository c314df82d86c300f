"""Bridges made in the test process, on 127.0.0.1 with a known setup code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mihomekit.app import AppConfig
from mihomekit.mi32cfg import DeviceEntry

SETUP_MAC = "B8:27:EB:12:34:56"
SETUP_CODE = "182-11-234"


def bridge_config(
    state_dir: Path, port: int, entries: list[DeviceEntry], **extra: Any
) -> AppConfig:
    """A bridge on 127.0.0.1 whose setup code is :data:`SETUP_CODE`; nothing printed."""
    return AppConfig(
        state_dir=state_dir,
        address="127.0.0.1",
        port=port,
        setup_code_mac=SETUP_MAC,
        entries=entries,
        print_setup=False,
        **extra,
    )
