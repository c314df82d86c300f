"""The Zigbee2MQTT source: the thin MQTT part (topics in, readings and ``/set`` out).

Subscribes to ``<base>/#`` on the bridge's one broker connection. The retained
``bridge/devices`` gives the devices (:mod:`.devices`), announced to the registry with
what must be kept to show them at the next start; ``<name>`` messages
their state (:mod:`.state`); ``bridge/state`` and ``<name>/availability`` whether they can
be reached (:mod:`.availability`). HomeKit writes go to ``<base>/<ieee>/set``; HomeKit then
shows what Zigbee2MQTT reports back. Nothing a publisher sends can stop the source: bad
messages are counted in :attr:`Zigbee2mqttSource.stats` and warned about once.

Anyone who may publish on the broker can publish a device list, so a list is read in
steps that leave the event loop to the HomeKit controllers (messages arriving meanwhile
wait, in order), and at most ``[zigbee2mqtt] max_devices`` devices are taken from it; the
rest are named once in the log, counted (in the status's ``over_cap``) and never saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mihomekit.errors import GatewayError
from mihomekit.logthrottle import LogThrottle
from mihomekit.readings import Value
from mihomekit.registry import DeviceSink
from mihomekit.sources import SourceStatus

from .availability import Availability, parse_state
from .devices import (
    SOURCE,
    DeviceListParser,
    NotAnArray,
    Skipped,
    Z2mDevice,
    cap_devices,
    iter_json_array,
    saved_entry,
)
from .state import ActionGate, apply_state, set_payload

if TYPE_CHECKING:
    from mihomekit.mqtt import MqttConnection, MqttMessage
    from mihomekit.settings import Zigbee2mqttSettings

_LOGGER = logging.getLogger(__name__)

#: Largest ``bridge/devices`` accepted (hundreds of devices with their endpoints).
MAX_DEVICES_PAYLOAD = 16 * 1024 * 1024
#: Largest device state message accepted.
MAX_STATE_PAYLOAD = 64 * 1024
#: Messages (and bytes) kept while a device list is read; more are dropped (counted).
MAX_PENDING = 10_000
MAX_PENDING_BYTES = MAX_DEVICES_PAYLOAD
#: A device list is read in steps of at most this many seconds of event-loop time.
STEP_SECONDS = 0.02
#: The status's ``over_cap`` key of the devices left out of the list.
OVER_CAP = "zigbee2mqtt.max_devices"


class Zigbee2mqttSource:
    """Zigbee2MQTT's devices as registry devices (and so as HomeKit accessories)."""

    def __init__(
        self,
        sink: DeviceSink,
        connection: MqttConnection,
        settings: Zigbee2mqttSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.connection = connection
        self.base = settings.base_topic
        self.max_devices = settings.max_devices
        self._clock = clock
        self._status = SourceStatus("zigbee2mqtt", f"Zigbee2MQTT ({self.base})")
        self._conn: MqttConnection | None = None
        #: Bridged devices by IEEE address (the registry id).
        self.devices: dict[str, Z2mDevice] = {}
        #: ``bridge/devices`` entries not bridged, with the reason.
        self.skipped: list[Skipped] = []
        self._by_name: dict[str, str] = {}
        self._removed: set[str] = set()
        self._gates: dict[str, ActionGate] = {}
        self.availability = Availability()
        #: Zigbee2MQTT's ``bridge/info`` version, once heard.
        self.version: str | None = None
        #: ``messages``, ``states``, ``events``, ``suppressed_actions`` and ``dropped_*``.
        self.stats: Counter[str] = Counter()
        #: Devices of the last list left out for ``max_devices``.
        self.over_cap: list[Z2mDevice] = []
        self._log = LogThrottle(_LOGGER, interval=None)
        self._reading: asyncio.Task[None] | None = None
        self._pending: deque[MqttMessage] = deque()
        self._pending_bytes = 0

    # -- Source --------------------------------------------------------------------------

    @property
    def status(self) -> SourceStatus:
        """Connected while the broker is and Zigbee2MQTT says it is online."""
        status = self._status
        conn = self._conn
        status.set_connected(
            conn is not None and conn.connected and self.availability.bridge_online is not False
        )
        status.advertisements = self.stats["messages"]
        status.errors = sum(n for k, n in self.stats.items() if k.startswith("dropped_"))
        return status

    async def start(self) -> None:
        conn = self.connection
        self._conn = conn
        for device in self.sink.devices():
            if device.source == SOURCE:  # restored from the state: reachable by the clock
                battery = device.model.sleepy if device.model is not None else True
                self.sink.add_device(
                    device.id,
                    device.model,
                    None,
                    source=SOURCE,
                    liveness=functools.partial(self._alive, device.id, battery),
                    control=self._command,
                )
        conn.subscribe(f"{self.base}/#", self._on_message)

    async def stop(self) -> None:
        self._conn = None
        task, self._reading = self._reading, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pending.clear()
        self._pending_bytes = 0

    # -- messages ------------------------------------------------------------------------

    def _on_message(self, message: MqttMessage) -> None:
        self.stats["messages"] += 1
        if self._reading is not None:  # a device list is being read: keep the order
            size = len(message.payload)
            if len(self._pending) < MAX_PENDING and self._pending_bytes + size <= MAX_PENDING_BYTES:
                self._pending.append(message)
                self._pending_bytes += size
            else:
                self._drop("busy", "too many messages while a device list is read")
            return
        self._handle(message)

    def _handle(self, message: MqttMessage) -> None:
        rest = message.topic[len(self.base) + 1 :]
        if rest.startswith("bridge/"):
            self._on_bridge(rest[7:], message)
            return
        ieee = self._by_name.get(rest)
        if ieee is not None:
            self._on_state(ieee, message)
            return
        name, _, last = rest.rpartition("/")
        if last == "availability" and name in self._by_name:
            self._on_availability(self._by_name[name], message.payload)
        elif last in ("set", "get") or (name and name in self._by_name):
            return  # our own commands, and per-attribute topics
        else:
            self.stats["dropped_unknown_device"] += 1
            _LOGGER.debug("zigbee2mqtt: message for an unknown device on %s", message.topic)

    def _on_bridge(self, what: str, message: MqttMessage) -> None:
        if what == "state":
            online = parse_state(message.payload)
            if online is None:
                self._drop("bad_bridge_state", "bridge/state is neither online nor offline")
                return
            if online != self.availability.bridge_online:
                _LOGGER.info("zigbee2mqtt: Zigbee2MQTT is %s", "online" if online else "offline")
                self.availability.bridge_online = online
                self._refresh(self.devices)
        elif what == "devices":
            if len(message.payload) > MAX_DEVICES_PAYLOAD:
                self._drop("too_large", f"bridge/devices is over {MAX_DEVICES_PAYLOAD} bytes")
                return
            task = asyncio.get_running_loop().create_task(self._read_devices(message.payload))
            self._reading = task
            task.add_done_callback(self._devices_read)
        elif what == "info":
            payload = self._json(message.payload, "bridge/info")
            if isinstance(payload, dict) and isinstance(payload.get("version"), str):
                self.version = payload["version"]

    async def _read_devices(self, payload: bytes) -> None:
        """Read a device list in steps (the controllers keep being served), then apply it."""
        step = _Step()
        parser = DeviceListParser()
        try:
            for entry in iter_json_array(payload.decode("utf-8")):
                parser.add(entry)
                await step.pause()
        except NotAnArray as err:
            self._drop("bad_devices", str(err))
            return
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            self._drop("bad_json", "bridge/devices: not valid JSON")
            return
        known = set(self.devices) | {d.id for d in self.sink.devices() if d.source == SOURCE}
        devices, over = cap_devices(parser.devices, self.max_devices, known)
        self._over_cap(over)
        await self._on_devices(devices, parser.skipped, step)

    def _devices_read(self, task: asyncio.Task[None]) -> None:
        """A device list is applied: the messages that came meanwhile, in order."""
        if self._reading is task:
            self._reading = None
        if not task.cancelled() and task.exception() is not None:
            self._log.error(
                "devices_failed",
                "zigbee2mqtt: reading the device list failed: %r",
                task.exception(),
            )
        while self._pending and self._reading is None:
            message = self._pending.popleft()
            self._pending_bytes -= len(message.payload)
            self._handle(message)

    def _over_cap(self, over: list[Z2mDevice]) -> None:
        self.over_cap = over
        self._status.over_cap[OVER_CAP] = len(over)
        if over:
            self._log.warning(
                "over_cap",
                "zigbee2mqtt: the device list has %d devices more than [zigbee2mqtt] "
                "max_devices = %d; left out (not in HomeKit, not saved): %s%s",
                len(over),
                self.max_devices,
                ", ".join(f"{d.name} ({d.ieee})" for d in over[:5]),
                ", ..." if len(over) > 5 else "",
            )

    async def _on_devices(
        self, devices: list[Z2mDevice], skipped: list[Skipped], step: _Step
    ) -> None:
        self.skipped = skipped
        listed = {d.ieee for d in devices}
        for device in devices:
            await step.pause()
            old = self.devices.get(device.ieee)
            if old is not None and old.name != device.name:
                _LOGGER.info("zigbee2mqtt: %s renamed %r → %r", device.ieee, old.name, device.name)
                self._by_name.pop(old.name, None)
            self.devices[device.ieee] = device
            self._by_name[device.name] = device.ieee
            self._removed.discard(device.ieee)
            self.sink.add_device(
                device.ieee,
                device.model,
                device.name,
                source=SOURCE,
                liveness=functools.partial(self._alive, device.ieee, device.battery),
                control=self._command if device.mapping.writes else None,
                saved=saved_entry(device.model),
            )
        for ieee in set(self.devices) - listed:
            gone = self.devices.pop(ieee)
            self._by_name.pop(gone.name, None)
            self._removed.add(ieee)
            _LOGGER.info("zigbee2mqtt: %s (%s) left Zigbee2MQTT", gone.name, ieee)
        self._refresh(self.devices)

    def _on_state(self, ieee: str, message: MqttMessage) -> None:
        if not message.payload:
            return  # a retained message being cleared
        if len(message.payload) > MAX_STATE_PAYLOAD:
            self._drop("too_large", f"a state message is over {MAX_STATE_PAYLOAD} bytes")
            return
        payload = self._json(message.payload, message.topic)
        if payload is None:
            return
        if not isinstance(payload, dict):
            self._drop("not_object", f"{message.topic}: the state is not a JSON object")
            return
        device = self.devices[ieee]
        registered = self.sink.get(ieee)
        previous: Mapping[str, Value] = registered.values if registered is not None else {}
        gate = self._gates.setdefault(ieee, ActionGate())
        result = apply_state(
            device.mapping,
            payload,
            previous,
            retained=message.retain,
            now=self._clock(),
            gate=gate,
        )
        for problem in result.problems:
            self._drop("bad_value", f"{device.name}: {problem}")
        for problem in result.out_of_range:
            self._drop("out_of_range", f"{device.name}: {problem}")
        self.stats["states"] += 1
        self.stats["events"] += len(result.events)
        self.stats["suppressed_actions"] += result.suppressed
        self.sink.ingest(ieee, result.values, result.events)

    def _on_availability(self, ieee: str, payload: bytes) -> None:
        online = parse_state(payload)
        if online is None:
            self._drop("bad_availability", "an availability message that is neither state")
            return
        if self.availability.devices.get(ieee) != online:
            self.availability.devices[ieee] = online
            self._refresh([ieee])

    # -- liveness ------------------------------------------------------------------------

    def _alive(self, ieee: str, battery: bool) -> bool:
        if ieee in self._removed:
            return False
        conn = self._conn
        self.availability.connected = conn is not None and conn.connected
        device = self.sink.get(ieee)
        return self.availability.alive(
            ieee,
            battery=battery,
            last_seen=device.last_seen if device is not None else None,
            now=self._clock(),
        )

    def _refresh(self, ieees: Any) -> None:
        """Show a change of reachability at once (not at the next staleness check)."""
        for ieee in list(ieees):
            self.sink.reachability_changed(ieee)

    # -- HomeKit → Zigbee2MQTT -----------------------------------------------------------

    async def _command(self, device_id: str, values: Mapping[str, Value]) -> None:
        device = self.devices.get(device_id)
        conn = self._conn
        if device is None:
            raise GatewayError(f"{device_id} is not (yet) listed by Zigbee2MQTT")
        if conn is None or not conn.connected:
            raise GatewayError("no connection to the MQTT broker")
        payload, refused = set_payload(device.mapping, values)
        if refused:
            _LOGGER.debug("zigbee2mqtt: %s cannot set %s", device.name, refused)
        if not payload:
            raise GatewayError(f"{device.name}: nothing of {sorted(values)} can be set")
        conn.publish(f"{self.base}/{device.ieee}/set", json.dumps(payload), qos=1)

    # -- errors --------------------------------------------------------------------------

    def _json(self, payload: bytes, where: str) -> Any:
        try:
            return json.loads(payload)
        except (ValueError, RecursionError):
            self._drop("bad_json", f"{where}: not valid JSON")
            return None

    def _drop(self, cause: str, reason: str) -> None:
        self.stats[f"dropped_{cause}"] += 1
        self._status.error(reason)
        self._log.warning(cause, "zigbee2mqtt: %s (counted; further ones logged at debug)", reason)


class _Step:
    """Gives the event loop back after :data:`STEP_SECONDS` of work."""

    def __init__(self) -> None:
        self._since = time.monotonic()

    async def pause(self) -> None:
        if time.monotonic() - self._since >= STEP_SECONDS:
            await asyncio.sleep(0)
            self._since = time.monotonic()
