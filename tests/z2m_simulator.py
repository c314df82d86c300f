"""A Zigbee2MQTT 2.x stand-in for the tests: it publishes what Zigbee2MQTT publishes.

* retained ``bridge/state`` (``{"state":"online"}``; the MQTT will says offline),
  ``bridge/info`` and ``bridge/devices`` (``tests/data/z2m_bridge_devices.json``: the real
  exposes of the Aqara/Xiaomi models and a Hue colour light);
* device state messages, not retained, with every cached key (``cache_state``), ``action``
  only in the message of the event itself;
* ``<name or ieee>/set`` answered like Zigbee2MQTT: the new state is published;
* renames, per-device availability, going offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import aiomqtt

DATA = Path(__file__).parent / "data" / "z2m_bridge_devices.json"
#: Keys Zigbee2MQTT never caches (they appear only in the event's own message).
NOT_CACHED = ("action", "button", "no_occupancy_since")


def load_devices() -> list[dict[str, Any]]:
    return list(json.loads(DATA.read_text()))


class Z2mSimulator:
    """Zigbee2MQTT on a real broker (``host``/``port``), base topic ``base``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        base: str = "zigbee2mqtt",
        devices: list[dict[str, Any]] | None = None,
    ) -> None:
        self.host, self.port, self.base = host, port, base
        self.devices = copy.deepcopy(devices if devices is not None else load_devices())
        self.cache: dict[str, dict[str, Any]] = {}
        self.sets: list[tuple[str, dict[str, Any]]] = []
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._ready.clear()
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _run(self) -> None:
        will = aiomqtt.Will(f"{self.base}/bridge/state", '{"state":"offline"}', 1, True)
        async with aiomqtt.Client(self.host, self.port, identifier="z2m-sim", will=will) as client:
            self._client = client
            await client.subscribe(f"{self.base}/#")
            await self.publish_bridge()
            self._ready.set()
            async for message in client.messages:
                topic = message.topic.value
                if topic.endswith("/set") and isinstance(message.payload, bytes):
                    await self._on_set(topic[len(self.base) + 1 : -4], message.payload)

    async def stop(self) -> None:
        """Stop as Zigbee2MQTT does: ``bridge/state`` offline first."""
        client = self._client
        if client is not None:
            await client.publish(
                f"{self.base}/bridge/state", '{"state":"offline"}', qos=1, retain=True
            )
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        self._client = None

    @property
    def client(self) -> aiomqtt.Client:
        assert self._client is not None, "not started"
        return self._client

    # -- what Zigbee2MQTT publishes -------------------------------------------------------

    async def publish_bridge(self) -> None:
        await self.client.publish(
            f"{self.base}/bridge/state", '{"state":"online"}', qos=1, retain=True
        )
        info = {
            "version": "2.14.1",
            "commit": "0000000",
            "coordinator": {"ieee_address": "0x00124b0018e2a1c4", "type": "zStack3x0", "meta": {}},
            "network": {"pan_id": 6754, "extended_pan_id": "0xdddddddddddddddd", "channel": 11},
            "permit_join": False,
            "log_level": "info",
            "restart_required": False,
            "config": {"mqtt": {"base_topic": self.base}},
        }
        await self.client.publish(f"{self.base}/bridge/info", json.dumps(info), retain=True)
        await self.publish_devices()

    async def publish_devices(self) -> None:
        await self.client.publish(
            f"{self.base}/bridge/devices", json.dumps(self.devices), qos=1, retain=True
        )

    def name_of(self, ieee_or_name: str) -> str:
        for device in self.devices:
            if ieee_or_name in (device["ieee_address"], device["friendly_name"]):
                return str(device["friendly_name"])
        raise KeyError(ieee_or_name)

    async def state(self, device: str, *, retain: bool = False, **changes: Any) -> None:
        """The device reports ``changes``: the full cached state goes out (plus any action)."""
        name = self.name_of(device)
        cache = self.cache.setdefault(name, {})
        cache.update({k: v for k, v in changes.items() if k not in NOT_CACHED})
        payload = {**cache, **{k: v for k, v in changes.items() if k in NOT_CACHED}}
        payload.setdefault("linkquality", 120)
        await self.client.publish(f"{self.base}/{name}", json.dumps(payload), retain=retain)

    async def raw(self, topic: str, payload: bytes | str, *, retain: bool = False) -> None:
        """Anything, on ``<base>/<topic>``."""
        await self.client.publish(f"{self.base}/{topic}", payload, retain=retain)

    async def availability(self, device: str, online: bool) -> None:
        state = json.dumps({"state": "online" if online else "offline"})
        await self.client.publish(
            f"{self.base}/{self.name_of(device)}/availability", state, qos=1, retain=True
        )

    async def rename(self, device: str, new_name: str) -> None:
        for entry in self.devices:
            if device in (entry["ieee_address"], entry["friendly_name"]):
                old = entry["friendly_name"]
                entry["friendly_name"] = new_name
                if old in self.cache:
                    self.cache[new_name] = self.cache.pop(old)
        await self.publish_devices()

    # -- /set ----------------------------------------------------------------------------

    async def _on_set(self, target: str, payload: bytes) -> None:
        try:
            command = json.loads(payload)
            name = self.name_of(target)
        except (ValueError, KeyError):
            return
        if not isinstance(command, dict):
            return
        self.sets.append((target, command))
        cache = self.cache.setdefault(name, {})
        changes: dict[str, Any] = {}
        for key, value in command.items():
            if key.startswith("state"):
                if value == "TOGGLE":
                    value = "OFF" if cache.get(key) == "ON" else "ON"
                changes[key] = value
            elif key == "brightness":
                changes["brightness"] = value
                changes.setdefault("state", "ON" if value > 0 else "OFF")
            elif key == "color" and isinstance(value, dict):
                changes["color"] = {**cache.get("color", {}), **value}
                changes["color_mode"] = "hs"
            else:
                changes[key] = value
        await self.state(name, **changes)
