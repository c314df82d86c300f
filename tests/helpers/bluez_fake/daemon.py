"""One run of the fake bluetoothd: its own D-Bus connection owning ``org.bluez``.

A restart is a new :class:`Bluetoothd` (a new connection, so a new unique name); what was
registered with the old one (discovery sessions, monitors, notifications) is gone with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbus_fast import Message, MessageType, NameFlag, RequestNameReply, Variant, unpack_variants
from dbus_fast.aio import MessageBus

from .air import Advertisement, Pattern, full_uuid, matches
from .gatt import CCCD_UUID, AttError, GattCharacteristic, Peripheral
from .tree import OBJECT_MANAGER, PROPERTIES, ObjectTree, Properties

if TYPE_CHECKING:
    from .bluez import Controller, FakeBluez

BLUEZ = "org.bluez"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
MONITOR_MANAGER = "org.bluez.AdvertisementMonitorManager1"
MONITOR = "org.bluez.AdvertisementMonitor1"
SERVICE = "org.bluez.GattService1"
CHARACTERISTIC = "org.bluez.GattCharacteristic1"
DESCRIPTOR = "org.bluez.GattDescriptor1"
DBUS = "org.freedesktop.DBus"

FILTER_KEYS = ("UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern")

Reply = Message | Coroutine[Any, Any, Message]


class BluezError(Exception):
    """A D-Bus error reply (name and text as BlueZ sends them)."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(f"{name}: {text}")
        self.name = name
        self.text = text


def not_ready() -> BluezError:
    return BluezError("org.bluez.Error.NotReady", "Resource Not Ready")


def failed(text: str) -> BluezError:
    return BluezError("org.bluez.Error.Failed", text)


def unknown_method(msg: Message) -> BluezError:
    return BluezError(
        f"{DBUS}.Error.UnknownMethod",
        f'Method "{msg.member}" with signature "{msg.signature}" on interface '
        f'"{msg.interface}" doesn\'t exist',
    )


@dataclass(frozen=True, slots=True)
class Call:
    """A method call a client made on ``org.bluez`` (``args`` without D-Bus variants)."""

    sender: str
    path: str
    interface: str
    member: str
    args: tuple[Any, ...]


