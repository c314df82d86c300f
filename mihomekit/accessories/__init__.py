"""The HomeKit side of mihomekit: HAP-python accessories built from device capabilities.

With :mod:`mihomekit.homekit`, the only packages that import ``pyhap``.
"""

from .bridge import (
    MAX_BRIDGED,
    MiBridge,
    add_device_accessory,
    build_bridge,
    extend_device_accessory,
    remove_device_accessory,
)
from .device import AccessoryOptions, DeviceAccessory, staleness_window

__all__ = [
    "MAX_BRIDGED",
    "AccessoryOptions",
    "DeviceAccessory",
    "MiBridge",
    "add_device_accessory",
    "build_bridge",
    "extend_device_accessory",
    "remove_device_accessory",
    "staleness_window",
]
