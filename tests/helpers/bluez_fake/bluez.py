"""The radio world a test controls: controllers, sensors on air, and the bluetoothd serving them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from .air import Advertisement, Pattern, full_uuid
from .bus import PrivateBus
from .daemon import Bluetoothd, Call
from .gatt import GattService, Peripheral

if TYPE_CHECKING:
    from bleak.backends.device import BLEDevice

MonitorSupport = Literal["supported", "unknown-method", "not-supported"]
ENV = "DBUS_SYSTEM_BUS_ADDRESS"


@dataclass(slots=True)
class Controller:
    """A Bluetooth controller (the hardware): present while plugged in."""

    name: str
    address: str
    powered: bool = True
    blocked: bool = False

    @property
    def power_state(self) -> str:
        if self.powered:
            return "on"
        return "off-blocked" if self.blocked else "off"


def _controller_address(index: int) -> str:
    return f"00:1A:7D:DA:71:{index:02X}"


class FakeBluez:
    """BlueZ on a private bus; see the package docstring."""

    def __init__(self, folder: Path, monitor: MonitorSupport, adapters: Iterable[str]) -> None:
        self.bus = PrivateBus(folder)
        #: How AdvertisementMonitorManager1 answers; takes effect at the next start_daemon().
        self.monitor: MonitorSupport = monitor
        self.controllers: dict[str, Controller] = {}
        for name in adapters:
            self.controllers[name] = Controller(name, _controller_address(len(self.controllers)))
        self.peripherals: dict[str, Peripheral] = {}
        #: Every method call clients made on org.bluez, in order.
        self.calls: list[Call] = []
        self.daemon: Bluetoothd | None = None

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        folder: Path,
        *,
        monitor: MonitorSupport = "supported",
        adapters: Sequence[str] = ("hci0",),
    ) -> AsyncIterator[FakeBluez]:
        """A private dbus-daemon with bluetoothd running; ``DBUS_SYSTEM_BUS_ADDRESS`` points at
        it inside the block (restored after)."""
        bluez = cls(folder, monitor, adapters)
        await bluez.bus.start()
        saved = os.environ.get(ENV)
        os.environ[ENV] = bluez.address
        try:
            await bluez.start_daemon()
            yield bluez
        finally:
            if bluez.daemon is not None:
                await bluez.daemon.crash()
                bluez.daemon = None
            await bluez.bus.stop()
            if saved is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = saved

    @property
    def address(self) -> str:
        """The private bus's address (for ``DBUS_SYSTEM_BUS_ADDRESS``)."""
        return self.bus.address

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment for a subprocess that should use this BlueZ."""
        env = dict(os.environ if base is None else base)
        env[ENV] = self.address
        return env

    # -- bluetoothd -----------------------------------------------------------------------

    @property
    def daemon_running(self) -> bool:
        return self.daemon is not None and self.daemon.running

    @property
    def unique_name(self) -> str | None:
        """bluetoothd's unique connection name (new after each restart)."""
        return None if self.daemon is None else self.daemon.unique_name

    async def start_daemon(self) -> None:
        """bluetoothd starts: takes org.bluez, then adds its adapters."""
        if self.daemon_running:
            raise RuntimeError("bluetoothd is already running")
        daemon = Bluetoothd(self)
        await daemon.start()
        self.daemon = daemon

    async def stop_daemon(self) -> None:
        """bluetoothd exits cleanly: objects removed (signalled), the name released."""
        daemon, self.daemon = self.daemon, None
        if daemon is not None:
            await daemon.stop()

    async def crash(self) -> None:
        """bluetoothd dies: the name is gone without a word; calls fail with ServiceUnknown."""
        daemon, self.daemon = self.daemon, None
        if daemon is not None:
            await daemon.crash()

    async def restart_daemon(self) -> None:
        await self.stop_daemon()
        await self.start_daemon()

    # -- controllers ----------------------------------------------------------------------

    async def remove_adapter(self, name: str) -> None:
        """The controller is unplugged (or reset by the kernel): its objects are removed."""
        self.controllers.pop(name)
        if self.daemon is not None:
            self.daemon.remove_adapter(name)
            await self.daemon.flush()

    async def add_adapter(
        self, name: str, *, address: str | None = None, powered: bool = True
    ) -> None:
        """A controller is plugged in; bluetoothd powers it on (AutoEnable) unless ``powered``
        is False."""
        controller = Controller(
            name, address or _controller_address(len(self.controllers)), powered=powered
        )
        self.controllers[name] = controller
        if self.daemon is not None:
            self.daemon.add_adapter(controller)
            await self.daemon.flush()

    async def set_powered(self, name: str, powered: bool, *, blocked: bool = False) -> None:
        """Power a controller off or on; ``blocked``: off through rfkill (PowerState
        ``off-blocked``). Powering off ends discovery sessions and connections."""
        controller = self.controllers[name]
        controller.powered = powered
        controller.blocked = blocked and not powered
        if self.daemon is not None:
            self.daemon.set_powered(name)
            await self.daemon.flush()

    # -- on air ------------------------------------------------------------------------------

    def advertise(
        self,
        address: str,
        *,
        service_data: Mapping[int | str, bytes] | None = None,
        manufacturer_data: Mapping[int, bytes] | None = None,
        rssi: int = -60,
        name: str | None = None,
        adapter: str = "hci0",
        service_uuids: Sequence[str] = (),
        tx_power: int | None = None,
        address_type: str = "public",
    ) -> bool:
        """One advertisement heard by ``adapter``'s controller. True if BlueZ reported it (a
        discovery session accepts it, or an active monitor's pattern matches)."""
        adv = Advertisement(
            address.upper(),
            dict(service_data or {}),
            dict(manufacturer_data or {}),
            rssi,
            name,
            tuple(service_uuids),
            tx_power,
            address_type,
        )
        if self.daemon is None or adapter not in self.controllers:
            return False
        return self.daemon.deliver(adv, adapter)

    def add_peripheral(
        self,
        address: str,
        services: Sequence[GattService],
        handler: Any = None,
        *,
        adapter: str = "hci0",
    ) -> Peripheral:
        """A device that accepts connections (advertise it too, so BlueZ has its object)."""
        peripheral = Peripheral(address.upper(), list(services), handler, adapter)
        peripheral._bluez = self
        self.peripherals[peripheral.address] = peripheral
        return peripheral

    async def discover(self, address: str, **advertisement: Any) -> BLEDevice:
        """Scan with bleak until ``address`` (advertised once with ``advertisement``) is found,
        as an application does before it connects; the device bleak reports."""
        from bleak import BleakScanner

        scanner = BleakScanner(lambda _device, _adv: None)
        await scanner.start()
        try:
            self.advertise(address, **advertisement)
            wanted = address.upper()
            await self.wait_for(
                lambda: any(d.address == wanted for d in scanner.discovered_devices)
            )
        finally:
            await scanner.stop()
        return next(d for d in scanner.discovered_devices if d.address == wanted)

    # -- what happened -------------------------------------------------------------------------

    def called(self, member: str, interface: str | None = None) -> list[Call]:
        """The calls of one method (for example ``"StartDiscovery"``), in order."""
        return [
            c
            for c in self.calls
            if c.member == member and (interface is None or c.interface == interface)
        ]

    def active_monitors(self, adapter: str = "hci0") -> list[list[Pattern]]:
        """The or_patterns of every monitor BlueZ activated on ``adapter``."""
        return [] if self.daemon is None else self.daemon.active_monitors(adapter)

    def discovering(self, adapter: str = "hci0") -> bool:
        """True while some client has a discovery session on ``adapter``."""
        if self.daemon is None or adapter not in self.daemon.adapters:
            return False
        return bool(self.daemon.adapters[adapter].sessions)

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``condition()`` holds (AssertionError after ``timeout`` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            assert loop.time() < deadline, "condition not reached in time"
            await asyncio.sleep(0.01)

    # -- for Peripheral --------------------------------------------------------------------------

    def is_connected(self, peripheral: Peripheral) -> bool:
        return self.daemon is not None and self.daemon.link_of(peripheral) is not None

    def is_notifying(self, peripheral: Peripheral, uuid: str) -> bool:
        return self.daemon is not None and self.daemon.notifying(peripheral, full_uuid(uuid))

    def send_notification(self, peripheral: Peripheral, uuid: str, data: bytes) -> bool:
        return self.daemon is not None and self.daemon.notify(peripheral, uuid, data)

    def peripheral_disconnected(self, peripheral: Peripheral) -> None:
        if self.daemon is not None:
            link = self.daemon.link_of(peripheral)
            if link is not None:
                self.daemon._drop_link(link)


@pytest.fixture(name="bluez")
async def bluez_fixture(tmp_path: Path) -> AsyncIterator[FakeBluez]:
    """BlueZ with one adapter, hci0, and passive scanning supported (``FakeBluez.running``)."""
    async with FakeBluez.running(tmp_path / "bluez") as bluez:
        yield bluez
