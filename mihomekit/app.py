"""The running app: the wiring of registry, HomeKit bridges, saved state, sources, outputs.

Nothing here decides anything about devices. :class:`App` makes the parts, connects
them to the registry, starts them in order (HomeKit first, then the outputs, then the
sources) and stops them in reverse:

* the registry (:mod:`mihomekit.registry`) is the bus: sources write to it, everything
  else follows it;
* the HomeKit bridges (:mod:`mihomekit.hubs`) place devices and serve their accessories;
* the saved state (:mod:`mihomekit.persistence`) keeps devices, values and names;
* sources and outputs are made by factories that ``mihomekit run`` chooses from the
  settings; each gets only what it needs (the registry as a sink, the broker connection);
  sources whose devices the settings name (relays, presence) are made with the app, so
  that their devices are placed with the others before HomeKit starts;
* the advertisement tap (:mod:`mihomekit.tap`) carries whole advertisements from the
  radios to presence and the extensions (:mod:`mihomekit.extensions`), which are set up
  before the sources start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .catalog import DeviceModel
from .errors import NothingToBridgeError
from .hubs import Hub, HubOptions, Hubs
from .mi32cfg import DeviceEntry
from .persistence import PERSIST_DELAY, SavedDevices
from .placement import CAPACITY, BridgeRule, Slot
from .registry import Registry
from .setupcode import resolve_setup_code, setup_uri
from .sources import Source, SourceStatus
from .sources.device_list import DeviceList
from .state import BridgeState, bridge_identity, check_writable, load_state
from .tap import AdvertisementTap

if TYPE_CHECKING:
    from .ble.upkeep import RadioFor
    from .extensions import ExtensionHost
    from .mqtt import MqttConnection, MqttSettings
    from .settings import ExtensionSettings

__all__ = [
    "COUNTERS_LOGGER",
    "STATS_INTERVAL",
    "App",
    "AppConfig",
    "Output",
    "OutputFactory",
    "SourceFactory",
]

_LOGGER = logging.getLogger(__name__)
#: The counter lines (INFO); ``mihomekit run`` shows them at its default level too.
COUNTERS_LOGGER = logging.getLogger("mihomekit.counters")

#: How often the counters (advertisements and frames, processed and dropped, per source)
#: are logged, in seconds.
STATS_INTERVAL = 900.0


class Output(Protocol):
    """Something that follows the registry and shows it elsewhere (MQTT, the dashboard)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


SourceFactory = Callable[["App"], Source]
OutputFactory = Callable[["App"], Output]
_Part = TypeVar("_Part", Source, Output)


@dataclass
class AppConfig:
    """Everything the app needs to start (built by ``mihomekit run`` from its options)."""

    state_dir: Path
    address: str
    port: int
    setup_code: str | None = None
    setup_code_mac: str | None = None
    name: str = "Mi-Home-Bridge"
    entries: Sequence[DeviceEntry] = ()
    #: The mi32cfg the entries came from, watched for changes and written by the
    #: dashboard (None: changes to BLE devices are not saved).
    mi32cfg: Path | None = None
    listen_address: str | None = None
    zeroconf_interfaces: list[str] | None = None
    battery_low_threshold: int = 20
    motion_timeout: float = 30.0
    staleness: Mapping[str, float] | None = None
    print_setup: bool = True
    sources: list[SourceFactory] = field(default_factory=list)
    #: Sources whose devices the settings name (``[[relays]]``, ``[[presence]]``): made
    #: with the app, so that their devices are placed with the mi32cfg's and are in
    #: HomeKit from the first second; started before the other sources.
    configured_sources: list[SourceFactory] = field(default_factory=list)
    #: ``[[extensions]]``: set up before the sources start, stopped after them.
    extensions: Sequence[ExtensionSettings] = ()
    #: How extensions reach a sensor over GATT (None: they cannot connect).
    radios: RadioFor | None = None
    #: Started after the HAP server and before the sources; stopped after them.
    outputs: list[OutputFactory] = field(default_factory=list)
    #: Seconds from a value change to its write (see :data:`~.persistence.PERSIST_DELAY`).
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
    #: At most this many bridges in all (``[bridge] max_bridges``).
    max_bridges: int = 8
    #: Seconds an unpaired bridge accepts pairing after a start or ``pairing open``; 0 =
    #: always (``[bridge] pairing_window``).
    pairing_window: float = 600.0
    #: Seconds between two counter lines in the log (see :data:`STATS_INTERVAL`); 0 = none.
    stats_interval: float = STATS_INTERVAL