@dataclass(slots=True)
class MonitorApp:
    """A client's RegisterMonitor(root): the monitors BlueZ activated, by object path."""

    sender: str
    root: str
    monitors: dict[str, list[Pattern]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    found: set[tuple[str, str]] = field(default_factory=set)


@dataclass(slots=True)
class AdapterState:
    controller: Controller
    path: str
    filters: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    apps: dict[tuple[str, str], MonitorApp] = field(default_factory=dict)


@dataclass(slots=True)
class Link:
    """A connection to a peripheral and its GATT objects."""

    peripheral: Peripheral
    device_path: str
    chars: dict[str, GattCharacteristic] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # characteristic UUID → path
    descriptors: dict[str, str] = field(default_factory=dict)  # CCCD path → char path
    notify: dict[str, set[str]] = field(default_factory=dict)  # char path → senders


def _v(signature: str, value: Any) -> Variant:
    return Variant(signature, value)


def device_path(adapter_path: str, address: str) -> str:
    return f"{adapter_path}/dev_{address.upper().replace(':', '_')}"


class Bluetoothd:
    """The D-Bus side of BlueZ for one daemon run (see the package docstring)."""

    def __init__(self, world: FakeBluez) -> None:
        self.world = world
        self.bus: MessageBus | None = None
        self.tree = ObjectTree(self._send)
        self.adapters: dict[str, AdapterState] = {}
        self.links: dict[str, Link] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._methods: dict[tuple[str, str], Callable[[Message], Reply]] = {
            (ADAPTER, "SetDiscoveryFilter"): self._set_discovery_filter,
            (ADAPTER, "StartDiscovery"): self._start_discovery,
            (ADAPTER, "StopDiscovery"): self._stop_discovery,
            (ADAPTER, "RemoveDevice"): self._remove_device,
            (ADAPTER, "GetDiscoveryFilters"): self._get_discovery_filters,
            (MONITOR_MANAGER, "RegisterMonitor"): self._register_monitor,
            (MONITOR_MANAGER, "UnregisterMonitor"): self._unregister_monitor,
            (DEVICE, "Connect"): self._connect,
            (DEVICE, "Disconnect"): self._disconnect,
            (DEVICE, "Pair"): self._pair,
            (DEVICE, "CancelPairing"): self._ok,
            (CHARACTERISTIC, "ReadValue"): self._read_value,
            (CHARACTERISTIC, "WriteValue"): self._write_value,
            (CHARACTERISTIC, "StartNotify"): self._start_notify,
            (CHARACTERISTIC, "StopNotify"): self._stop_notify,
            (DESCRIPTOR, "ReadValue"): self._read_descriptor,
        }
        self._setters: dict[tuple[str, str], Callable[[str, Any], None]] = {
            (ADAPTER, "Powered"): self._set_powered_property,
            (ADAPTER, "Alias"): lambda path, v: self.tree.update(
                path, ADAPTER, {"Alias": _v("s", v)}
            ),
            (DEVICE, "Trusted"): lambda path, v: self.tree.update(
                path, DEVICE, {"Trusted": _v("b", v)}
            ),
            (DEVICE, "Alias"): lambda path, v: self.tree.update(
                path, DEVICE, {"Alias": _v("s", v)}
            ),
        }

    # -- life ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.bus is not None and self.bus.connected

    @property
    def unique_name(self) -> str | None:
        return None if self.bus is None else self.bus.unique_name

    async def start(self) -> None:
        bus = MessageBus(bus_address=self.world.address)
        await bus.connect()
        self.bus = bus
        bus.add_message_handler(self._on_message)
        for rule in (
            f"type='signal',sender='{DBUS}',interface='{DBUS}',member='NameOwnerChanged'",
            f"type='signal',interface='{OBJECT_MANAGER}'",
        ):
            await self._dbus_call("AddMatch", "s", [rule])
        reply = await bus.request_name(BLUEZ, NameFlag.DO_NOT_QUEUE)
        if reply is not RequestNameReply.PRIMARY_OWNER:
            raise RuntimeError(f"org.bluez is taken ({reply})")
        self.tree.add(
            "/org/bluez", {"org.bluez.AgentManager1": {}, "org.bluez.ProfileManager1": {}}
        )
        for controller in self.world.controllers.values():
            self.add_adapter(controller)
        await self.flush()

    async def stop(self) -> None:
        """A clean exit: devices, then adapters removed (signalled), the name released."""
        for name in list(self.adapters):
            self.remove_adapter(name)
        self.tree.remove("/org/bluez")
        await self.flush()
        if self.bus is not None:
            await self.bus.release_name(BLUEZ)
        await self.crash()

    async def crash(self) -> None:
        """Gone at once: no signal, the connection closed."""
        for task in list(self._tasks):
            task.cancel()
        bus, self.bus = self.bus, None
        if bus is not None:
            bus.disconnect()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(bus.wait_for_disconnect(), 5)
        self.tree.clear()
        self.adapters.clear()
        self.links.clear()

    async def flush(self) -> None:
        """Return once everything sent so far has reached the bus daemon."""
        if self.running:
            await self._dbus_call("GetId", "", [])

    async def _dbus_call(self, member: str, signature: str, body: list[Any]) -> Message:
        assert self.bus is not None
        reply = await self.bus.call(
            Message(
                destination=DBUS,
                path="/org/freedesktop/DBus",
                interface=DBUS,
                member=member,
                signature=signature,
                body=body,
            )
        )
        assert reply is not None and reply.message_type is MessageType.METHOD_RETURN, reply
        return reply

    def _send(self, msg: Message) -> None:
        if self.running:
            assert self.bus is not None
            self.bus.send(msg)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            with contextlib.suppress(Exception):
                await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call_client(
        self, sender: str, path: str, interface: str, member: str, *body: Any
    ) -> Message | None:
        if not self.running:
            return None
        assert self.bus is not None
        signature = "o" if body else ""
        return await self.bus.call(
            Message(
                destination=sender,
                path=path,
                interface=interface,
                member=member,
                signature=signature,
                body=list(body),
            )
        )

    # -- dispatch -----------------------------------------------------------------------

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type is MessageType.SIGNAL:
            self._on_signal(msg)
            return False
        if msg.message_type is not MessageType.METHOD_CALL:
            return False
        if msg.interface in (f"{DBUS}.Introspectable", f"{DBUS}.Peer"):
            return False
        self.world.calls.append(
            Call(
                msg.sender or "",
                msg.path or "",
                msg.interface or "",
                msg.member or "",
                tuple(unpack_variants(list(msg.body))),
            )
        )
        try:
            result = self._dispatch(msg)
        except BluezError as err:
            self._send(Message.new_error(msg, err.name, err.text))
            return True
        if isinstance(result, Message):
            self._send(result)
        else:
            self._spawn(self._reply_later(msg, result))
        return True

    async def _reply_later(self, msg: Message, pending: Coroutine[Any, Any, Message]) -> None:
        try:
            reply = await pending
        except BluezError as err:
            reply = Message.new_error(msg, err.name, err.text)
        self._send(reply)

    def _dispatch(self, msg: Message) -> Reply:
        path, interface, member = msg.path or "", msg.interface or "", msg.member or ""
        if interface == OBJECT_MANAGER:
            if member == "GetManagedObjects" and path == "/":
                return Message.new_method_return(
                    msg, "a{oa{sa{sv}}}", [self.tree.managed_objects()]
                )
            raise unknown_method(msg)
        if interface == PROPERTIES:
            return self._properties(msg)
        if path not in self.tree:
            raise BluezError(
                f"{DBUS}.Error.UnknownObject", f'Method "{member}" on "{path}" doesn\'t exist'
            )
        handler = self._methods.get((interface, member))
        if handler is None or interface not in self.tree.interfaces(path):
            raise unknown_method(msg)
        return handler(msg)

    def _properties(self, msg: Message) -> Message:
        path = msg.path or ""
        if path not in self.tree:
            raise BluezError(f"{DBUS}.Error.UnknownObject", f"No object at {path}")
        interface = msg.body[0]
        props = self.tree.interfaces(path).get(interface)
        if props is None:
            raise BluezError(f"{DBUS}.Error.InvalidArgs", f"No such interface '{interface}'")
        if msg.member == "GetAll":
            return Message.new_method_return(msg, "a{sv}", [props])
        name = msg.body[1]
        if msg.member == "Get":
            if name not in props:
                raise BluezError(f"{DBUS}.Error.InvalidArgs", f"No such property '{name}'")
            return Message.new_method_return(msg, "v", [props[name]])
        if msg.member == "Set":
            setter = self._setters.get((interface, name))
            if setter is None:
                raise BluezError(
                    f"{DBUS}.Error.PropertyReadOnly", f"Property '{name}' is not writable"
                )
            setter(path, msg.body[2].value)
            return Message.new_method_return(msg)
        raise unknown_method(msg)

    def _on_signal(self, msg: Message) -> None:
        if msg.member == "NameOwnerChanged" and msg.sender == DBUS:
            name, _old, new = msg.body
            if name.startswith(":") and not new:
                self._client_gone(name)
        elif msg.interface == OBJECT_MANAGER and msg.member == "InterfacesAdded":
            path, interfaces = msg.body
            if MONITOR in interfaces:
                for app in self._apps_of(msg.sender or "", path):
                    props = unpack_variants(interfaces[MONITOR])
                    self._spawn(self._take_monitor(app, path, props))
        elif msg.interface == OBJECT_MANAGER and msg.member == "InterfacesRemoved":
            path, interfaces = msg.body
            if MONITOR in interfaces:
                for app in self._apps_of(msg.sender or "", path):
                    app.monitors.pop(path, None)

    def _apps_of(self, sender: str, path: str) -> list[MonitorApp]:
        return [
            app
            for adapter in self.adapters.values()
            for app in adapter.apps.values()
            if app.sender == sender and (path == app.root or path.startswith(app.root + "/"))
        ]

    def _client_gone(self, name: str) -> None:
        for adapter in self.adapters.values():
            adapter.filters.pop(name, None)
            adapter.sessions.pop(name, None)
            for key in [key for key in adapter.apps if key[0] == name]:
                del adapter.apps[key]
            self._update_discovering(adapter)
        for link in self.links.values():
            for char_path, senders in link.notify.items():
                if name in senders:
                    senders.discard(name)
                    if not senders:
                        self._notifying(link, char_path, False)

    @staticmethod
    def _ok(msg: Message) -> Message:
        return Message.new_method_return(msg)

    # -- adapters -----------------------------------------------------------------------

    def add_adapter(self, controller: Controller) -> None:
        path = f"/org/bluez/{controller.name}"
        state = AdapterState(controller, path)
        self.adapters[controller.name] = state
        interfaces: dict[str, Properties] = {
            ADAPTER: {
                "Address": _v("s", controller.address),
                "AddressType": _v("s", "public"),
                "Name": _v("s", f"mihomekit-test-{controller.name}"),
                "Alias": _v("s", f"mihomekit-test-{controller.name}"),
                "Class": _v("u", 0),
                "Powered": _v("b", controller.powered),
                "PowerState": _v("s", controller.power_state),
                "Discoverable": _v("b", False),
                "DiscoverableTimeout": _v("u", 180),
                "Pairable": _v("b", False),
                "PairableTimeout": _v("u", 0),
                "Discovering": _v("b", False),
                "UUIDs": _v("as", []),
                "Modalias": _v("s", "usb:v1D6Bp0246d0540"),
                "Roles": _v("as", ["central", "peripheral"]),
            },
            "org.bluez.GattManager1": {},
            "org.bluez.LEAdvertisingManager1": {},
        }
        if self.world.monitor != "unknown-method":
            interfaces[ADAPTER]["ExperimentalFeatures"] = _v("as", [])
            interfaces[MONITOR_MANAGER] = {
                "SupportedMonitorTypes": _v("as", ["or_patterns"]),
                "SupportedFeatures": _v("as", []),
            }
        self.tree.add(path, interfaces)

    def remove_adapter(self, name: str) -> None:
        state = self.adapters.pop(name, None)
        if state is None:
            return
        for path in [p for p in self.links if p.startswith(state.path + "/")]:
            self._drop_link(self.links[path])
        self.tree.remove_below(state.path)

    def set_powered(self, name: str) -> None:
        """Tell the objects the controller's (new) power state."""
        state = self.adapters.get(name)
        if state is None:
            return
        controller = state.controller
        self.tree.update(
            state.path,
            ADAPTER,
            {"Powered": _v("b", controller.powered), "PowerState": _v("s", controller.power_state)},
        )
        if not controller.powered:
            state.sessions.clear()
            self._update_discovering(state)
            for path in [p for p in self.links if p.startswith(state.path + "/")]:
                self._drop_link(self.links[path])

    def _set_powered_property(self, path: str, value: Any) -> None:
        state = self._adapter_at(path)
        if value and state.controller.blocked:
            raise BluezError("org.bluez.Error.Blocked", "Blocked through rfkill")
        state.controller.powered = bool(value)
        self.set_powered(state.controller.name)

    def _adapter_at(self, path: str) -> AdapterState:
        for state in self.adapters.values():
            if state.path == path:
                return state
        raise BluezError(f"{DBUS}.Error.UnknownObject", f"No adapter at {path}")

    def _powered_adapter(self, msg: Message) -> AdapterState:
        state = self._adapter_at(msg.path or "")
        if not state.controller.powered:
            raise not_ready()
        return state

    def _set_discovery_filter(self, msg: Message) -> Message:
        state = self._powered_adapter(msg)
        wanted = unpack_variants(msg.body[0])
        if any(key not in FILTER_KEYS for key in wanted):
            raise BluezError("org.bluez.Error.InvalidArguments", "Invalid arguments in method call")
        sender = msg.sender or ""
        if wanted:
            state.filters[sender] = wanted
        else:
            state.filters.pop(sender, None)
        if sender in state.sessions:
            state.sessions[sender] = wanted
        return Message.new_method_return(msg)

    def _start_discovery(self, msg: Message) -> Message:
        state = self._powered_adapter(msg)
        sender = msg.sender or ""
        if sender in state.sessions:
            raise BluezError("org.bluez.Error.InProgress", "Operation already in progress")
        state.sessions[sender] = dict(state.filters.get(sender, {}))
        self._update_discovering(state)
        return Message.new_method_return(msg)

    def _stop_discovery(self, msg: Message) -> Message:
        state = self._powered_adapter(msg)
        if state.sessions.pop(msg.sender or "", None) is None:
            raise failed("No discovery started")
        self._update_discovering(state)
        return Message.new_method_return(msg)

    def _get_discovery_filters(self, msg: Message) -> Message:
        return Message.new_method_return(msg, "as", [list(FILTER_KEYS)])

    def _update_discovering(self, state: AdapterState) -> None:
        on = bool(state.sessions)
        if self.tree.update(state.path, ADAPTER, {"Discovering": _v("b", on)}) and not on:
            for path in list(self.tree.objects):
                if path.startswith(state.path + "/dev_") and DEVICE in self.tree.interfaces(path):
                    self.tree.update(path, DEVICE, {}, ["RSSI", "TxPower"])

    def _remove_device(self, msg: Message) -> Message:
        state = self._adapter_at(msg.path or "")
        path = msg.body[0]
        if not path.startswith(state.path + "/") or DEVICE not in self.tree.interfaces(path):
            raise BluezError("org.bluez.Error.DoesNotExist", "Does Not Exist")
        link = self.links.get(path)
        if link is not None:
            self._drop_link(link)
        self.tree.remove_below(path)
        return Message.new_method_return(msg)

    # -- advertisement monitors ------------------------------------------------------------

    def _register_monitor(self, msg: Message) -> Message:
        state = self._adapter_at(msg.path or "")
        if self.world.monitor == "not-supported":
            raise BluezError("org.bluez.Error.NotSupported", "Operation is not supported")
        root = msg.body[0]
        key = (msg.sender or "", root)
        if key in state.apps:
            raise BluezError("org.bluez.Error.AlreadyExists", "Already Exists")
        app = MonitorApp(key[0], root)
        state.apps[key] = app
        self._spawn(self._read_monitors(app))
        return Message.new_method_return(msg)

    def _unregister_monitor(self, msg: Message) -> Message:
        state = self._adapter_at(msg.path or "")
        if state.apps.pop((msg.sender or "", msg.body[0]), None) is None:
            raise BluezError("org.bluez.Error.DoesNotExist", "Does Not Exist")
        return Message.new_method_return(msg)

    async def _read_monitors(self, app: MonitorApp) -> None:
        reply = await self._call_client(app.sender, app.root, OBJECT_MANAGER, "GetManagedObjects")
        if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
            return
        for path, interfaces in reply.body[0].items():
            if MONITOR in interfaces:
                await self._take_monitor(app, path, unpack_variants(interfaces[MONITOR]))

    async def _take_monitor(self, app: MonitorApp, path: str, props: dict[str, Any]) -> None:
        if path in app.seen:
            return
        app.seen.add(path)
        patterns = props.get("Patterns") or []
        if props.get("Type") != "or_patterns" or not patterns:
            await self._call_client(app.sender, path, MONITOR, "Release")
            return
        reply = await self._call_client(app.sender, path, MONITOR, "Activate")
        if reply is not None and reply.message_type is MessageType.METHOD_RETURN:
            app.monitors[path] = [(int(s), int(t), bytes(c)) for s, t, c in patterns]

    def active_monitors(self, adapter: str) -> list[list[Pattern]]:
        state = self.adapters.get(adapter)
        if state is None:
            return []
        return [patterns for app in state.apps.values() for patterns in app.monitors.values()]

    # -- advertisements -----------------------------------------------------------------

    def deliver(self, adv: Advertisement, adapter: str) -> bool:
        """An advertisement heard by ``adapter``: reported if a discovery session accepts it or
        an active monitor's pattern matches. True if BlueZ reported it."""
        state = self.adapters.get(adapter)
        if state is None or not state.controller.powered:
            return False
        wanted = any(self._accepts(f, adv) for f in state.sessions.values())
        monitors = [
            (app, path)
            for app in state.apps.values()
            for path, patterns in app.monitors.items()
            if matches(patterns, adv)
        ]
        if not wanted and not monitors:
            return False
        path = device_path(state.path, adv.address)
        self._update_device(state, path, adv)
        for app, monitor in monitors:
            if (monitor, path) not in app.found:
                app.found.add((monitor, path))
                self._spawn(self._call_client(app.sender, monitor, MONITOR, "DeviceFound", path))
        return True

    @staticmethod
    def _accepts(wanted: dict[str, Any], adv: Advertisement) -> bool:
        rssi = wanted.get("RSSI")
        if rssi is not None and adv.rssi < rssi:
            return False
        uuids = wanted.get("UUIDs")
        if uuids and not {full_uuid(u) for u in uuids} & adv.advertised_uuids():
            return False
        pattern = wanted.get("Pattern")
        return (
            not pattern or adv.address.startswith(pattern) or (adv.name or "").startswith(pattern)
        )

    def _update_device(self, state: AdapterState, path: str, adv: Advertisement) -> None:
        address = adv.address.upper()
        props: Properties = {"RSSI": _v("n", adv.rssi)}
        if adv.name is not None:
            props["Name"] = _v("s", adv.name)
            props["Alias"] = _v("s", adv.name)
        if adv.tx_power is not None:
            props["TxPower"] = _v("n", adv.tx_power)
        if adv.flags is not None:
            props["AdvertisingFlags"] = _v("ay", bytes([adv.flags]))
        existing = self.tree.interfaces(path).get(DEVICE)
        old_data: dict[str, Variant] = (
            dict(existing["ServiceData"].value) if existing and "ServiceData" in existing else {}
        )
        old_makers: dict[int, Variant] = (
            dict(existing["ManufacturerData"].value)
            if existing and "ManufacturerData" in existing
            else {}
        )
        old_uuids: list[str] = list(existing["UUIDs"].value) if existing else []
        data = {**old_data, **{u: _v("ay", d) for u, d in adv.service_data_by_uuid().items()}}
        makers = {**old_makers, **{c: _v("ay", bytes(d)) for c, d in adv.manufacturer_data.items()}}
        if data:
            props["ServiceData"] = _v("a{sv}", data)
        if makers:
            props["ManufacturerData"] = _v("a{qv}", makers)
        uuids = sorted(set(old_uuids) | {full_uuid(u) for u in adv.service_uuids})
        props["UUIDs"] = _v("as", uuids)
        if existing is not None:
            self.tree.update(path, DEVICE, props)
            return
        device: Properties = {
            "Address": _v("s", address),
            "AddressType": _v("s", adv.address_type),
            "Alias": _v("s", address.replace(":", "-")),
            "Paired": _v("b", False),
            "Bonded": _v("b", False),
            "Trusted": _v("b", False),
            "Blocked": _v("b", False),
            "LegacyPairing": _v("b", False),
            "Connected": _v("b", False),
            "ServicesResolved": _v("b", False),
            "Adapter": _v("o", state.path),
            **props,
        }
        self.tree.add(path, {DEVICE: device})

    # -- connections and GATT ---------------------------------------------------------------

    def _device_adapter(self, path: str) -> AdapterState:
        return self._adapter_at(path.rsplit("/", 1)[0])

    def _connect(self, msg: Message) -> Reply:
        path = msg.path or ""
        state = self._device_adapter(path)
        if path in self.links:
            raise BluezError("org.bluez.Error.AlreadyConnected", "Already Connected")
        if not state.controller.powered:
            raise not_ready()
        address = self.tree.value(path, DEVICE, "Address")
        peripheral = self.world.peripherals.get(address)
        if (
            peripheral is None
            or not peripheral.reachable
            or peripheral.adapter != state.controller.name
        ):
            raise failed("Software caused connection abort")
        return self._connected(msg, peripheral, path)

    async def _connected(self, msg: Message, peripheral: Peripheral, path: str) -> Message:
        link = Link(peripheral, path)
        self.links[path] = link
        self.tree.update(path, DEVICE, {"Connected": _v("b", True)})
        handle = 0x000A
        for service in peripheral.services:
            service_path = f"{path}/service{handle:04x}"
            self.tree.add(
                service_path,
                {
                    SERVICE: {
                        "UUID": _v("s", service.uuid),
                        "Device": _v("o", path),
                        "Primary": _v("b", service.primary),
                        "Includes": _v("ao", []),
                        "Handle": _v("q", handle),
                    }
                },
            )
            handle += 1
            for char in service.characteristics:
                char_path = f"{service_path}/char{handle:04x}"
                props: Properties = {
                    "UUID": _v("s", char.uuid),
                    "Service": _v("o", service_path),
                    "Value": _v("ay", b""),
                    "Flags": _v("as", list(char.flags)),
                    "MTU": _v("q", 247),
                    "Handle": _v("q", handle + 1),
                }
                if char.notifies:
                    props["Notifying"] = _v("b", False)
                self.tree.add(char_path, {CHARACTERISTIC: props})
                link.chars[char_path] = char
                link.paths.setdefault(str(char.uuid), char_path)
                handle += 2
                if char.notifies:
                    desc_path = f"{char_path}/desc{handle:04x}"
                    self.tree.add(
                        desc_path,
                        {
                            DESCRIPTOR: {
                                "UUID": _v("s", CCCD_UUID),
                                "Characteristic": _v("o", char_path),
                                "Value": _v("ay", b""),
                                "Flags": _v("as", ["read", "write"]),
                                "Handle": _v("q", handle),
                            }
                        },
                    )
                    link.descriptors[desc_path] = char_path
                    handle += 1
        self.tree.update(path, DEVICE, {"ServicesResolved": _v("b", True)})
        await peripheral.connected_event(True)
        return Message.new_method_return(msg)

    def _disconnect(self, msg: Message) -> Message:
        link = self.links.get(msg.path or "")
        if link is not None:
            self._drop_link(link)
        return Message.new_method_return(msg)

    def _drop_link(self, link: Link) -> None:
        path = link.device_path
        if self.links.pop(path, None) is None:
            return
        self.tree.update(path, DEVICE, {"ServicesResolved": _v("b", False)})
        self.tree.remove_below(path, include_self=False)
        self.tree.update(path, DEVICE, {"Connected": _v("b", False)})
        self._spawn(link.peripheral.connected_event(False))

    def _pair(self, msg: Message) -> Message:
        path = msg.path or ""
        self.tree.update(path, DEVICE, {"Paired": _v("b", True), "Bonded": _v("b", True)})
        return Message.new_method_return(msg)

    def link_of(self, peripheral: Peripheral) -> Link | None:
        for link in self.links.values():
            if link.peripheral is peripheral:
                return link
        return None

    def _char(self, msg: Message) -> tuple[Link, str, GattCharacteristic]:
        char_path = msg.path or ""
        link = self.links.get(char_path.split("/service", 1)[0])
        if link is None or char_path not in link.chars:
            raise failed("Not connected")
        return link, char_path, link.chars[char_path]

    def _read_value(self, msg: Message) -> Reply:
        link, char_path, char = self._char(msg)
        if "read" not in char.flags:
            raise BluezError("org.bluez.Error.NotPermitted", "Read not permitted")
        return self._read(msg, link, char_path, char)

    async def _read(
        self, msg: Message, link: Link, char_path: str, char: GattCharacteristic
    ) -> Message:
        try:
            value = await link.peripheral.read(str(char.uuid))
        except AttError as err:
            raise failed(f"Operation failed with ATT error: 0x{err.code:02x}") from err
        self.tree.update(char_path, CHARACTERISTIC, {"Value": _v("ay", value)})
        return Message.new_method_return(msg, "ay", [value])

    def _write_value(self, msg: Message) -> Reply:
        link, _, char = self._char(msg)
        data, options = bytes(msg.body[0]), unpack_variants(msg.body[1])
        kind = options.get("type") or ("request" if "write" in char.flags else "command")
        needed = "write" if kind == "request" else "write-without-response"
        if needed not in char.flags:
            raise BluezError("org.bluez.Error.NotPermitted", "Write not permitted")
        return self._write(msg, link, char, data, kind == "request")

    async def _write(
        self, msg: Message, link: Link, char: GattCharacteristic, data: bytes, response: bool
    ) -> Message:
        try:
            await link.peripheral.write(str(char.uuid), data, response)
        except AttError as err:
            raise failed(f"Operation failed with ATT error: 0x{err.code:02x}") from err
        return Message.new_method_return(msg)

    def _start_notify(self, msg: Message) -> Message:
        link, char_path, char = self._char(msg)
        if not char.notifies:
            raise BluezError("org.bluez.Error.NotSupported", "Operation is not supported")
        senders = link.notify.setdefault(char_path, set())
        if msg.sender in senders:
            raise BluezError("org.bluez.Error.InProgress", "Operation already in progress")
        senders.add(msg.sender or "")
        if len(senders) == 1:
            self._notifying(link, char_path, True)
        return Message.new_method_return(msg)

    def _stop_notify(self, msg: Message) -> Message:
        link, char_path, _ = self._char(msg)
        senders = link.notify.get(char_path, set())
        if msg.sender not in senders:
            raise failed("No notify session started")
        senders.discard(msg.sender or "")
        if not senders:
            self._notifying(link, char_path, False)
        return Message.new_method_return(msg)

    def _notifying(self, link: Link, char_path: str, on: bool) -> None:
        self.tree.update(char_path, CHARACTERISTIC, {"Notifying": _v("b", on)})
        for desc_path, owner in link.descriptors.items():
            if owner == char_path:
                value = b"\x01\x00" if on else b"\x00\x00"
                self.tree.update(desc_path, DESCRIPTOR, {"Value": _v("ay", value)})

    def _read_descriptor(self, msg: Message) -> Message:
        value = self.tree.value(msg.path or "", DESCRIPTOR, "Value", b"")
        return Message.new_method_return(msg, "ay", [bytes(value)])

    def notify(self, peripheral: Peripheral, uuid: str, data: bytes) -> bool:
        link = self.link_of(peripheral)
        if link is None:
            return False
        char_path = link.paths.get(uuid)
        if char_path is None or not link.notify.get(char_path):
            return False
        self.tree.update(char_path, CHARACTERISTIC, {"Value": _v("ay", data)}, force=True)
        return True

    def notifying(self, peripheral: Peripheral, uuid: str) -> bool:
        link = self.link_of(peripheral)
        if link is None or uuid not in link.paths:
            return False
        return bool(link.notify.get(link.paths[uuid]))
