"""The HomeKit bridge: one Bridge accessory holding one accessory per device."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pyhap.accessory import Bridge
from pyhap.const import CATEGORY_BRIDGE

from mihomekit import __version__
from mihomekit.registry import Registry
from mihomekit.state import BridgeState

from .device import AccessoryOptions, CommandSender, DeviceAccessory

_LOGGER = logging.getLogger(__name__)

#: HAP allows at most this many bridged accessories (plus the bridge itself).
MAX_BRIDGED = 149


class MiBridge(Bridge):  # type: ignore[misc]
    """The bridge accessory (aid 1). Prints its setup code through ``on_setup_message``."""

    category = CATEGORY_BRIDGE

    def __init__(
        self, driver: Any, name: str, *, on_setup_message: Callable[[], None] | None = None
    ) -> None:
        super().__init__(driver, name)
        self._on_setup_message = on_setup_message
        self.set_info_service(
            firmware_revision=__version__,
            manufacturer="mihomekit",
            model="mihomekit bridge",
            serial_number=driver.state.mac,
        )

    def setup_message(self) -> None:
        if self._on_setup_message is not None:
            self._on_setup_message()


def build_bridge(
    driver: Any,
    registry: Registry,
    state: BridgeState,
    *,
    name: str,
    options: AccessoryOptions,
    send_command: CommandSender | None = None,
    on_setup_message: Callable[[], None] | None = None,
) -> MiBridge:
    """A bridge with an accessory for every bridged device of the registry.

    Every known device is added before the driver starts, so Apple Home never sees a
    device vanish (and lose its room) just because it has not been heard yet.
    """
    bridge = MiBridge(driver, name, on_setup_message=on_setup_message)
    devices = [d for d in registry.devices() if d.bridged]
    devices.sort(key=lambda d: state.aid_for(d.id))
    for device in devices[:MAX_BRIDGED]:
        accessory = DeviceAccessory(
            driver,
            device,
            aid=state.aid_for(device.id),
            options=options,
            send_command=send_command,
        )
        bridge.add_accessory(accessory)
    if len(devices) > MAX_BRIDGED:
        _LOGGER.warning(
            "HomeKit allows %d accessories on a bridge; %d devices left out",
            MAX_BRIDGED,
            len(devices) - MAX_BRIDGED,
        )
    return bridge


def add_device_accessory(
    driver: Any,
    bridge: MiBridge,
    registry: Registry,
    state: BridgeState,
    device_id: str,
    *,
    options: AccessoryOptions,
    send_command: CommandSender | None = None,
) -> DeviceAccessory | None:
    """Add a device discovered while running (for example a new Zigbee sensor)."""
    device = registry.get(device_id)
    if device is None or not device.bridged or len(bridge.accessories) >= MAX_BRIDGED:
        return None
    aid = state.aid_for(device.id)
    if aid in bridge.accessories:
        return None
    accessory = DeviceAccessory(driver, device, aid=aid, options=options, send_command=send_command)
    bridge.add_accessory(accessory)
    driver.async_add_job(accessory.run)
    driver.config_changed()
    return accessory
