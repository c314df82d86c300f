"""This host's Bluetooth adapter as a :class:`~mihomekit.ble.link.Radio`: bleak's
BleakClient over BlueZ, connected with bleak-retry-connector's ``establish_connection``.

A sensor BlueZ already knows (heard by any scanner on the adapter) is connected at once;
another is looked for first, for at most the connection timeout. Listening goes through
the bridge's own scanner (:class:`~mihomekit.sources.ble.BleAdapter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from mihomekit.sources import AdvertisementSink, Source

from .link import GattError, NotAdvertisingError, NotifyCallback, display_mac, failing_as

__all__ = ["BleakLink", "LocalRadio"]

#: Connection attempts bleak-retry-connector makes before giving up.
CONNECT_ATTEMPTS = 3
_ERRORS = (BleakError, OSError, TimeoutError)


def _reason(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, BleakError) and len(err.args) == 2 and isinstance(err.args[1], str):
        return err.args[1]  # BleakGATTProtocolError, BleakDBusError: (code, words)
    text = str(err).strip()
    return text or type(err).__name__


class BleakLink:
    """An open bleak connection."""

    def __init__(self, client: BleakClient, mac: str) -> None:
        self._client = client
        self._mac = mac

    def _char(self, service: str, char: str) -> BleakGATTCharacteristic:
        found = self._client.services.get_service(service)
        if found is None:
            raise GattError(f"{self._mac} has no service {service}")
        characteristic = found.get_characteristic(char)
        if characteristic is None:
            raise GattError(f"{self._mac} has no characteristic {char} in service {service}")
        return characteristic

    async def read(self, service: str, char: str) -> bytes:
        target = self._char(service, char)
        with failing_as(f"reading {char} from {self._mac}", _ERRORS, _reason):
            return bytes(await self._client.read_gatt_char(target))

    async def write(
        self, service: str, char: str, data: bytes, *, response: bool | None = None
    ) -> None:
        target = self._char(service, char)
        if response is None:
            response = "write" in target.properties
        with failing_as(f"writing {char} of {self._mac}", _ERRORS, _reason):
            await self._client.write_gatt_char(target, data, response=response)

    async def start_notify(self, service: str, char: str, callback: NotifyCallback) -> None:
        target = self._char(service, char)

        def relay(_char: Any, data: bytearray) -> None:
            callback(bytes(data))

        with failing_as(f"enabling notifications of {char} on {self._mac}", _ERRORS, _reason):
            await self._client.start_notify(target, relay)

    async def close(self) -> None:
        with contextlib.suppress(BleakError, OSError, TimeoutError, EOFError):
            await self._client.disconnect()


class LocalRadio:
    """This host's adapter (``adapter``: ``hci0``...; None: the system default)."""

    def __init__(self, adapter: str | None = None, *, scan_mode: str = "auto") -> None:
        self.adapter = adapter
        self.scan_mode = scan_mode
        self.name = adapter or "the Bluetooth adapter"

    @property
    def lock_key(self) -> str:
        bus = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "system")
        return f"bluez {bus} {self.adapter or 'default'}"

    def listener(self, sink: AdvertisementSink) -> Source:
        from mihomekit.sources.ble import BleAdapter

        # A listen of a few seconds: no watchdog, no watch for bluetoothd restarts.
        return BleAdapter(
            sink,
            adapter=self.adapter,
            scan_mode=self.scan_mode,
            watchdog_seconds=0,
            watch_bluez=False,
        )

    async def _known_device(self, mac: str) -> BLEDevice | None:
        """The device if BlueZ has it (some scanner heard it), without scanning."""
        from bleak.backends.bluezdbus.manager import get_global_bluez_manager

        try:
            manager = await get_global_bluez_manager()
            adapter_path = (
                f"/org/bluez/{self.adapter}" if self.adapter else manager.get_default_adapter()
            )
            path = f"{adapter_path}/dev_{mac.replace(':', '_')}"
            manager.get_device_address(path)  # raises BleakError if BlueZ does not know it
        except (BleakError, OSError, EOFError):
            return None
        return BLEDevice(mac, None, {"path": path, "props": {}})

    async def connect(self, mac: str, timeout: float) -> BleakLink:
        mac = display_mac(mac)
        device = await self._known_device(mac)
        if device is None:
            bluez: Any = {"adapter": self.adapter} if self.adapter else {}
            try:
                device = await BleakScanner.find_device_by_address(
                    mac, timeout=timeout, bluez=bluez
                )
            except (BleakError, OSError, EOFError) as err:
                raise GattError(f"{self.name}: cannot look for {mac}: {_reason(err)}") from err
            if device is None:
                raise NotAdvertisingError(
                    f"{mac} is not advertising (not heard through {self.name} in {timeout:g} s)"
                )
        try:
            client = await asyncio.wait_for(
                establish_connection(
                    BleakClientWithServiceCache,
                    device,
                    mac,
                    max_attempts=CONNECT_ATTEMPTS,
                    bluez={"adapter": self.adapter} if self.adapter else {},
                ),
                timeout,
            )
        except (BleakError, OSError, TimeoutError, EOFError) as err:
            raise GattError(f"cannot connect to {mac} through {self.name}: {_reason(err)}") from err
        return BleakLink(client, mac)
