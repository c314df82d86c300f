"""A Zigbee2MQTT 2.x stand-in for the tests: it publishes what Zigbee2MQTT publishes.

* retained ``bridge/state`` (``{"state":"online"}``; the MQTT will says offline),
  ``bridge/info`` and ``bridge/devices`` (``tests/data/z2m_bridge_devices.json``: the real
  exposes of the Aqara/Xiaomi models and a Hue colour light);
* device state messages, not retained, with every cached key (``cache_state``), ``action``
  only in the message of the event itself;
* ``<name or ieee>/set`` answered like Zigbee2MQTT: the new state is published; a cover
  (``tests/data/z2m_cover_devices.json``, Aqara ZNCLDJ12LM) first echoes the target as its
  position (Zigbee2MQTT's optimistic state), then its motor reports ``motor_state``,
  ``running`` and the positions it passes, then the final one; ``{"state": "STOP"}``
  stops it where it is;
* renames, per-device availability, going offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from typing import Any

import aiomqtt
from repo import DATA as _DATA

DATA = _DATA / "z2m_bridge_devices.json"
COVER_DATA = _DATA / "z2m_cover_devices.json"
#: A simulated cover motor moves this many percent per step, one step per ``COVER_STEP_TIME``.
COVER_STEP = 20
COVER_STEP_TIME = 0.05
#: Keys Zigbee2MQTT never caches (they appear only in the event's own message).
NOT_CACHED = ("action", "button", "no_occupancy_since")


def load_devices() -> list[dict[str, Any]]:
    return [*json.loads(DATA.read_text()), *json.loads(COVER_DATA.read_text())]


class Z2mSimulator:
    """Zigbee2MQTT on a real broker (``host``/``port``), base topic ``base``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        base: str = "zigbee2mqtt",
        devices: list[dict[str, Any]] | None = None,
        cover_step_time: float = COVER_STEP_TIME,
    ) -> None:
        self.host, self.port, self.base = host, port, base
        self.devices = copy.deepcopy(devices if devices is not None else load_devices())
        self.cache: dict[str, dict[str, Any]] = {}
        self.sets: list[tuple[str, dict[str, Any]]] = []
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.cover_step_time = cover_step_time
        self._motors: dict[str, asyncio.Task[None]] = {}
        #: Cover names whose motor is stalled (moves report nothing until it is freed).
        self.stalled: set[str] = set()
        #: Where each cover's motor really is (the cache may hold the optimistic target).
        self._cover_at: dict[str, int] = {}

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
        for motor in self._motors.values():
            motor.cancel()
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
        if "position" in changes:  # reported: the cache is where the cover is
            self._cover_at.pop(name, None)
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
        if self.is_cover(name):
            await self._cover_set(name, command)
            return
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

    # -- covers --------------------------------------------------------------------------

    def is_cover(self, name: str) -> bool:
        for device in self.devices:
            if device["friendly_name"] == name and device.get("definition"):
                return any(e.get("type") == "cover" for e in device["definition"]["exposes"])
        return False

    async def _cover_set(self, name: str, command: dict[str, Any]) -> None:
        state = command.get("state")
        if isinstance(state, str) and state.upper() == "STOP":
            await self._cover_stop(name)
            return
        target = command.get("position")
        if isinstance(state, str) and state.upper() in ("OPEN", "CLOSE"):
            target = 100 if state.upper() == "OPEN" else 0
        if not isinstance(target, int):
            return
        start = self._cover_at.get(name, int(self.cache.get(name, {}).get("position", 100)))
        await self._cover_stop(name, report=False)
        # Zigbee2MQTT's optimistic state: the target, before the motor has moved.
        await self.state(name, position=target, state=_cover_state(target))
        self._cover_at[name] = start
        if name in self.stalled or target == start:
            return
        self._motors[name] = asyncio.get_running_loop().create_task(self._move(name, start, target))

    async def _move(self, name: str, start: int, target: int) -> None:
        step = COVER_STEP if target > start else -COVER_STEP
        await self.state(name, motor_state="opening" if step > 0 else "closing", running=True)
        position = start
        while position != target:
            await asyncio.sleep(self.cover_step_time)
            position = min(position + step, target) if step > 0 else max(position + step, target)
            if position != target:
                await self.state(name, position=position, state=_cover_state(position))
            self._cover_at[name] = position
        self._motors.pop(name, None)
        await self.state(
            name, position=target, state=_cover_state(target), motor_state="stopped", running=False
        )

    async def _cover_stop(self, name: str, *, report: bool = True) -> None:
        """Stop the motor; Zigbee2MQTT then reads the position back and publishes it."""
        motor = self._motors.pop(name, None)
        if motor is not None:
            motor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await motor
        cache = self.cache.setdefault(name, {})
        where = self._cover_at.get(name, cache.get("position", 100))
        if report:
            await self.state(
                name,
                position=where,
                state=_cover_state(where),
                motor_state="stopped",
                running=False,
            )


def _cover_state(position: int) -> str:
    return "OPEN" if position > 0 else "CLOSE"
