"""The running bridge: registry + sources (BLE, replay, gateways) + the HomeKit driver."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .catalog import DeviceModel
from .errors import GatewayError, NothingToBridgeError, StateError, StateWriteError
from .logthrottle import LogThrottle
from .mi32cfg import DeviceEntry
from .placement import CAPACITY, BridgeRule, Placed, Placement, Slot
from .readings import Event, Value
from .registry import Device, Registry, Update, default_name
from .setupcode import (
    child_setup_code,
    child_setup_id,
    qr_for_stream,
    resolve_setup_code,
    setup_uri,
)
from .sources import Source, SourceStatus
from .state import (
    BridgeState,
    bridge_identity,
    check_writable,
    child_state_dir,
    child_state_dirs,
    load_state,
    restorable,
)

if TYPE_CHECKING:
    from .mqtt import MqttConnection, MqttSettings

_LOGGER = logging.getLogger(__name__)
#: The counter lines (INFO); ``mihomekit run`` shows them at its default level too.
COUNTERS_LOGGER = logging.getLogger("mihomekit.counters")

#: A changed value is written to the state file at most this many seconds after the
#: change; changes within that time share one write. Everything is written at stop.
PERSIST_DELAY = 10.0
#: A device heard without any change gets its saved last-seen time refreshed this often.
SEEN_REFRESH = 1800.0
#: At stop, last-seen times that moved by more than this many seconds are saved.
STOP_SEEN_SLACK = 1.0
#: How often the counters (advertisements and frames, processed and dropped, per source)
#: are logged, in seconds.
STATS_INTERVAL = 900.0
#: How many ports above the highest port in use a new child bridge may look for a free one.
PORT_SEARCH = 200


SourceFactory = Callable[["BridgeApp"], Source]


class Output(Protocol):
    """Something that reads the registry and shows it elsewhere (MQTT, the dashboard)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


OutputFactory = Callable[["BridgeApp"], Output]
_Part = TypeVar("_Part", Source, Output)


@dataclass
class BridgeConfig:
    """Everything the bridge needs to start (built by ``mihomekit run`` from its options)."""

    state_dir: Path
    address: str
    port: int
    setup_code: str | None = None
    setup_code_mac: str | None = None
    name: str = "Mi-Home-Bridge"
    entries: Sequence[DeviceEntry] = ()
    listen_address: str | None = None
    zeroconf_interfaces: list[str] | None = None
    battery_low_threshold: int = 20
    motion_timeout: float = 30.0
    staleness: Mapping[str, float] | None = None
    print_setup: bool = True
    sources: list[SourceFactory] = field(default_factory=list)
    #: Started after the HAP server and before the sources; stopped after them.
    outputs: list[OutputFactory] = field(default_factory=list)
    #: Seconds from a value change to its write (see :data:`PERSIST_DELAY`).
    persist_delay: float = PERSIST_DELAY
    #: Refuse to start (:class:`NothingToBridgeError`) rather than offer HomeKit a bridge
    #: without a single device.
    require_devices: bool = False
    #: With ``require_devices`` and no device known: how long the sources (gateway
    #: discovery) may look for one before the start fails; 0 = they cannot find any.
    discovery_wait: float = 0.0
    #: The MQTT broker shared by MQTT sources and outputs (``app.mqtt``); None = none.
    mqtt: MqttSettings | None = None
    #: Serve further bridges (2, 3, ...) when bridge 1 is full; see :mod:`.placement`.
    child_bridges: bool = True
    #: ``[[bridges]]`` of the settings: named child bridges and the devices they take.
    bridges: Sequence[BridgeRule] = ()
    #: Devices per bridge (HomeKit's limit; smaller in tests).
    bridge_capacity: int = CAPACITY
    #: At most this many bridges in all (``[bridge] max_bridges``): what outsiders send
    #: (a Zigbee2MQTT device list) must not make the bridge grow without bound.
    max_bridges: int = 8
    #: Seconds an unpaired bridge accepts pairing after a start or ``pairing open``; 0 =
    #: always (``[bridge] pairing_window``).
    pairing_window: float = 600.0
    #: Seconds between two counter lines in the log (see :data:`STATS_INTERVAL`); 0 = none.
    stats_interval: float = STATS_INTERVAL


