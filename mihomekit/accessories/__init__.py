"""The HomeKit side of mihomekit: HAP-python accessories built from device capabilities.

This is the only package that imports ``pyhap``.
"""

from .bridge import MAX_BRIDGED, MiBridge, add_device_accessory, build_bridge
from .device import AccessoryOptions, DeviceAccessory, staleness_window
from .driver import BridgeDriver

__all__ = [
    "MAX_BRIDGED",
    "AccessoryOptions",
    "BridgeDriver",
    "DeviceAccessory",
    "MiBridge",
    "add_device_accessory",
    "build_bridge",
    "staleness_window",
]
