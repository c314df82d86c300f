"""Python extensions (``[[extensions]]``): Tasmota's Berry classes, in Python.

An extension is a module with a ``setup(api)`` function (or an installed package's entry
point in group ``mihomekit.extensions``). ``setup`` gets an :class:`ExtensionApi`: it can
subscribe to advertisements, read devices and set their values, and connect to sensors
over GATT (the queue ``mihomekit ble`` uses). See ``docs/extensions.md``.

* :mod:`.api`: the API object and what it hands out (:class:`DeviceInfo`);
* :mod:`.host`: loading extensions and keeping the bridge safe from them: an extension
  that raises is logged once, with its traceback, and disabled.
"""

from mihomekit.tap import RawAdvertisement

from .api import DeviceInfo, ExtensionApi, GattError, GattLink
from .host import ENTRY_POINT_GROUP, ExtensionHost

__all__ = [
    "ENTRY_POINT_GROUP",
    "DeviceInfo",
    "ExtensionApi",
    "ExtensionHost",
    "GattError",
    "GattLink",
    "RawAdvertisement",
]
