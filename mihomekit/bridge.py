"""The running bridge: registry + sources (BLE, replay, gateways) + the HomeKit driver."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .catalog import DeviceModel
from .errors import GatewayError, NothingToBridgeError, StateWriteError
from .mi32cfg import DeviceEntry
from .readings import Event, Value
from .registry import Device, Registry, Update
from .setupcode import qr_for_stream, resolve_setup_code, setup_uri
from .sources import Source, SourceStatus
from .state import BridgeState, bridge_identity, check_writable, load_state, restorable

if TYPE_CHECKING:
    from .mqtt import MqttConnection, MqttSettings

_LOGGER = logging.getLogger(__name__)

#: A changed value is written to the state file at most this many seconds after the
#: change; changes within that time share one write. Everything is written at stop.
PERSIST_DELAY = 10.0
#: A device heard without any change gets its saved last-seen time refreshed this often.
SEEN_REFRESH = 1800.0
#: At stop, last-seen times that moved by more than this many seconds are saved.
STOP_SEEN_SLACK = 1.0


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

    # -- start / stop --------------------------------------------------------------------

    async def start(self) -> None:
        """Build every accessory, start the HAP server and mDNS, then the sources.

        With ``require_devices`` and no device known yet, the sources start first and get
        ``discovery_wait`` seconds to find one (else :class:`NothingToBridgeError`). The
        setup code and QR code are printed only while the bridge is unpaired.
        """
        from mihomekit.accessories import AccessoryOptions, build_bridge
        from mihomekit.homekit import BridgeDriver

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
        driver = BridgeDriver(
            loop=loop,
            address=config.address,
            listen_address=config.listen_address or config.address,
            advertised_address=config.address,
            port=config.port,
            persist_file=str(self.state.hap_state_path),
            pincode=self.setup_code.encode(),
            mac=self.device_id,
            interface_choice=config.zeroconf_interfaces or [config.address],
        )
        driver.state.setup_id = self.state.setup_id
        options = AccessoryOptions(
            battery_low_threshold=config.battery_low_threshold,
            motion_timeout=config.motion_timeout,
        )
        if config.staleness:
            options = dataclasses.replace(options, staleness=dict(config.staleness))
        self._options = options
        self.driver = driver
        self.bridge = build_bridge(
            driver,
            self.registry,
            self.state,
            name=config.name,
            options=options,
            send_command=self.send_command,
            on_setup_message=None,  # printed below, while unpaired only
        )
        driver.add_accessory(self.bridge)
        driver.state.setup_id = self.state.setup_id
        self.state.save()
        await driver.async_start()
        self._driver_started = True
        if config.print_setup and not self.paired:
            self._print_setup()
        await self._start_outputs()
        if not searched:
            await self._start_sources()

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
        if self._persist_handle is not None:
            self._persist_handle.cancel()
            self._persist_handle = None
        self.persist_values(seen_slack=STOP_SEEN_SLACK)
        if self._driver_started:
            self._driver_started = False
            await self.driver.async_stop()
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
        return bool(self.driver is not None and self.driver.state.paired)

    @property
    def paired_controllers(self) -> int:
        """How many controllers are paired (0 before the start)."""
        return 0 if self.driver is None else len(self.driver.state.paired_clients)

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
        """A source found a device (a Zigbee sensor): add it, and to HomeKit if running."""
        known = self.registry.get(device_id) is not None
        device = self.registry.add_device(device_id, model, name, source=source)
        self._watch(device)
        if model is not None:
            # Updated, not replaced: a source may keep more here (its device's capabilities).
            self.state.known_devices.setdefault(device_id, {}).update(
                source=source, model=model.model, name=name
            )
        if known or self.bridge is None or not device.bridged:
            return
        from mihomekit.accessories import add_device_accessory

        if (
            add_device_accessory(
                self.driver,
                self.bridge,
                self.registry,
                self.state,
                device_id,
                options=self._options,
                send_command=self.send_command,
            )
            is not None
        ):
            try:
                self.state.save()
            except StateWriteError as err:
                _LOGGER.error("could not save the new accessory id: %s", err)

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
                self.registry.add_device(
                    device_id, model, info.get("name"), source=str(info.get("source", "zigbee"))
                )

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

    def _print_setup(self) -> None:
        print(
            f"\nAdd the bridge in Apple Home: scan this code, or enter {self.setup_code}\n"
            f"{qr_for_stream(self.setup_uri, sys.stdout)}\n"
            f"Setup code: {self.setup_code}   Setup URI: {self.setup_uri}\n",
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