class App:
    """Owns the registry, the saved state, the HomeKit bridges, the sources and outputs."""

    def __init__(self, config: AppConfig) -> None:
        """Read the state and settle the identity and setup code; nothing starts yet.

        Raises :class:`~mihomekit.errors.StateError` for an unreadable state file,
        :class:`~mihomekit.errors.StateWriteError` if the state directory cannot be
        written (checked here, before any file is replaced) and
        :class:`~mihomekit.errors.ConfigError` for a bad setup code or MAC.
        """
        self.config = config
        self.registry = Registry()
        #: Whole advertisements from the radios, for presence and the extensions.
        self.advertisements = AdvertisementTap()
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
        #: Every HomeKit bridge served, bridge 1 first.
        self.hubs = Hubs(
            HubOptions(
                state_dir=config.state_dir,
                address=config.address,
                port=config.port,
                name=config.name,
                listen_address=config.listen_address,
                zeroconf_interfaces=config.zeroconf_interfaces,
                child_bridges=config.child_bridges,
                rules=config.bridges,
                capacity=config.bridge_capacity,
                print_setup=config.print_setup,
                max_bridges=config.max_bridges,
                pairing_window=config.pairing_window,
            ),
            self.registry,
            first,
        )
        #: Devices, values and names kept across restarts.
        self.saved = SavedDevices(self.state, self.registry, persist_delay=config.persist_delay)
        #: The mi32cfg's devices, kept in step with the file.
        self.device_list = DeviceList(config.mi32cfg, config.entries, self.registry)
        self.sources: list[Source] = []
        self.outputs: list[Output] = []
        #: The one broker connection (with ``config.mqtt``), made and started by start().
        self.mqtt: MqttConnection | None = None
        self._stats_task: asyncio.Task[None] | None = None
        #: The ``[[extensions]]``, once started.
        self.extensions: ExtensionHost | None = None
        for entry in config.entries:
            self.registry.add_entry(entry)
        self._configured: list[Source] = [make(self) for make in config.configured_sources]
        self.saved.restore_devices(_restored_model)
        self.hubs.place_known()  # in the order that keeps placements stable
        self.hubs.follow_registry()

    # -- start / stop --------------------------------------------------------------------

    async def start(self) -> None:
        """Build every accessory, start the HAP server and mDNS, then outputs and sources.

        With ``require_devices`` and no device known yet, the sources start first and get
        ``discovery_wait`` seconds to find one (else :class:`NothingToBridgeError`). The
        setup code and QR code are printed only while a bridge is unpaired.
        """
        from mihomekit.accessories import AccessoryOptions

        config = self.config
        self.saved.restore_values()
        if config.mqtt is not None and self.mqtt is None:
            from .mqtt import MqttConnection

            self.mqtt = MqttConnection(config.mqtt)
        if self.mqtt is not None:
            await self.mqtt.start()  # connects in the background
        if config.extensions and self.extensions is None:
            from .extensions import ExtensionHost

            self.extensions = ExtensionHost(
                self.registry, self.advertisements, config.extensions, radio_for=config.radios
            )
            await self.extensions.start()
        searched = config.require_devices and not self._has_devices()
        if searched:
            await self._look_for_devices()
        options = AccessoryOptions(
            battery_low_threshold=config.battery_low_threshold,
            motion_timeout=config.motion_timeout,
        )
        if config.staleness:
            options = dataclasses.replace(options, staleness=dict(config.staleness))
        self.saved.start()
        self.hubs.build(options)
        await self.hubs.start()
        if config.stats_interval > 0:
            loop = asyncio.get_running_loop()
            self._stats_task = loop.create_task(self._log_stats_every(config.stats_interval))
        self.outputs.extend(await _start_all(config.outputs, self))
        await self.device_list.start()
        if not searched:
            await self._start_sources()

    async def stop(self) -> None:
        """Stop the sources and outputs, save what changed, stop the HAP servers.

        Safe after a failed start.
        """
        await _stop_all(self.sources)
        if self.extensions is not None:
            await self.extensions.stop()
        await self.device_list.stop()
        await _stop_all(self.outputs)
        if self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None
        self.saved.stop()
        await self.hubs.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()
            self.mqtt = None

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
            await _stop_all(self.sources)
            raise NothingToBridgeError(f"no device found within {wait:g} s")
        await asyncio.sleep(1.0)  # the rest of a gateway's devices, as one batch

    async def _start_sources(self) -> None:
        """The configured sources (made with the app), then the others."""
        configured, self._configured = self._configured, []
        self.sources.extend(await _start_parts(configured))
        self.sources.extend(await _start_all(self.config.sources, self))

    # -- what others read ----------------------------------------------------------------

    @property
    def driver(self) -> Any:
        """Bridge 1's HAP driver (None before the start)."""
        return self.hubs.first.driver

    @property
    def paired(self) -> bool:
        """Bridge 1 is paired."""
        return self.hubs.first.paired

    @property
    def paired_controllers(self) -> int:
        """How many controllers are paired with bridge 1 (0 before the start)."""
        return self.hubs.first.paired_controllers

    @property
    def starting_port(self) -> int:
        """The HAP port being opened (for the message if that fails)."""
        return self.hubs.starting_port

    def source_statuses(self) -> list[SourceStatus]:
        """The status of every running source, in start order.

        Helpers that ride along with the sources without feeding anything (the demo's
        activity line) have no status and are left out.
        """
        return [s.status for s in self.sources if getattr(s, "status", None) is not None]

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


def _restored_model(info: Mapping[str, Any]) -> DeviceModel | None:
    """The model of a device of another source saved in an earlier run."""
    from mihomekit.sources.gateway.models import device_model
    from mihomekit.sources.zigbee2mqtt.devices import restored_model

    if "capabilities" in info:  # saved with the device (Zigbee2MQTT)
        return restored_model(info)
    return device_model(str(info.get("model", "")))


async def _start_all(factories: Sequence[Callable[[App], _Part]], app: App) -> list[_Part]:
    """Build and start each part in turn; one that cannot start is logged and left out."""
    started: list[_Part] = []
    for factory in factories:
        started.extend(await _start_parts([factory(app)]))
    return started


async def _start_parts(parts: Sequence[_Part]) -> list[_Part]:
    """Start each part; one that cannot start is logged and left out."""
    started: list[_Part] = []
    for part in parts:
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
