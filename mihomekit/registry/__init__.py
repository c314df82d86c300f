"""The registry: every device, what it last said, and the one stream of news about them.

Sources write to it through its narrow side (:class:`DeviceSink`); HomeKit, MQTT out, the
Mi Dashboard and the saved state subscribe to it (:meth:`Registry.subscribe`,
:mod:`.events`). See :mod:`.registry` for what it checks on the way in.
"""

from .device import (
    RECEIVER_WINDOW,
    REPEAT_WINDOW,
    Control,
    Device,
    EncryptedFrame,
    Reception,
    UnknownDevice,
    compact_mac,
    default_name,
)
from .events import (
    DeviceAdded,
    DeviceChanged,
    DeviceEvent,
    DeviceListener,
    DeviceRemoved,
    RegistryEvent,
    RegistryListener,
    Update,
)
from .registry import (
    COUNTER_MODULUS,
    COUNTER_WINDOW,
    REBOOT_CONFIRM,
    RECENT_FRAMES,
    UNKNOWN_DEVICES,
    UNKNOWN_REDECODE,
    Registry,
    counter_is_newer,
)
from .sink import DeviceSink

__all__ = [
    "COUNTER_MODULUS",
    "COUNTER_WINDOW",
    "REBOOT_CONFIRM",
    "RECEIVER_WINDOW",
    "RECENT_FRAMES",
    "REPEAT_WINDOW",
    "UNKNOWN_DEVICES",
    "UNKNOWN_REDECODE",
    "Control",
    "Device",
    "DeviceAdded",
    "DeviceChanged",
    "DeviceEvent",
    "DeviceListener",
    "DeviceRemoved",
    "DeviceSink",
    "EncryptedFrame",
    "Reception",
    "Registry",
    "RegistryEvent",
    "RegistryListener",
    "UnknownDevice",
    "Update",
    "compact_mac",
    "counter_is_newer",
    "default_name",
]
