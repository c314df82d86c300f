"""An ESPHome Bluetooth proxy as a :class:`~mihomekit.ble.link.Radio`, for sensors out of
this host's range: aioesphomeapi's Bluetooth GATT calls over the native API.

Each connection opens its own API session to the proxy (a proxy serves several clients),
asks it to connect to the sensor (the proxy needs ``bluetooth_proxy: active: true``), reads
the sensor's services and maps characteristics to handles. Notifications are enabled on
the proxy and in the sensor's Client Characteristic Configuration descriptor, as bleak
does over BlueZ. Listening goes through the bridge's own proxy source
(:class:`~mihomekit.sources.esphome.proxy.EsphomeProxy`).

aioesphomeapi names used here (check them when upgrading it): ``APIClient.connect``,
``device_info``, ``api_version``, ``bluetooth_device_connect``,
``bluetooth_device_disconnect``, ``bluetooth_gatt_get_services``, ``bluetooth_gatt_read``,
``bluetooth_gatt_write``, ``bluetooth_gatt_write_descriptor``,
``bluetooth_gatt_start_notify``, ``DeviceInfo.bluetooth_proxy_feature_flags_compat``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aioesphomeapi.client import APIClient
from aioesphomeapi.core import APIConnectionError
from aioesphomeapi.model import BluetoothProxyFeature

from mihomekit.settings import EsphomeSettings
from mihomekit.sources import AdvertisementSink, Source

from .link import GattError, NotifyCallback, display_mac, failing_as

__all__ = ["EsphomeLink", "EsphomeRadio"]

_ACTIVE = int(BluetoothProxyFeature.ACTIVE_CONNECTIONS)
_CACHING = int(BluetoothProxyFeature.REMOTE_CACHING)
_CCCD = "00002902-0000-1000-8000-00805f9b34fb"
#: GATT characteristic property bits.
_PROP_WRITE = 0x08
_PROP_NOTIFY = 0x10
_PROP_INDICATE = 0x20
#: Longest wait for the API session and each request.
API_TIMEOUT = 10.0
_ERRORS = (APIConnectionError, TimeoutError)


def _reason(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out"
    return str(err).strip() or type(err).__name__


@dataclass(frozen=True, slots=True)
class _Char:
    handle: int
    properties: int
    cccd: int | None


class EsphomeLink:
    """A sensor connected through a proxy."""

    def __init__(
        self, client: APIClient, address: int, mac: str, chars: dict[tuple[str, str], _Char]
    ) -> None:
        self._client = client
        self._address = address
        self._mac = mac
        self._chars = chars
        self.connected = True
        self._closed = False

    def _char(self, service: str, char: str) -> _Char:
        found = self._chars.get((service, char))
        if found is None:
            raise GattError(f"{self._mac} has no characteristic {char} in service {service}")
        if not self.connected:
            raise GattError(f"{self._mac} disconnected")
        return found

    async def read(self, service: str, char: str) -> bytes:
        target = self._char(service, char)
        with failing_as(f"reading {char} from {self._mac}", _ERRORS, _reason):
            return bytes(await self._client.bluetooth_gatt_read(self._address, target.handle))

    async def write(
        self, service: str, char: str, data: bytes, *, response: bool | None = None
    ) -> None:
        target = self._char(service, char)
        if response is None:
            response = bool(target.properties & _PROP_WRITE)
        with failing_as(f"writing {char} of {self._mac}", _ERRORS, _reason):
            await self._client.bluetooth_gatt_write(
                self._address, target.handle, bytes(data), response
            )

    async def start_notify(self, service: str, char: str, callback: NotifyCallback) -> None:
        target = self._char(service, char)

        def relay(_handle: int, data: bytearray) -> None:
            callback(bytes(data))

        with failing_as(f"enabling notifications of {char} on {self._mac}", _ERRORS, _reason):
            await self._client.bluetooth_gatt_start_notify(self._address, target.handle, relay)
            if target.cccd is not None:
                notify = target.properties & _PROP_NOTIFY or not target.properties & _PROP_INDICATE
                await self._client.bluetooth_gatt_write_descriptor(
                    self._address, target.cccd, b"\x01\x00" if notify else b"\x02\x00"
                )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.connected:
                await asyncio.wait_for(
                    self._client.bluetooth_device_disconnect(self._address), API_TIMEOUT
                )
        except (APIConnectionError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(APIConnectionError, TimeoutError, OSError):
                await asyncio.wait_for(self._client.disconnect(), API_TIMEOUT)


class EsphomeRadio:
    """One ``[[esphome]]`` proxy of the settings."""

    def __init__(self, proxy: EsphomeSettings, *, address_type: int = 0) -> None:
        self.proxy = proxy
        #: 0: public address (Xiaomi sensors), 1: random.
        self.address_type = address_type
        self.name = f"proxy {proxy.name or proxy.host}"

    @property
    def lock_key(self) -> str:
        return f"esphome {self.proxy.host.lower()}:{self.proxy.port}"

    def listener(self, sink: AdvertisementSink) -> Source:
        from mihomekit.sources.esphome.proxy import EsphomeProxy

        return EsphomeProxy.from_settings(self.proxy, sink)

    async def _session(self) -> tuple[APIClient, int]:
        from mihomekit.sources.esphome.proxy import describe_error

        proxy = self.proxy
        client = APIClient(
            proxy.host,
            proxy.port,
            None,
            client_info="mihomekit",
            noise_psk=proxy.encryption_key,
            expected_name=proxy.name,
            provide_time=False,
        )
        try:
            await asyncio.wait_for(client.connect(login=False, log_errors=False), API_TIMEOUT)
            info = await asyncio.wait_for(client.device_info(), API_TIMEOUT)
        except Exception as err:
            client.force_disconnect()
            _cause, words = describe_error(err, host=proxy.host, port=proxy.port)
            raise GattError(f"{self.name}: {words}") from err
        api_version = client.api_version
        assert api_version is not None
        flags = int(info.bluetooth_proxy_feature_flags_compat(api_version))
        if not flags & _ACTIVE or not flags & _CACHING:
            await client.disconnect()
            raise GattError(
                f"{self.name} makes no connections to sensors: set `bluetooth_proxy: active: "
                "true` in its YAML (ESPHome 2022.12 or later)"
            )
        return client, flags

    async def connect(self, mac: str, timeout: float) -> EsphomeLink:
        mac = display_mac(mac)
        address = int(mac.replace(":", ""), 16)
        client, flags = await self._session()
        state: dict[str, int | bool] = {"connected": False, "error": 0}
        link: EsphomeLink | None = None

        def on_state(connected: bool, _mtu: int, error: int) -> None:
            state["connected"] = connected
            state["error"] = error
            if link is not None and not connected:
                link.connected = False

        try:
            await client.bluetooth_device_connect(
                address,
                on_state,
                timeout=timeout,
                feature_flags=flags,
                has_cache=False,
                address_type=self.address_type,
            )
            if not state["connected"]:
                raise GattError(
                    f"cannot connect to {mac} through {self.name} (error {state['error']}): "
                    "is it in range of the proxy and advertising?"
                )
            services = await client.bluetooth_gatt_get_services(address)
        except GattError:
            await _leave(client)
            raise
        except (APIConnectionError, TimeoutError) as err:
            await _leave(client)
            raise GattError(f"cannot connect to {mac} through {self.name}: {_reason(err)}") from err
        chars: dict[tuple[str, str], _Char] = {}
        for service in services.services:
            for char in service.characteristics:
                cccd = next((d.handle for d in char.descriptors if d.uuid == _CCCD), None)
                key = (service.uuid.lower(), char.uuid.lower())
                chars.setdefault(key, _Char(char.handle, char.properties, cccd))
        link = EsphomeLink(client, address, mac, chars)
        return link


async def _leave(client: APIClient) -> None:
    with contextlib.suppress(APIConnectionError, TimeoutError, OSError):
        await asyncio.wait_for(client.disconnect(), API_TIMEOUT)
