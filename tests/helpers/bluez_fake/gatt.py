"""A connectable sensor: its GATT services, characteristics and the test's handler."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .air import full_uuid

if TYPE_CHECKING:
    from .bluez import FakeBluez

CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"


class AttError(Exception):
    """Raise from a handler to answer with an ATT error (``Operation failed with ATT error``)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"ATT error 0x{code:02x}")
        self.code = code


@dataclass(slots=True)
class GattCharacteristic:
    """A characteristic: ``flags`` as BlueZ names them (read, write, write-without-response,
    notify, indicate...); ``value`` is what a read returns when the handler has no ``on_read``."""

    uuid: str | int
    flags: Sequence[str] = ("read",)
    value: bytes = b""

    def __post_init__(self) -> None:
        self.uuid = full_uuid(self.uuid)
        self.flags = list(self.flags)

    @property
    def notifies(self) -> bool:
        return "notify" in self.flags or "indicate" in self.flags


@dataclass(slots=True)
class GattService:
    uuid: str | int
    characteristics: Sequence[GattCharacteristic] = ()
    primary: bool = True

    def __post_init__(self) -> None:
        self.uuid = full_uuid(self.uuid)
        self.characteristics = list(self.characteristics)


@dataclass(slots=True)
class Write:
    """One write the peripheral received."""

    uuid: str
    data: bytes
    with_response: bool


async def call_handler(method: Callable[..., Any] | None, *args: Any) -> Any:
    """Call an optional handler method that may be sync or async."""
    if method is None:
        return None
    result = method(*args)
    if inspect.isawaitable(result):
        return await result
    return result


@dataclass(eq=False)
class Peripheral:
    """A device that accepts connections. ``handler`` may have ``on_read(uuid) -> bytes``,
    ``on_write(uuid, data, with_response)``, ``on_connect()``, ``on_disconnect()`` (each sync
    or async; ``on_read``/``on_write`` may raise :class:`AttError`). Without ``on_read`` a read
    returns the characteristic's ``value``; without ``on_write`` a write stores into it."""

    address: str
    services: list[GattService]
    handler: Any = None
    adapter: str = "hci0"
    #: False: Connect fails as for a device out of range.
    reachable: bool = True
    writes: list[Write] = field(default_factory=list)
    _bluez: FakeBluez | None = None

    def characteristic(self, uuid: str | int) -> GattCharacteristic:
        wanted = full_uuid(uuid)
        for service in self.services:
            for char in service.characteristics:
                if char.uuid == wanted:
                    return char
        raise KeyError(wanted)

    @property
    def connected(self) -> bool:
        return self._bluez is not None and self._bluez.is_connected(self)

    def notifying(self, uuid: str | int) -> bool:
        """True while some client has notifications started on the characteristic."""
        return self._bluez is not None and self._bluez.is_notifying(self, full_uuid(uuid))

    def notify(self, uuid: str | int, data: bytes) -> bool:
        """Send a notification: a PropertiesChanged of ``Value``, only while notifications are
        started (as BlueZ does). True if it was sent."""
        if self._bluez is None:
            return False
        return self._bluez.send_notification(self, full_uuid(uuid), bytes(data))

    def disconnect(self) -> None:
        """The device ends the connection (out of range, went to sleep)."""
        if self._bluez is not None:
            self._bluez.peripheral_disconnected(self)

    async def read(self, uuid: str) -> bytes:
        char = self.characteristic(uuid)
        value = await call_handler(getattr(self.handler, "on_read", None), uuid)
        if value is None:
            return char.value
        char.value = bytes(value)
        return char.value

    async def write(self, uuid: str, data: bytes, with_response: bool) -> None:
        self.writes.append(Write(uuid, data, with_response))
        method: Callable[..., Awaitable[None] | None] | None = getattr(
            self.handler, "on_write", None
        )
        if method is None:
            self.characteristic(uuid).value = data
            return
        await call_handler(method, uuid, data, with_response)

    async def connected_event(self, up: bool) -> None:
        await call_handler(getattr(self.handler, "on_connect" if up else "on_disconnect", None))
