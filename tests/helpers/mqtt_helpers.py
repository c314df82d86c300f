"""MQTT test helpers: connections to a test broker, an inbox, waiting, a relay."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from mosquitto import HOST, Mosquitto

from mihomekit.commands.relay import Relay
from mihomekit.mqtt import MqttConnection, MqttMessage
from mihomekit.settings import MqttSettings


def settings(broker: Mosquitto, client_id: str, **changes: Any) -> MqttSettings:
    return dataclasses.replace(
        MqttSettings(host=HOST, port=broker.port, client_id=client_id), **changes
    )


def connection(broker: Mosquitto, client_id: str, **kwargs: Any) -> MqttConnection:
    options: dict[str, Any] = {"backoff_min": 0.05, "backoff_max": 0.2, "timeout": 3.0}
    options.update(kwargs)
    changes = options.pop("settings", {})
    return MqttConnection(settings(broker, client_id, **changes), **options)


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Inbox:
    """A handler that keeps what it got."""

    def __init__(self) -> None:
        self.messages: list[MqttMessage] = []

    def __call__(self, message: MqttMessage) -> None:
        self.messages.append(message)

    def payloads(self, topic: str | None = None) -> list[bytes]:
        return [m.payload for m in self.messages if topic is None or m.topic == topic]


def make_relay(broker: Mosquitto, receiver: str) -> Relay:
    """A relay on ``broker`` scanning with bleak (run the BlueZ stand-in), with a short
    reconnect backoff."""
    return Relay(
        settings(broker, f"mihomekit-relay-{receiver}"),
        receiver,
        backoff_min=0.05,
        backoff_max=0.2,
        timeout=3.0,
    )
