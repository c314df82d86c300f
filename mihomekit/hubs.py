"""The HomeKit bridges this process serves ("hubs"): bridge 1 and child bridges 2, 3, ...

Each :class:`Hub` has its own HAP identity, port, setup code, pairings and aid map (child
bridges keep theirs in ``bridge-N/`` of the state directory). :class:`Hubs` places every
bridged device on one of them (:mod:`mihomekit.placement`), builds their HAP drivers and
bridge accessories, and follows the registry: a device added while running gets an
accessory on a bridge with room (a new child bridge if every other is full), a removed
one leaves HomeKit, a device whose model learned a reading gets its service on the same
accessory. An accessory follows its own device's readings and name itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from .errors import StateError, StateWriteError
from .logthrottle import LogThrottle
from .placement import BridgeRule, Placed, Placement, Slot
from .registry import Device, DeviceAdded, DeviceChanged, DeviceRemoved, Registry, RegistryEvent
from .setupcode import child_setup_code, child_setup_id, qr_for_stream, setup_uri
from .state import BridgeState, bridge_identity, child_state_dir, child_state_dirs, load_state

if TYPE_CHECKING:
    from .accessories import MiBridge
    from .homekit import BridgeDriver

__all__ = ["PORT_SEARCH", "Hub", "HubOptions", "Hubs"]

_LOGGER = logging.getLogger(__name__)

#: How many ports above the highest port in use a new child bridge may look for a free one.
PORT_SEARCH = 200


@dataclass(frozen=True)
class HubOptions:
    """Where and how the bridges are served (from the app's configuration)."""

    state_dir: Path
    address: str
    port: int
    name: str
    listen_address: str | None = None
    zeroconf_interfaces: list[str] | None = None
    child_bridges: bool = True
    rules: Sequence[BridgeRule] = ()
    capacity: int = 149
    print_setup: bool = True
    #: At most this many bridges in all (``[bridge] max_bridges``): what outsiders send
    #: (a Zigbee2MQTT device list) must not make the bridge grow without bound.
    max_bridges: int = 8
    #: Seconds an unpaired bridge accepts pairing after a start or ``pairing open``; 0 =
    #: always (``[bridge] pairing_window``).
    pairing_window: float = 600.0


@dataclass(eq=False)
class Hub:
    """One HomeKit bridge served by this process: bridge 1, or child bridge 2, 3, ..."""

    slot: Slot
    name: str
    port: int
    device_id: str
    setup_code: str
    setup_uri: str
    #: The HAP driver, once built.
    driver: BridgeDriver | None = None
    #: The bridge accessory (aid 1), once built.
    accessory: MiBridge | None = None
    started: bool = False

    @property
    def number(self) -> int:
        return self.slot.number

    @property
    def state(self) -> BridgeState:
        return self.slot.state

    @property
    def paired(self) -> bool:
        return bool(self.driver is not None and self.driver.state.paired)

    @property
    def paired_controllers(self) -> int:
        return 0 if self.driver is None else len(self.driver.state.paired_clients)

    @property
    def served(self) -> int:
        """How many devices this bridge shows HomeKit (once built), else has placed."""
        if self.accessory is not None:
            return len(self.accessory.accessories)
        return len(self.slot.members)


class Hubs:
    """Every bridge served, bridge 1 first, and the devices placed on them."""

    def __init__(
        self,
        options: HubOptions,
        registry: Registry,
        first: Hub,
    ) -> None:
        self.options = options
        self.registry = registry
        #: Every bridge served, bridge 1 first.
        self.all: list[Hub] = [first]
        if options.child_bridges:
            self.all.extend(self._load_children(first.setup_code))
        self.placement = Placement(
            [hub.slot for hub in self.all],
            rules=options.rules,
            capacity=options.capacity,
            new_slot=self._new_child if options.child_bridges else None,
        )
        #: Devices named in the log as not placed (once each).
        self._unplaced: set[str] = set()
        #: What was refused for a cap (the dashboard and /metrics show it):
        #: ``bridge.max_bridges`` counts the devices on no bridge once no bridge may be made.
        self.over_cap: dict[str, int] = {}
        self._log = LogThrottle(_LOGGER, interval=None)
        self._accessory_options: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: The port being opened at start, for the message if that fails.
        self.starting_port = options.port
        self._unsubscribe: Any = None

    def __iter__(self) -> Iterator[Hub]:
        return iter(list(self.all))

    def __len__(self) -> int:
        return len(self.all)

    @overload
    def __getitem__(self, index: int) -> Hub: ...

    @overload
    def __getitem__(self, index: slice) -> list[Hub]: ...

    def __getitem__(self, index: int | slice) -> Hub | list[Hub]:
        return self.all[index]

    @property
    def first(self) -> Hub:
        return self.all[0]

    def hub(self, number: int) -> Hub:
        """Bridge ``number`` (1 = the first); KeyError if there is none."""
        for hub in self.all:
            if hub.number == number:
                return hub
        raise KeyError(number)

    def hub_of(self, device_id: str) -> Hub | None:
        """The bridge a device is on in this run, or None."""
        slot = self.placement.slot_of(device_id)
        return None if slot is None else self._hub_of(slot)

    def stale(self, device_id: str) -> bool | None:
        """Whether HomeKit shows the device as not responding (its sensors inactive: not
        heard within its staleness window, or unreachable for its source); None if it has
        no accessory."""
        hub = self.hub_of(device_id)
        if hub is None or hub.accessory is None:
            return None
        aid = hub.state.aids.get(device_id)
        accessory = hub.accessory.accessories.get(aid) if aid is not None else None
        stale = getattr(accessory, "stale", None)
        return None if stale is None else bool(stale)

    def _hub_of(self, slot: Slot) -> Hub:
        for hub in self.all:
            if hub.slot is slot:
                return hub
        raise LookupError(slot.number)

    @property
    def unplaced(self) -> list[str]:
        """Ids of bridged devices that are on no bridge (named in the log)."""
        return sorted(self._unplaced)

    # -- start / stop --------------------------------------------------------------------

    def place_known(self) -> None:
        """Place every bridged device known now; the ones that do not fit are named."""
        bridged = [d for d in self.registry.devices() if d.bridged]
        placed, unplaced = self.placement.place_all(bridged)
        for device, where in placed:
            self._placed(device, where)
        for device in unplaced:
            self._not_placed(device)
        self.save()

    def follow_registry(self) -> None:
        """From now on, place devices added to the registry and remove removed ones."""
        if self._unsubscribe is None:
            self._unsubscribe = self.registry.subscribe(self._on_event, readings=False)

    def build(self, accessory_options: Any) -> None:
        """Make every bridge's driver and the accessories of the devices placed on it."""
        self._loop = asyncio.get_running_loop()
        self._accessory_options = accessory_options
        for hub in list(self.all):
            self._build(hub)

    async def start(self) -> None:
        """Start every bridge's HAP server and mDNS; print the setup code of unpaired ones."""
        for hub in list(self.all):
            await self._start(hub)
        if self.options.print_setup:
            for hub in self.all:
                if not hub.paired:
                    self.print_setup(hub)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for hub in reversed(self.all):
            if hub.started and hub.driver is not None:
                hub.started = False
                await hub.driver.async_stop()

    def _build(self, hub: Hub) -> None:
        """Make the hub's driver and bridge accessory with every device placed on it."""
        from mihomekit.accessories import build_bridge
        from mihomekit.homekit import BridgeDriver, ServerLimits

        options = self.options
        driver = BridgeDriver(
            limits=ServerLimits(pairing_window=options.pairing_window),
            loop=self._loop,
            address=options.address,
            listen_address=options.listen_address or options.address,
            advertised_address=options.address,
            port=hub.port,
            persist_file=str(hub.state.hap_state_path),
            pincode=hub.setup_code.encode(),
            mac=hub.device_id,
            interface_choice=options.zeroconf_interfaces or [options.address],
        )
        driver.state.setup_id = hub.state.setup_id
        members = [d for d in self.registry.devices() if d.id in hub.slot.members]
        hub.accessory = build_bridge(
            driver,
            members,
            hub.state,
            name=hub.name,
            options=self._accessory_options,
            send_command=self.registry.control,
        )
        driver.add_accessory(hub.accessory)
        driver.state.setup_id = hub.state.setup_id
        hub.driver = driver
        hub.state.save()

    async def _start(self, hub: Hub) -> None:
        self.starting_port = hub.port
        assert hub.driver is not None, "built before started"
        await hub.driver.async_start()
        hub.started = True

    def print_setup(self, hub: Hub) -> None:
        which = "the bridge" if len(self.all) == 1 else f"bridge {hub.number} ({hub.name})"
        again = "mihomekit qr" + ("" if hub.number == 1 else f" --bridge {hub.number}")
        print(
            f"\nAdd {which} in Apple Home: scan this code, or enter {hub.setup_code}\n"
            f"{qr_for_stream(hub.setup_uri, sys.stdout)}\n"
            f"Setup code: {hub.setup_code}   Setup URI: {hub.setup_uri}\n"
            f"(`{again}` shows this again)\n",
            flush=True,
        )

    # -- following the registry ----------------------------------------------------------

    def _on_event(self, event: RegistryEvent) -> None:
        if isinstance(event, DeviceAdded):
            self._place(event.device)
        elif isinstance(event, DeviceRemoved):
            self._remove(event.device)
        elif isinstance(event, DeviceChanged) and event.what == "model":
            if self.placement.slot_of(event.device.id) is None:
                self._place(event.device)
            else:
                self._extend(event.device)

    def _place(self, device: Device) -> None:
        """Place one device (found or added while running) and show it in HomeKit."""
        if not device.bridged or self.placement.slot_of(device.id) is not None:
            return
        where = self.placement.place(device)
        if where is None:
            self._not_placed(device)
            return
        self._placed(device, where)
        hub = self._hub_of(where.slot)
        if hub.accessory is not None and hub.driver is not None:
            from mihomekit.accessories import add_device_accessory

            add_device_accessory(
                hub.driver,
                hub.accessory,
                device,
                where.aid,
                options=self._accessory_options,
                send_command=self.registry.control,
                live=hub.started,
            )
        self.save()

    def _extend(self, device: Device) -> None:
        """A placed device's model learned something: its accessory shows it (same aid)."""
        hub = self.hub_of(device.id)
        aid = hub.state.aids.get(device.id) if hub is not None else None
        if hub is None or aid is None or hub.accessory is None or hub.driver is None:
            return  # not built yet: the accessory is built from the model as it is then
        from mihomekit.accessories import extend_device_accessory

        extend_device_accessory(hub.driver, hub.accessory, aid, live=hub.started)

    def _remove(self, device: Device) -> None:
        """Take a removed device out of HomeKit; its aid is never given to another device."""
        slot = self.placement.slot_of(device.id) or self.placement.persisted_slot(device.id)
        aid = slot.state.aids.get(device.id) if slot is not None else None
        self.placement.remove(device.id)
        self._unplaced.discard(device.id)
        self._count_unplaced()
        if slot is not None and aid is not None:
            hub = self._hub_of(slot)
            if hub.accessory is not None and hub.driver is not None:
                from mihomekit.accessories import remove_device_accessory

                remove_device_accessory(hub.driver, hub.accessory, aid, live=hub.started)
        self.save()

    def _placed(self, device: Device, where: Placed) -> None:
        self._unplaced.discard(device.id)
        self._count_unplaced()
        if where.moved_from is not None:
            _LOGGER.warning(
                "%s (%s) moved from bridge %d to bridge %d%s",
                device.name,
                device.id,
                where.moved_from.number,
                where.slot.number,
                " as [[bridges]] asks"
                if where.slot.rule is not None
                else f" (bridge {where.moved_from.number} is full)",
            )
        elif where.new and where.slot.number != 1:
            _LOGGER.info("%s (%s) is on bridge %d", device.name, device.id, where.slot.number)

    def _not_placed(self, device: Device) -> None:
        if device.id in self._unplaced:
            return
        self._unplaced.add(device.id)
        self._count_unplaced()
        why = (
            "every bridge is full"
            if self.options.child_bridges
            else f"bridge 1 is full ({self.options.capacity} devices) and child bridges are off"
        )
        _LOGGER.warning("%s (%s) is not in HomeKit: %s", device.name, device.id, why)

    def _count_unplaced(self) -> None:
        if len(self.all) >= self.options.max_bridges:
            self.over_cap["bridge.max_bridges"] = len(self._unplaced)

    def save(self) -> None:
        """Save every bridge's aid map (failures are logged; a later save retries)."""
        for hub in self.all:
            try:
                hub.state.save()
            except StateWriteError as err:
                _LOGGER.error("could not save bridge %d's accessory ids: %s", hub.number, err)

    # -- child bridges -------------------------------------------------------------------

    def _child_numbers_on_disk(self) -> list[int]:
        return list(child_state_dirs(self.options.state_dir))

    def _load_children(self, first_code: str) -> list[Hub]:
        """The child bridges of earlier runs (each keeps its identity, port and devices)."""
        rules = {rule.name: rule for rule in self.options.rules}
        hubs = []
        numbers = self._child_numbers_on_disk()
        allowed = numbers[: self.options.max_bridges - 1]
        if len(allowed) < len(numbers):
            _LOGGER.warning(
                "bridges %s in %s are not served: at most %d bridges ([bridge] max_bridges)",
                ", ".join(str(n) for n in numbers[len(allowed) :]),
                self.options.state_dir,
                self.options.max_bridges,
            )
        for number in allowed:
            state = load_state(child_state_dir(self.options.state_dir, number))
            rule = rules.get(state.label) if state.label is not None else None
            hubs.append(self._child_hub(number, state, rule, first_code))
        return hubs

    def _child_hub(
        self, number: int, state: BridgeState, rule: BridgeRule | None, first_code: str
    ) -> Hub:
        device_id = bridge_identity(state)
        if state.port is None:
            state.port = self._free_port()
            state.save()
        code = child_setup_code(first_code, number)
        name = state.label or f"{self.options.name} {number}"
        return Hub(
            Slot(number, state, rule),
            name=name,
            port=state.port,
            device_id=device_id,
            setup_code=code,
            setup_uri=setup_uri(code, state.setup_id),
        )

    def _free_port(self) -> int:
        """The next free TCP port after the highest one the bridges use."""
        used = {hub.port for hub in getattr(self, "all", [])} | {self.options.port}
        for port in range(max(used) + 1, min(max(used) + 1 + PORT_SEARCH, 65536)):
            if port not in used and _port_free(self.options.address, port):
                return port
        raise StateError(f"no free TCP port for a child bridge after {max(used)}")

    def _new_child(self, rule: BridgeRule | None) -> Slot | None:
        """Make child bridge N (persisted at once); started now if the bridge runs."""
        if len(self.all) >= self.options.max_bridges:
            self._log.warning(
                "max_bridges",
                "no further child bridge: at most %d bridges ([bridge] max_bridges); devices "
                "that do not fit are on no bridge (counted on the dashboard)",
                self.options.max_bridges,
            )
            return None
        numbers = [hub.number for hub in self.all] + self._child_numbers_on_disk()
        number = max(numbers) + 1
        try:
            state = load_state(child_state_dir(self.options.state_dir, number))
            state.setup_id = child_setup_id(number)
            state.label = rule.name if rule is not None else None
            state.port = self._free_port()
            state.save()
            hub = self._child_hub(number, state, rule, self.first.setup_code)
        except (StateError, ValueError) as err:
            _LOGGER.error("cannot make child bridge %d: %s", number, err)
            return None
        self.all.append(hub)
        why = f"for [[bridges]] {rule.name!r}" if rule is not None else "the others are full"
        _LOGGER.info("child bridge %d (%s) on port %d: %s", number, hub.name, hub.port, why)
        if self._accessory_options is not None and self._loop is not None:
            self._launch(hub)
        return hub.slot

    def _launch(self, hub: Hub) -> None:
        """Build a child bridge made while running and start it in the background."""
        self._build(hub)

        async def start() -> None:
            try:
                await self._start(hub)
            except Exception as err:
                _LOGGER.error("child bridge %d did not start: %s", hub.number, err)
                return
            if self.options.print_setup and not hub.paired:
                self.print_setup(hub)

        assert self._loop is not None
        task = self._loop.create_task(start())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True
