"""MQTT out (``[mqtt] publish = true``): every device's readings on the bridge's broker.

Topics (``<p>`` = ``topic_prefix``, default ``mihomekit``):

* ``<p>/<device id>``: retained JSON of the device's readings, ``name``, ``model`` and
  ``last_seen`` (ISO 8601, UTC), republished on every accepted reading;
* ``<p>/<device id>/button_<n>``: ``{"event_type": "press"}``, not retained;
* ``<p>/<device id>/set``: ``{"power": true}`` switches a plug or relay channel;
* ``<p>/status``: ``online``/``offline``, retained, the connection's last will;
* ``<discovery_prefix>/device/mihomekit_<id>/config``: Home Assistant discovery (devices
  from Zigbee2MQTT are left out: Zigbee2MQTT announces them to Home Assistant itself),
  republished after every reconnect and when Home Assistant says ``online`` on
  ``<discovery_prefix>/status`` (births within :data:`BIRTH_HOLDOFF` seconds of a
  republish are answered by one more, at the end of that time: anyone on the broker can
  publish ``online``);
* with ``tasmota_topic``: ``tele/<tasmota_topic>/SENSOR`` in Tasmota MI32's layout.

Only readings are published: bind keys, gateway passwords and the settings never are.
A failed command is logged once a minute at most per kind of failure.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from mihomekit.logthrottle import LogThrottle
from mihomekit.mqtt import MqttConnection, MqttMessage
from mihomekit.registry import (
    Device,
    DeviceAdded,
    DeviceChanged,
    DeviceRemoved,
    Registry,
    RegistryEvent,
    Update,
)

from .discovery import SWITCHABLE, device_config, discovery_topic
from .tasmota import sensor_key, sensor_message, sensor_object

_LOGGER = logging.getLogger(__name__)

#: Sources whose devices get no Home Assistant discovery from mihomekit.
NO_DISCOVERY_SOURCES = frozenset({"zigbee2mqtt"})
#: Largest command accepted on ``<p>/<id>/set``.
MAX_COMMAND = 1024
#: Home Assistant's birth: discovery goes out this many seconds after it (births that
#: come together are answered once) ...
BIRTH_DELAY = 1.0
#: ... and at most once per this many seconds.
BIRTH_HOLDOFF = 30.0


class MqttOutput:
    """Publishes the registry on ``connection``'s broker, following it as it changes."""

    def __init__(
        self,
        registry: Registry,
        connection: MqttConnection,
        *,
        birth_delay: float = BIRTH_DELAY,
        birth_holdoff: float = BIRTH_HOLDOFF,
    ) -> None:
        self.registry = registry
        self.connection = connection
        self._conn: MqttConnection | None = None
        self._birth_delay = birth_delay
        self._birth_holdoff = birth_holdoff
        self._birth: asyncio.TimerHandle | None = None
        self._births_answered = -float("inf")
        self._log = LogThrottle(_LOGGER)
        self._events: Counter[str] = Counter()
        self._unsubscribe: Callable[[], None] | None = None
        #: ``states``, ``events``, ``discovery``, ``cleared``, ``commands`` and ``dropped_*``.
        self.stats: Counter[str] = Counter()

    async def start(self) -> None:
        conn = self.connection
        self._conn = conn
        settings = conn.settings
        conn.subscribe(f"{settings.discovery_prefix}/status", self._on_ha_status)
        conn.subscribe(f"{settings.topic_prefix}/+/set", self._on_command)
        conn.on_connect(self._on_connect)
        self._unsubscribe = self.registry.subscribe(self._on_event)
        self.publish_all()

    async def stop(self) -> None:
        if self._birth is not None:
            self._birth.cancel()
            self._birth = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._conn = None

    # -- what goes out -------------------------------------------------------------------

    def publish_all(self) -> None:
        """Discovery and the retained state of every device (after a (re)connect)."""
        for device in self.registry.devices():
            self._publish_discovery(device)
            self._publish_state(device)

    async def _on_connect(self) -> None:
        self.publish_all()

    def _on_ha_status(self, message: MqttMessage) -> None:
        if message.payload.strip() != b"online":
            return
        self.stats["births"] += 1
        if self._birth is not None:
            return  # already answered soon
        loop = asyncio.get_running_loop()
        due = max(loop.time() + self._birth_delay, self._births_answered + self._birth_holdoff)
        self._birth = loop.call_at(due, self._answer_birth)

    def _answer_birth(self) -> None:
        self._birth = None
        self._births_answered = asyncio.get_running_loop().time()
        _LOGGER.info("mqtt out: Home Assistant is online: discovery published again")
        self.publish_all()

    def _publish_discovery(self, device: Device) -> None:
        conn = self._conn
        if conn is None or device.model is None or device.source in NO_DISCOVERY_SOURCES:
            return
        settings = conn.settings
        heard = frozenset(name for name in device.values if name != "rssi")
        if device.source == "ble":
            heard |= {"rssi"}
        payload = device_config(
            device.id,
            device.name,
            device.model,
            device.source,
            topic_prefix=settings.topic_prefix,
            readings=heard,
        )
        conn.publish(
            discovery_topic(settings.discovery_prefix, device.id),
            json.dumps(payload, ensure_ascii=False),
            retain=True,
        )
        self.stats["discovery"] += 1

    def _publish_state(self, device: Device) -> None:
        conn = self._conn
        if conn is None or not (device.values or device.rssi is not None):
            return
        state: dict[str, Any] = dict(device.values)
        if device.rssi is not None:
            state["rssi"] = device.rssi
        state["name"] = device.name
        if device.model is not None:
            state["model"] = device.model.model
        if device.last_seen is not None:
            wall = time.time() - (time.monotonic() - device.last_seen)
            state["last_seen"] = _iso(wall)
        prefix = conn.settings.topic_prefix
        conn.publish(f"{prefix}/{device.id}", json.dumps(state, ensure_ascii=False), retain=True)
        self.stats["states"] += 1

    def _on_event(self, event: RegistryEvent) -> None:
        if isinstance(event, Update):
            self._on_update(event)
        elif isinstance(event, DeviceAdded):
            self._publish_discovery(event.device)
            self._publish_state(event.device)
        elif isinstance(event, DeviceRemoved):
            self._clear(event.device)
        elif isinstance(event, DeviceChanged) and event.what in ("name", "model"):
            self._publish_discovery(event.device)
            self._publish_state(event.device)

    def _clear(self, device: Device) -> None:
        """A removed device: its retained discovery and state are cleared on the broker."""
        conn = self._conn
        if conn is None:
            return
        settings = conn.settings
        if device.model is not None and device.source not in NO_DISCOVERY_SOURCES:
            conn.publish(discovery_topic(settings.discovery_prefix, device.id), "", retain=True)
        conn.publish(f"{settings.topic_prefix}/{device.id}", "", retain=True)
        self._events.pop(device.id, None)
        self.stats["cleared"] += 1

    def _on_update(self, update: Update) -> None:
        conn = self._conn
        if conn is None:
            return
        device = update.device
        self._publish_state(device)
        prefix = conn.settings.topic_prefix
        for event in update.events:
            self._events[device.id] += 1
            conn.publish(
                f"{prefix}/{device.id}/button_{max(1, event.button)}",
                json.dumps({"event_type": event.event, **event.properties}),
            )
            self.stats["events"] += 1
        topic = conn.settings.tasmota_topic
        if topic:
            key = sensor_key(device.id, device.name, device.model, device.source)
            fields = sensor_object(
                device.id,
                {**device.values, **({"rssi": device.rssi} if device.rssi is not None else {})},
                update.events,
                source=device.source,
                event_count=self._events[device.id],
            )
            now = datetime.datetime.now().astimezone().replace(microsecond=0, tzinfo=None)
            conn.publish(
                f"tele/{topic}/SENSOR",
                json.dumps(sensor_message(now.isoformat(), {key: fields}), ensure_ascii=False),
            )

    # -- Home Assistant → device ---------------------------------------------------------

    def _on_command(self, message: MqttMessage) -> None:
        conn = self._conn
        if conn is None:
            return
        device_id = message.topic[len(conn.settings.topic_prefix) + 1 : -len("/set")]
        device = self.registry.get(device_id)
        command = _command(message.payload) if len(message.payload) <= MAX_COMMAND else None
        if device is None or command is None or message.retain:
            self.stats["dropped_commands"] += 1
            return
        task = asyncio.get_running_loop().create_task(self.registry.control(device_id, command))
        task.add_done_callback(self._command_done)
        self.stats["commands"] += 1

    def _command_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        err = task.exception()
        if err is not None:
            self.stats["dropped_commands"] += 1
            self._log.warning(f"command:{err}", "mqtt out: command failed: %s", err)


def _command(payload: bytes) -> dict[str, bool] | None:
    """``{"power": true}`` → the command; None unless every key is a switchable reading."""
    try:
        raw = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(raw, Mapping) or not raw:
        return None
    if not all(isinstance(k, str) and SWITCHABLE.match(k) for k in raw):
        return None
    if not all(isinstance(v, bool) for v in raw.values()):
        return None
    return {str(k): bool(v) for k, v in raw.items()}


def _iso(wall: float) -> str:
    moment = datetime.datetime.fromtimestamp(wall, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
