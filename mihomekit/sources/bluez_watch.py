"""Watch BlueZ on the D-Bus system bus: is bluetoothd running, is the adapter there and powered.

bleak does not tell when bluetoothd restarts or the adapter goes away: its scanner simply
hears nothing more. :class:`BluezWatch` keeps its own dbus-fast connection and follows what
BlueZ announces — the owner of the name ``org.bluez`` (``NameOwnerChanged``), adapters
appearing and disappearing (``InterfacesAdded``/``InterfacesRemoved`` under ``/org/bluez``)
and their ``Powered``/``PowerState`` (``PropertiesChanged``) — and reports every change as a
:class:`BluezState`. The BLE source stops and restarts its scanner from that.

Only public API of dbus-fast is used (``MessageBus``, ``Message``, message handlers); nothing
of bleak. When the system bus cannot be reached the state is unknown (None) and the watch
tries again every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

_LOGGER = logging.getLogger(__name__)

BLUEZ = "org.bluez"
ADAPTER = "org.bluez.Adapter1"
_DBUS = "org.freedesktop.DBus"
_OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
_PROPERTIES = "org.freedesktop.DBus.Properties"
_ROOT = "/org/bluez/"

_MATCH_RULES = (
    f"type='signal',sender='{_DBUS}',interface='{_DBUS}',member='NameOwnerChanged',arg0='{BLUEZ}'",
    f"type='signal',interface='{_OBJECT_MANAGER}',member='InterfacesAdded',arg0path='{_ROOT}'",
    f"type='signal',interface='{_OBJECT_MANAGER}',member='InterfacesRemoved',arg0path='{_ROOT}'",
    f"type='signal',interface='{_PROPERTIES}',member='PropertiesChanged',arg0='{ADAPTER}',"
    "path_namespace='/org/bluez'",
)

#: Seconds between attempts to reach the system bus (doubling up to RECONNECT_MAX).
RECONNECT_BASE = 2.0
RECONNECT_MAX = 30.0


@dataclass(frozen=True, slots=True)
class BluezState:
    """What BlueZ says about scanning on the watched adapter.

    ``reason`` says why scanning cannot run (None when it can). ``epoch`` grows each time
    bluetoothd (re)appears, the adapter is added or it is powered on: a scanner started in
    an older epoch is dead even if the state is ready again.
    """

    reason: str | None
    epoch: int
    owner: str | None

    @property
    def ready(self) -> bool:
        return self.reason is None


@dataclass(slots=True)
class _Adapter:
    powered: bool
    power_state: str | None


def _props(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, Variant) else v for k, v in values.items()}


class BluezWatch:
    """Follow BlueZ for ``adapter`` (``"hci0"``; None: any powered adapter will do).

    ``on_change`` is called with the new :class:`BluezState` whenever it changes, or with
    None when the system bus connection is lost (state unknown).
    """

    def __init__(self, adapter: str | None, on_change: Callable[[BluezState | None], None]) -> None:
        self._adapter = adapter
        self._on_change = on_change
        self._bus: MessageBus | None = None
        self._owner: str | None = None
        self._adapters: dict[str, _Adapter] = {}
        self._seen: set[str] = set()
        self._epoch = 0
        self._state: BluezState | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        #: Why the system bus cannot be reached (None while connected).
        self.bus_error: str | None = None

    @property
    def state(self) -> BluezState | None:
        """The current state; None while the system bus is not reachable."""
        return self._state

    async def start(self) -> None:
        """Connect and read the current state; never raises (see :attr:`bus_error`)."""
        self._stopping = False
        if not await self._connect():
            self._task = asyncio.create_task(self._reconnect(), name="mihomekit-bluez-watch")

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.disconnect()

    # -- connection --------------------------------------------------------------------

    async def _connect(self) -> bool:
        bus = MessageBus(bus_type=BusType.SYSTEM)
        try:
            await bus.connect()
            bus.add_message_handler(self._on_message)
            for rule in _MATCH_RULES:
                await self._call_dbus(bus, "AddMatch", "s", [rule])
            owner = await self._name_owner(bus)
            objects = await self._managed_objects(bus) if owner else {}
        except Exception as err:
            bus.disconnect()
            text = str(err) or type(err).__name__
            if self.bus_error != text:
                _LOGGER.debug("cannot watch BlueZ on the system bus: %s", text)
            self.bus_error = text
            return False
        self.bus_error = None
        self._bus = bus
        self._owner = owner
        self._adapters = {}
        for path, interfaces in objects.items():
            if ADAPTER in interfaces:
                self._add_adapter(path, _props(interfaces[ADAPTER]))
        self._epoch += 1
        self._state = BluezState(self._reason(), self._epoch, self._owner)
        self._task = asyncio.create_task(self._watch_bus(bus), name="mihomekit-bluez-watch")
        return True

    async def _watch_bus(self, bus: MessageBus) -> None:
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        if self._stopping:
            return
        _LOGGER.debug("lost the system bus connection that watches BlueZ")
        self._bus = None
        self._state = None
        self._on_change(None)
        self._task = asyncio.create_task(self._reconnect(), name="mihomekit-bluez-watch")

    async def _reconnect(self) -> None:
        delay = RECONNECT_BASE
        while not self._stopping:
            await asyncio.sleep(delay)
            if await self._connect():
                self._on_change(self._state)
                return
            delay = min(delay * 2, RECONNECT_MAX)

    @staticmethod
    async def _call_dbus(bus: MessageBus, member: str, signature: str, body: list[Any]) -> Message:
        reply = await bus.call(
            Message(
                destination=_DBUS,
                path="/org/freedesktop/DBus",
                interface=_DBUS,
                member=member,
                signature=signature,
                body=body,
            )
        )
        assert reply is not None
        return reply

    async def _name_owner(self, bus: MessageBus) -> str | None:
        reply = await self._call_dbus(bus, "GetNameOwner", "s", [BLUEZ])
        if reply.message_type is MessageType.METHOD_RETURN:
            return str(reply.body[0])
        return None

    @staticmethod
    async def _managed_objects(bus: MessageBus) -> dict[str, dict[str, dict[str, Any]]]:
        reply = await bus.call(
            Message(
                destination=BLUEZ, path="/", interface=_OBJECT_MANAGER, member="GetManagedObjects"
            )
        )
        if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
            return {}
        objects: dict[str, dict[str, dict[str, Any]]] = reply.body[0]
        return objects

    # -- signals -----------------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:
        if msg.message_type is not MessageType.SIGNAL:
            return
        member = msg.member
        if member == "NameOwnerChanged" and msg.sender == _DBUS:
            name, _old, new = msg.body
            if name == BLUEZ:
                self._owner = new or None
                self._adapters = {}
                if self._owner is not None:
                    self._epoch += 1
                self._publish()
            return
        if msg.sender is None or msg.sender != self._owner:
            return
        if member == "InterfacesAdded":
            path, interfaces = msg.body
            if ADAPTER in interfaces:
                self._add_adapter(path, _props(interfaces[ADAPTER]))
                self._epoch += 1
                self._publish()
        elif member == "InterfacesRemoved":
            path, interfaces = msg.body
            if ADAPTER in interfaces and self._adapters.pop(path, None) is not None:
                self._publish()
        elif member == "PropertiesChanged":
            adapter = self._adapters.get(msg.path or "")
            if adapter is None:
                return
            _interface, changed, _invalidated = msg.body
            values = _props(changed)
            if "Powered" in values:
                powered = bool(values["Powered"])
                if powered and not adapter.powered:
                    self._epoch += 1
                adapter.powered = powered
            if "PowerState" in values:
                adapter.power_state = str(values["PowerState"])
            self._publish()

    def _add_adapter(self, path: str, props: dict[str, Any]) -> None:
        self._seen.add(path)
        state = props.get("PowerState")
        self._adapters[path] = _Adapter(
            bool(props.get("Powered")), None if state is None else str(state)
        )

    # -- state -------------------------------------------------------------------------

    def _reason(self) -> str | None:
        if self._owner is None:
            return "bluetoothd is not running"
        if self._adapter is None:
            if any(a.powered for a in self._adapters.values()):
                return None
            if not self._adapters:
                return "BlueZ lists no adapter"
            path, first = sorted(self._adapters.items())[0]
            return self._off_reason(path.rsplit("/", 1)[-1], first)
        path = f"/org/bluez/{self._adapter}"
        adapter = self._adapters.get(path)
        if adapter is None:
            return f"adapter {self._adapter} " + ("gone" if path in self._seen else "not found")
        if adapter.powered:
            return None
        return self._off_reason(self._adapter, adapter)

    @staticmethod
    def _off_reason(name: str, adapter: _Adapter) -> str:
        if adapter.power_state == "off-blocked":
            return f"adapter {name} blocked (rfkill; try: rfkill unblock bluetooth)"
        return f"adapter {name} powered off"

    def _publish(self) -> None:
        state = BluezState(self._reason(), self._epoch, self._owner)
        if state != self._state:
            self._state = state
            self._on_change(state)


__all__ = ["BluezState", "BluezWatch"]
