"""Device catalog: product id → model and what the device measures.

The table itself lives in :mod:`mihomekit._catalog_table` (data only).
"""

from __future__ import annotations

from .device_model import DeviceModel, GattBattery, GattChar, GattProfile

__all__ = [
    "DeviceModel",
    "GattBattery",
    "GattChar",
    "GattProfile",
    "all_models",
    "by_model",
    "lookup",
    "unknown_name",
]


def lookup(pid: int) -> DeviceModel | None:
    """The model with MiBeacon product id ``pid`` (or a Tasmota fake PID), if known."""
    from ._catalog_table import BY_PID

    return BY_PID.get(pid)


def by_model(model: str) -> DeviceModel | None:
    """The entry for a model name (``"LYWSD03MMC"``); for models with several product ids,
    the first one listed."""
    from ._catalog_table import BY_MODEL

    return BY_MODEL.get(model)


def unknown_name(pid: int) -> str:
    """The name Tasmota gives a device of an unknown product id: ``MI_0A1B``."""
    return f"MI_{pid & 0xFFFF:04X}"


def all_models() -> tuple[DeviceModel, ...]:
    """Every catalog entry, in table order (MiBeacon product ids first)."""
    from ._catalog_table import MODELS

    return MODELS
