"""The only place that knows HAP-python's names: what mihomekit uses of it, as Protocols.

HAP-python models the accessories (services, characteristics, the ``/accessories``
listing, reads, writes, subscriptions, mDNS); mihomekit subclasses its ``Accessory``,
``Bridge`` and ``AccessoryDriver`` and reaches everything else through the names below.
An upgrade of HAP-python is a checklist: ``tests/homekit/test_hap_python.py`` checks that
every name here exists in the installed HAP-python, methods with compatible parameters
(tested floor 5.2).

Beyond these, :class:`~mihomekit.homekit.driver.BridgeDriver` replaces the driver's
``http_server`` (HAP-python calls its ``async_start(loop)``, ``async_stop()`` and
``push_event(data, client_addr, immediate)``; ``derive_session_key`` reads
``connections``, used only by cameras), overrides ``persist()``, ``load()`` and
``async_persist()`` and extends ``async_start()``, ``async_stop()`` and
``config_changed()``. Not used any more: HAP-python's ``HAPServer``, ``HAPServerHandler``,
``hsrp``, ``setup_srp_verifier``/``srp_verifier``, ``pair``/``unpair`` and its pair-setup
lockout (the same lockout, plus a persisted limit, lives in :mod:`.attempts`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from typing import IO, Any, Protocol

__all__ = [
    "HapAccessory",
    "HapBridge",
    "HapCharacteristic",
    "HapDriver",
    "HapEncoder",
    "HapService",
    "HapState",
    "SetterCallback",
]

#: What a characteristic's (or a service's) setter is called with: the new value (a
#: service's: the new values by characteristic name).
SetterCallback = Callable[[Any], None]


class HapCharacteristic(Protocol):
    """``pyhap.characteristic.Characteristic``."""

    @property
    def display_name(self) -> str | None: ...

    value: Any
    #: The accessory that publishes its changes (None before it is added to one).
    broker: HapAccessory | None

    @property
    def properties(self) -> dict[str, Any]: ...

    def set_value(self, value: Any, should_notify: bool = True) -> None: ...

    def to_valid_value(self, value: Any) -> Any: ...

    def notify(self, sender_client_addr: tuple[str, int] | None = None) -> None: ...


class HapService(Protocol):
    """``pyhap.service.Service``."""

    display_name: str | None
    setter_callback: SetterCallback | None

    def configure_char(
        self,
        char_name: str,
        properties: Any = None,
        valid_values: Any = None,
        value: Any = None,
        setter_callback: Any = None,
        getter_callback: Any = None,
    ) -> HapCharacteristic: ...

    def get_characteristic(self, name: str) -> HapCharacteristic: ...


class HapAccessory(Protocol):
    """``pyhap.accessory.Accessory``."""

    aid: int | None
    display_name: str | None
    driver: HapDriver
    services: list[HapService]

    def add_preload_service(
        self,
        service: str,
        chars: str | Iterable[str] | None = None,
        unique_id: str | int | None = None,
    ) -> HapService: ...

    def get_service(self, name: str) -> HapService | None: ...

    def set_info_service(
        self,
        firmware_revision: str | None = None,
        manufacturer: str | None = None,
        model: str | None = None,
        serial_number: str | None = None,
    ) -> None: ...

    def publish(
        self,
        value: Any,
        sender: Any,
        sender_client_addr: Any = None,
        immediate: bool = False,
    ) -> None: ...

    def reset_accessory_state(self) -> None: ...

    async def run(self) -> None: ...

    async def stop(self) -> None: ...


class HapBridge(HapAccessory, Protocol):
    """``pyhap.accessory.Bridge``: the accessory (aid 1) that holds the bridged ones."""

    accessories: dict[int, HapAccessory]

    def add_accessory(self, acc: HapAccessory) -> None: ...


class HapState(Protocol):
    """``pyhap.state.State``: the pairing state the driver persists."""

    mac: str
    pincode: bytes
    port: int
    setup_id: str
    private_key: Any  # cryptography's Ed25519PrivateKey
    public_key: Any  # cryptography's Ed25519PublicKey
    paired_clients: dict[uuid.UUID, bytes]
    client_properties: dict[uuid.UUID, dict[str, Any]]
    uuid_to_bytes: dict[uuid.UUID, bytes]
    accessory_states: dict[int, dict[str, Any]]

    @property
    def paired(self) -> bool: ...

    def is_admin(self, client_uuid: uuid.UUID) -> bool: ...

    def add_paired_client(
        self, client_username_bytes: bytes, client_public: bytes, perms: bytes
    ) -> None: ...

    def remove_paired_client(self, client_uuid: uuid.UUID) -> None: ...

    def increment_config_version(self) -> None: ...


class HapEncoder(Protocol):
    """``pyhap.encoder.AccessoryEncoder``: the pairing state file's format."""

    def persist(self, fp: IO[str], state: Any) -> None: ...

    def load_into(self, fp: IO[str], state: Any) -> None: ...


class HapDriver(Protocol):
    """``pyhap.accessory_driver.AccessoryDriver``."""

    loop: asyncio.AbstractEventLoop
    state: HapState
    #: The bridge (or single accessory) it serves, once added.
    accessory: HapAccessory | None
    persist_file: str
    encoder: HapEncoder

    def add_accessory(self, accessory: HapAccessory) -> None: ...

    def get_accessories(self, include_value: bool = True) -> dict[str, Any]: ...

    def get_characteristics(self, char_ids: Any) -> dict[str, Any]: ...

    def set_characteristics(
        self, chars_query: dict[str, Any], client_addr: tuple[str, int]
    ) -> dict[str, Any] | None: ...

    def prepare(
        self, prepare_query: dict[str, Any], client_addr: tuple[str, int]
    ) -> dict[str, int]: ...

    def connection_lost(self, client: Any) -> None: ...

    def async_update_advertisement(self) -> None: ...

    def async_add_job(self, target: Any, *args: Any) -> Any: ...

    def config_changed(self) -> None: ...

    def publish(
        self, data: dict[str, Any], sender_client_addr: Any = None, immediate: bool = False
    ) -> None: ...

    def persist(self) -> None: ...

    def load(self) -> None: ...

    def async_persist(self) -> None: ...

    async def async_start(self) -> None: ...

    async def async_stop(self) -> None: ...