@dataclass(eq=False)
class Hub:
    """One HomeKit bridge served by this process: bridge 1, or child bridge 2, 3, ...

    Each has its own HAP identity, port, setup code, pairings and aid map; child bridges
    keep theirs in ``bridge-N/`` of the state directory.
    """

    slot: Slot
    name: str
    port: int
    device_id: str
    setup_code: str
    setup_uri: str
    driver: Any = None
    #: The :class:`~mihomekit.accessories.MiBridge` (aid 1), once built.
    accessory: Any = None
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


class BridgeApp:
    """Owns the registry, the persistent state, the HAP driver and the sources."""

    def __init__(self, config: BridgeConfig) -> None:
        """Read the state and settle the identity and setup code; nothing starts yet.

        Raises :class:`~mihomekit.errors.StateError` for an unreadable state file,
        :class:`~mihomekit.errors.StateWriteError` if the state directory cannot be
        written (checked here, before any file is replaced) and
        :class:`~mihomekit.errors.ConfigError` for a bad setup code or MAC.
        """
        self.config = config
        self.registry = Registry()
        self.state: BridgeState = load_state(config.state_dir)
        check_writable(self.state.path.parent)
        #: The HAP device id, persisted before the first start (also the SerialNumber).
        self.device_id = bridge_identity(self.state)
        choice = resolve_setup_code(
            configured=config.setup_code,
            mac=config.setup_code_mac,
            address=config.address,
            state=lambda: self.state,
        )
        if choice.note:
            _LOGGER.warning("setup code: %s", choice.note)
        self.setup_code = choice.code
        self.setup_uri = setup_uri(choice.code, self.state.setup_id)
        first = Hub(
            Slot(1, self.state),
            name=config.name,
            port=config.port,
            device_id=self.device_id,
            setup_code=self.setup_code,
            setup_uri=self.setup_uri,
        )
        #: Every bridge served, bridge 1 first.
        self.hubs: list[Hub] = [first]
        if config.child_bridges:
            self.hubs.extend(self._load_children())
        self.placement = Placement(
            [hub.slot for hub in self.hubs],
            rules=config.bridges,
            capacity=config.bridge_capacity,
            new_slot=self._new_child if config.child_bridges else None,
        )
        #: Devices named in the log as not placed (once each).
        self._unplaced: set[str] = set()
        #: What was refused for a cap, by setting (the dashboard and /metrics show it):
        #: ``bridge.max_bridges`` counts the devices on no bridge once no bridge may be
        #: made; sources add theirs (``zigbee2mqtt.max_devices``).
        self.over_cap: dict[str, int] = {}
        self._log = LogThrottle(_LOGGER, interval=None)
        self._stats_task: asyncio.Task[None] | None = None
        self._hub_tasks: set[asyncio.Task[None]] = set()
        #: The port being opened at start, for the message if that fails.
        self.starting_port = config.port
        self.sources: list[Source] = []
        self.outputs: list[Output] = []
        self.driver: Any = None
        self.bridge: Any = None
        #: The one broker connection (with ``config.mqtt``), made and started by start().
        self.mqtt: MqttConnection | None = None
        #: Activity since start: ``events`` (button presses, motion, doors...).
        self.counts: Counter[str] = Counter()
        self._command_handlers: dict[
            str, Callable[[str, Mapping[str, Value]], Awaitable[None]]
        ] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._persist_handle: asyncio.TimerHandle | None = None
        self._watched: set[str] = set()
        self._driver_started = False
        self._options: Any = None
        for entry in config.entries:
            self.registry.add_entry(entry)
        self._restore_known_devices()
        for device in self.registry.devices():
            self._watch(device)
        self._place_known()

    # -- start / stop --------------------------------------------------------------------

    async def start(self) -> None:
        """Build every accessory, start the HAP server and mDNS, then the sources.

        With ``require_devices`` and no device known yet, the sources start first and get
        ``discovery_wait`` seconds to find one (else :class:`NothingToBridgeError`). The
        setup code and QR code are printed only while the bridge is unpaired.
        """
        from mihomekit.accessories import AccessoryOptions

        loop = asyncio.get_running_loop()
        self._loop = loop
        config = self.config
        self._restore_values()
        if config.mqtt is not None and self.mqtt is None:
            from .mqtt import MqttConnection

            self.mqtt = MqttConnection(config.mqtt)
        if self.mqtt is not None:
            await self.mqtt.start()  # connects in the background
        searched = config.require_devices and not self._has_devices()
        if searched:
            await self._look_for_devices()
        options = AccessoryOptions(
            battery_low_threshold=config.battery_low_threshold,
            motion_timeout=config.motion_timeout,
        )
        if config.staleness:
            options = dataclasses.replace(options, staleness=dict(config.staleness))
        self._options = options
        if searched:
            self._place_known()
        for hub in list(self.hubs):
            self._build_hub(hub)
        self.driver = self.hubs[0].driver
        self.bridge = self.hubs[0].accessory
        for hub in list(self.hubs):
            await self._start_hub(hub)
        self._driver_started = True
        if config.print_setup:
            for hub in self.hubs:
                if not hub.paired:
                    self._print_setup(hub)
        if config.stats_interval > 0:
            self._stats_task = loop.create_task(self._log_stats_every(config.stats_interval))
        await self._start_outputs()
        if not searched:
            await self._start_sources()

    # -- bridges -------------------------------------------------------------------------

    def _build_hub(self, hub: Hub) -> None:
        """Make the hub's driver and bridge accessory with every device placed on it."""
        from mihomekit.accessories import build_bridge
        from mihomekit.homekit import BridgeDriver, ServerLimits

        config = self.config
        driver = BridgeDriver(
            limits=ServerLimits(pairing_window=config.pairing_window),
            loop=self._loop,
            address=config.address,
            listen_address=config.listen_address or config.address,
            advertised_address=config.address,
            port=hub.port,
            persist_file=str(hub.state.hap_state_path),
            pincode=hub.setup_code.encode(),
            mac=hub.device_id,
            interface_choice=config.zeroconf_interfaces or [config.address],
        )
        driver.state.setup_id = hub.state.setup_id
        members = [d for d in self.registry.devices() if d.id in hub.slot.members]
        hub.accessory = build_bridge(
            driver,
            members,
            hub.state,
            name=hub.name,
            options=self._options,
            send_command=self.send_command,
            on_setup_message=None,  # printed by the app, while unpaired only
        )
        driver.add_accessory(hub.accessory)
        driver.state.setup_id = hub.state.setup_id
        hub.driver = driver
        hub.state.save()

    async def _start_hub(self, hub: Hub) -> None:
        self.starting_port = hub.port
        await hub.driver.async_start()
        hub.started = True

    def _hub_of(self, slot: Slot) -> Hub:
        for hub in self.hubs:
            if hub.slot is slot:
                return hub
        raise LookupError(slot.number)

    def hub(self, number: int) -> Hub:
        """Bridge ``number`` (1 = the first); KeyError if there is none."""
        for hub in self.hubs:
            if hub.number == number:
                return hub
        raise KeyError(number)

    def _child_numbers_on_disk(self) -> list[int]:
        return list(child_state_dirs(self.config.state_dir))

    def _load_children(self) -> list[Hub]:
        """The child bridges of earlier runs (each keeps its identity, port and devices)."""
        rules = {rule.name: rule for rule in self.config.bridges}
        hubs = []
        numbers = self._child_numbers_on_disk()
        allowed = numbers[: self.config.max_bridges - 1]
        if len(allowed) < len(numbers):
            _LOGGER.warning(
                "bridges %s in %s are not served: at most %d bridges ([bridge] max_bridges)",
                ", ".join(str(n) for n in numbers[len(allowed) :]),
                self.config.state_dir,
                self.config.max_bridges,
            )
        for number in allowed:
            state = load_state(child_state_dir(self.config.state_dir, number))
            rule = rules.get(state.label) if state.label is not None else None
            hubs.append(self._child_hub(number, state, rule))
        return hubs

    def _child_hub(self, number: int, state: BridgeState, rule: BridgeRule | None) -> Hub:
        device_id = bridge_identity(state)
        if state.port is None:
            state.port = self._free_port()
            state.save()
        code = child_setup_code(self.setup_code, number)
        name = state.label or f"{self.config.name} {number}"
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
        used = {hub.port for hub in self.hubs}
        port = max(used) + 1
        for port in range(max(used) + 1, min(max(used) + 1 + PORT_SEARCH, 65536)):
            if port not in used and _port_free(self.config.address, port):
                return port
        raise StateError(f"no free TCP port for a child bridge after {max(used)}")

    def _new_child(self, rule: BridgeRule | None) -> Slot | None:
        """Make child bridge N (persisted at once); started now if the bridge runs."""
        if len(self.hubs) >= self.config.max_bridges:
            self._log.warning(
                "max_bridges",
                "no further child bridge: at most %d bridges ([bridge] max_bridges); devices "
                "that do not fit are on no bridge (counted on the dashboard)",
                self.config.max_bridges,
            )
            return None
        numbers = [hub.number for hub in self.hubs] + self._child_numbers_on_disk()
        number = max(numbers) + 1
        try:
            state = load_state(child_state_dir(self.config.state_dir, number))
            state.setup_id = child_setup_id(number)
            state.label = rule.name if rule is not None else None
            state.port = self._free_port()
            state.save()
            hub = self._child_hub(number, state, rule)
        except (StateError, ValueError) as err:
            _LOGGER.error("cannot make child bridge %d: %s", number, err)
            return None
        self.hubs.append(hub)
        why = f"for [[bridges]] {rule.name!r}" if rule is not None else "the others are full"
        _LOGGER.info("child bridge %d (%s) on port %d: %s", number, hub.name, hub.port, why)
        if self._options is not None and self._loop is not None:
            self._launch_hub(hub)
        return hub.slot

    def _launch_hub(self, hub: Hub) -> None:
        """Build a child bridge made while running and start it in the background."""
        self._build_hub(hub)

        async def start() -> None:
            try:
                await self._start_hub(hub)
            except Exception as err:
                _LOGGER.error("child bridge %d did not start: %s", hub.number, err)
                return
            if self.config.print_setup and not hub.paired:
                self._print_setup(hub)

        assert self._loop is not None
        task = self._loop.create_task(start())
        self._hub_tasks.add(task)
        task.add_done_callback(self._hub_tasks.discard)

    # -- placement -----------------------------------------------------------------------

    def _place_known(self) -> None:
        """Place every bridged device known now; the ones that do not fit are named."""
        bridged = [d for d in self.registry.devices() if d.bridged]
        placed, unplaced = self.placement.place_all(bridged)
        for device, where in placed:
            self._placed(device, where)
        for device in unplaced:
            self._not_placed(device)
        self._save_slots()

    def _place(self, device: Device) -> None:
        """Place one device (found or added while running) and show it in HomeKit."""
        if not device.bridged:
            return
        where = self.placement.place(device)
        if where is None:
            self._not_placed(device)
            return
        self._placed(device, where)
        hub = self._hub_of(where.slot)
        if hub.accessory is not None and self._options is not None:
            from mihomekit.accessories import add_device_accessory

            add_device_accessory(
                hub.driver,
                hub.accessory,
                device,
                where.aid,
                options=self._options,
                send_command=self.send_command,
                live=hub.started,
            )
        self._save_slots()

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
            if self.config.child_bridges
            else f"bridge 1 is full ({self.config.bridge_capacity} devices) and child "
            f"bridges are off"
        )
        _LOGGER.warning("%s (%s) is not in HomeKit: %s", device.name, device.id, why)

    def _count_unplaced(self) -> None:
        if len(self.hubs) >= self.config.max_bridges:
            self.over_cap["bridge.max_bridges"] = len(self._unplaced)

    def _save_slots(self) -> None:
        for hub in self.hubs:
            try:
                hub.state.save()
            except StateWriteError as err:
                _LOGGER.error("could not save bridge %d's accessory ids: %s", hub.number, err)

    @property
    def unplaced(self) -> list[str]:
        """Ids of bridged devices that are on no bridge (named in the log)."""
        return sorted(self._unplaced)

    # -- devices added, removed and renamed while running --------------------------------

    def add_device(self, entry: DeviceEntry) -> Device:
        """Add a BLE device of the mi32cfg while running: placed on a bridge with room.

        Its accessory gets a new aid and the bridge's c# is bumped, so controllers see it
        without a restart; no other device changes. Raises ValueError if the device is
        already known. (Writing the mi32cfg is the caller's job.)
        """
        if self.registry.get(entry.mac) is not None:
            raise ValueError(f"device {entry.mac} is already known")
        device = self.registry.add_entry(entry)
        self._watch(device)
        self._place(device)
        return device

    def remove_device(self, device_id: str) -> None:
        """Take a device out: its accessory leaves HomeKit (c# bumped), its saved values
        and aid are dropped; the aid is never given to another device. KeyError if unknown.
        """
        if self.registry.get(device_id) is None:
            raise KeyError(device_id)
        slot = self.placement.slot_of(device_id) or self.placement.persisted_slot(device_id)
        aid = slot.state.aids.get(device_id) if slot is not None else None
        self.placement.remove(device_id)
        if slot is not None and aid is not None:
            hub = self._hub_of(slot)
            if hub.accessory is not None:
                from mihomekit.accessories import remove_device_accessory

                remove_device_accessory(hub.driver, hub.accessory, aid, live=hub.started)
        self.state.forget(device_id)
        self.registry.remove(device_id)
        self._watched.discard(device_id)
        self._command_handlers.pop(device_id, None)
        self._unplaced.discard(device_id)
        self._save_slots()

    def rename_device(self, device_id: str, name: str) -> None:
        """Give a device a new name, in HomeKit too. KeyError if unknown, ValueError for a
        name that is empty or longer than 64 characters.

        A device of another source (Zigbee) keeps this name across restarts, and over later
        names from its source, until :meth:`clear_name`; a BLE device's name is the
        mi32cfg's (writing it there is the caller's job).
        """
        device = self.registry.get(device_id)
        if device is None:
            raise KeyError(device_id)
        name = name.strip()
        if not name or len(name) > 64:
            raise ValueError("a name has 1 to 64 characters")
        if device.source != "ble":
            self.state.names[device_id] = name
        self._show_name(device, name)
        self._save_slots()

    def clear_name(self, device_id: str) -> str:
        """Drop the name :meth:`rename_device` gave a device of another source: its
        source's name is used again. Returns the name now shown; KeyError if unknown."""
        device = self.registry.get(device_id)
        if device is None:
            raise KeyError(device_id)
        if self.state.names.pop(device_id, None) is None:
            return device.name
        source_name = self.state.known_devices.get(device_id, {}).get("name")
        name = str(source_name or default_name(device.model, None, device_id))[:64]
        self._show_name(device, name)
        self._save_slots()
        return name

    def source_renamed(self, device_id: str, name: str) -> None:
        """A source renamed its device (a Zigbee2MQTT friendly_name changed): shown in
        HomeKit, unless the dashboard named the device (that name wins until cleared)."""
        device = self.registry.get(device_id)
        name = name.strip()[:64]
        if device is None or not name or device_id in self.state.names:
            return
        self._show_name(device, name)

    def _show_name(self, device: Device, name: str) -> None:
        device.name = name
        slot = self.placement.slot_of(device.id)
        if slot is not None:
            hub = self._hub_of(slot)
            if hub.accessory is not None:
                from mihomekit.accessories import rename_accessory

                rename_accessory(hub.accessory, slot.state.aids[device.id], name)

    # -- counters --------------------------------------------------------------------------

    def stats_line(self) -> str:
        """One line: the registry's counters by reason, then each source's."""
        stats = self.registry.stats
        parts = [f"{name}={stats[name]}" for name in sorted(stats)] or ["nothing yet"]
        line = "counters: " + " ".join(parts)
        for status in self.source_statuses():
            line += (
                f"; {status.kind} {status.name}: received={status.advertisements} "
                f"errors={status.errors}" + ("" if status.connected else " (disconnected)")
            )
        return line

    async def _log_stats_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            COUNTERS_LOGGER.info("%s", self.stats_line())

    async def _start_outputs(self) -> None:
        self.outputs.extend(await _start_all(self.config.outputs, self))

    async def _start_sources(self) -> None:
        self.sources.extend(await _start_all(self.config.sources, self))

    def _has_devices(self) -> bool:
        return any(device.bridged for device in self.registry.devices())

    async def _look_for_devices(self) -> None:
        """No device known: give the sources ``discovery_wait`` seconds to find one first.

        HomeKit is offered nothing before there is a device; if none turns up the
        sources are stopped again and :class:`NothingToBridgeError` is raised.
        """
        wait = self.config.discovery_wait
        if wait <= 0:
            raise NothingToBridgeError("no device configured")
        await self._start_sources()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not self._has_devices() and loop.time() < deadline:
            await asyncio.sleep(0.1)
        if not self._has_devices():
            await self._stop_sources()
            raise NothingToBridgeError(f"no device found within {wait:g} s")
        await asyncio.sleep(1.0)  # the rest of a gateway's devices, as one batch

    async def _stop_sources(self) -> None:
        await _stop_all(self.sources)

    async def stop(self) -> None:
        """Stop the sources and outputs, save what changed, stop the HAP server.

        Safe after a failed start.
        """
        await self._stop_sources()
        await _stop_all(self.outputs)
        if self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None
        for task in list(self._hub_tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._persist_handle is not None:
            self._persist_handle.cancel()
            self._persist_handle = None
        self.persist_values(seen_slack=STOP_SEEN_SLACK)
        self._driver_started = False
        for hub in reversed(self.hubs):
            if hub.started:
                hub.started = False
                await hub.driver.async_stop()
        if self.mqtt is not None:
            await self.mqtt.stop()
            self.mqtt = None

    def source_statuses(self) -> list[SourceStatus]:
        """The status of every running source, in start order.

        Helpers that ride along with the sources without feeding anything (the demo's
        activity line) have no status and are left out.
        """
        return [s.status for s in self.sources if getattr(s, "status", None) is not None]

    @property
    def paired(self) -> bool:
        """Bridge 1 is paired."""
        return self.hubs[0].paired

    @property
    def paired_controllers(self) -> int:
        """How many controllers are paired with bridge 1 (0 before the start)."""
        return self.hubs[0].paired_controllers

    # -- commands (HomeKit → device) -----------------------------------------------------

    def register_commands(
        self,
        device_ids: Sequence[str],
        handler: Callable[[str, Mapping[str, Value]], Awaitable[None]],
    ) -> None:
        for device_id in device_ids:
            self._command_handlers[device_id] = handler

    async def send_command(self, device_id: str, values: Mapping[str, Value]) -> None:
        handler = self._command_handlers.get(device_id)
        if handler is None:
            raise GatewayError(f"{device_id} cannot be controlled")
        await handler(device_id, values)

    # -- devices from other sources ------------------------------------------------------

    def on_device(
        self, device_id: str, model: DeviceModel | None, name: str | None, *, source: str
    ) -> None:
        """A source found a device (a Zigbee sensor): add it, placed on a bridge with room
        (and shown in HomeKit if running), or named in the log if none has room."""
        known = self.registry.get(device_id) is not None
        shown = self.state.names.get(device_id) or name  # the dashboard's name wins
        device = self.registry.add_device(device_id, model, shown, source=source)
        self._watch(device)
        if model is not None:
            # Updated, not replaced: a source may keep more here (its device's capabilities).
            self.state.known_devices.setdefault(device_id, {}).update(
                source=source, model=model.model, name=name
            )
        if known and self.placement.slot_of(device_id) is not None:
            return
        self._place(device)

    def on_reading(
        self,
        device_id: str,
        values: Mapping[str, Value],
        events: Sequence[Event],
        *,
        heartbeat: bool = False,
    ) -> None:
        self.registry.ingest(device_id, values, events, heartbeat=heartbeat)

    # -- persistence ---------------------------------------------------------------------

    def _restore_known_devices(self) -> None:
        from mihomekit.sources.gateway.models import device_model
        from mihomekit.sources.zigbee2mqtt.devices import restored_model

        for device_id, info in self.state.known_devices.items():
            if self.registry.get(device_id) is not None:
                continue
            if "capabilities" in info:  # saved with the device (Zigbee2MQTT)
                model = restored_model(info)
            else:
                model = device_model(str(info.get("model", "")))
            if model is not None:
                name = self.state.names.get(device_id) or info.get("name")
                source = str(info.get("source", "zigbee"))
                self.registry.add_device(device_id, model, name, source=source)

    def _restore_values(self) -> None:
        now = time.time()
        for device_id, entry in restorable(self.state.last_values.items()).items():
            seen = entry.get("seen")
            age = now - seen if isinstance(seen, (int, float)) else None
            self.registry.restore(device_id, entry["values"], age)

    def _watch(self, device: Device) -> None:
        if device.id not in self._watched:
            self._watched.add(device.id)
            device.subscribe(self._on_update)

    def _on_update(self, update: Update) -> None:
        """Count events; a changed value schedules one coalesced write."""
        if update.events:
            self.counts["events"] += len(update.events)
        if self._persist_handle is not None or self._loop is None:
            return  # a write is already due (or the bridge is not running)
        saved = self.state.last_values.get(update.device.id)
        if saved is None or _news(saved, update.values):
            self._persist_handle = self._loop.call_later(self.config.persist_delay, self._flush)

    def _flush(self) -> None:
        self._persist_handle = None
        if not self.persist_values(seen_slack=SEEN_REFRESH) and self._loop is not None:
            self._persist_handle = self._loop.call_later(self.config.persist_delay, self._flush)

    def persist_values(self, *, seen_slack: float = STOP_SEEN_SLACK) -> bool:
        """Save every device's last values, if any changed (atomically).

        A last-seen time alone counts as a change when it moved by more than
        ``seen_slack`` seconds. Nothing is written when nothing changed. Returns False if
        the state could not be written (the error is logged; a later call retries).
        """
        now_mono = time.monotonic()
        now_wall = time.time()
        for device in self.registry.devices():
            if not device.values:
                continue
            seen = device.last_seen
            seen_wall = now_wall - (now_mono - seen) if seen is not None else None
            values = {k: v for k, v in device.values.items() if k != "rssi"}
            saved = self.state.last_values.get(device.id)
            if (
                saved is not None
                and saved.get("values") == values
                and not _moved(saved.get("seen"), seen_wall, seen_slack)
            ):
                continue
            self.state.remember_values(device.id, values, seen_wall)
        try:
            self.state.save()  # writes only if the content differs from the file's
        except StateWriteError as err:
            _LOGGER.error("could not save the last values: %s", err)
            return False
        return True

    def _print_setup(self, hub: Hub) -> None:
        which = "the bridge" if len(self.hubs) == 1 else f"bridge {hub.number} ({hub.name})"
        print(
            f"\nAdd {which} in Apple Home: scan this code, or enter {hub.setup_code}\n"
            f"{qr_for_stream(hub.setup_uri, sys.stdout)}\n"
            f"Setup code: {hub.setup_code}   Setup URI: {hub.setup_uri}\n",
            flush=True,
        )


async def _start_all(
    factories: Sequence[Callable[[BridgeApp], _Part]], app: BridgeApp
) -> list[_Part]:
    """Build and start each part; one that cannot start is logged and left out."""
    started: list[_Part] = []
    for factory in factories:
        part = factory(app)
        try:
            await part.start()
        except Exception as err:  # a part that cannot start must not stop the bridge
            _LOGGER.error("%s did not start: %s", type(part).__name__, err)
            continue
        started.append(part)
    return started


async def _stop_all(parts: list[_Part]) -> None:
    """Stop the parts in reverse start order and forget them; failures are logged."""
    for part in reversed(parts):
        try:
            await part.stop()
        except Exception:
            _LOGGER.exception("stopping %s failed", type(part).__name__)
    parts.clear()


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def _news(saved: Mapping[str, Any], values: Mapping[str, Value]) -> bool:
    """True if ``values`` differ from the ``saved`` entry, or its last-seen time is old."""
    old = saved.get("values", {})
    if any(name != "rssi" and old.get(name, _MISSING) != value for name, value in values.items()):
        return True
    seen = saved.get("seen")
    return not isinstance(seen, int | float) or time.time() - seen > SEEN_REFRESH


def _moved(old: Any, new: float | None, slack: float) -> bool:
    if new is None:
        return False
    return not isinstance(old, int | float) or abs(new - old) > slack


_MISSING = object()
