"""The HomeKit bridge: one Bridge accessory holding one accessory per device."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pyhap.accessory import Accessory, Bridge
from pyhap.const import CATEGORY_BRIDGE

from mihomekit import __version__
from mihomekit.homekit.hap_python import HapDriver
from mihomekit.placement import CAPACITY
from mihomekit.registry import Device
from mihomekit.state import BridgeState

from .device import STALENESS_CHECK_INTERVAL, AccessoryOptions, CommandSender, DeviceAccessory

_LOGGER = logging.getLogger(__name__)

#: HAP allows at most this many bridged accessories (plus the bridge itself).
MAX_BRIDGED = CAPACITY


class MiBridge(Bridge):  # type: ignore[misc]
    """The bridge accessory (aid 1). Prints its setup code through ``on_setup_message``."""

    category = CATEGORY_BRIDGE

    def __init__(
        self, driver: HapDriver, name: str, *, on_setup_message: Callable[[], None] | None = None
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

    async def run(self) -> None:
        """Start the bridged accessories, then check their staleness on one timer."""
        await super().run()
        await self._check_staleness()

    @Accessory.run_at_interval(STALENESS_CHECK_INTERVAL)  # type: ignore[untyped-decorator]
    async def _check_staleness(self) -> None:
        for accessory in list(self.accessories.values()):
            if isinstance(accessory, DeviceAccessory):
                accessory.refresh_active()


def build_bridge(
    driver: HapDriver,
    devices: Sequence[Device],
    state: BridgeState,
    *,
    name: str,
    options: AccessoryOptions,
    send_command: CommandSender | None = None,
    on_setup_message: Callable[[], None] | None = None,
) -> MiBridge:
    """A bridge with an accessory for each of ``devices`` (placed on it: aids in ``state``).

    Every known device is added before the driver starts, so Apple Home never sees a
    device vanish (and lose its room) just because it has not been heard yet.
    """
    bridge = MiBridge(driver, name, on_setup_message=on_setup_message)
    for device in sorted(devices, key=lambda d: state.aids[d.id]):
        accessory = DeviceAccessory(
            driver,
            device,
            aid=state.aids[device.id],
            options=options,
            send_command=send_command,
        )
        bridge.add_accessory(accessory)
    return bridge


def add_device_accessory(
    driver: HapDriver,
    bridge: MiBridge,
    device: Device,
    aid: int,
    *,
    options: AccessoryOptions,
    send_command: CommandSender | None = None,
    live: bool = True,
) -> DeviceAccessory | None:
    """Add a device to a bridge; ``live``: its driver runs, so c# is bumped and controllers
    re-read the accessory list. None if ``aid`` is already taken on this bridge.
    """
    if aid in bridge.accessories:
        return None
    accessory = DeviceAccessory(driver, device, aid=aid, options=options, send_command=send_command)
    bridge.add_accessory(accessory)
    if live:
        driver.async_add_job(accessory.run)
        driver.config_changed()
    return accessory


def extend_device_accessory(
    driver: HapDriver, bridge: MiBridge, aid: int, *, live: bool = True
) -> bool:
    """Show what a device's model learned on its accessory (services added after the
    others: every instance id stays); ``live``: c# is bumped and controllers re-read the
    accessory list. False if nothing was added."""
    accessory = bridge.accessories.get(aid)
    if not isinstance(accessory, DeviceAccessory) or not accessory.learn():
        return False
    if live:
        driver.config_changed()
    return True


def remove_device_accessory(
    driver: HapDriver, bridge: MiBridge, aid: int, *, live: bool = True
) -> bool:
    """Take an accessory off a bridge (``live``: c# is bumped); False if it was not there."""
    accessory = bridge.accessories.pop(aid, None)
    if accessory is None:
        return False
    if live:
        driver.async_add_job(accessory.stop)
        driver.config_changed()
    return True
