"""Shared parts of the Zigbee2MQTT tests: a bridge with the Zigbee2MQTT source on a real
mosquitto, the devices of ``tests/data/z2m_bridge_devices.json`` and
``z2m_cover_devices.json`` by IEEE address."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from homekit_helpers import free_port
from mosquitto import HOST, Mosquitto

from mihomekit.app import App, AppConfig, OutputFactory
from mihomekit.settings import MqttSettings, Zigbee2mqttSettings
from mihomekit.sources.zigbee2mqtt.source import Zigbee2mqttSource

DOOR = "0x00158d0001a2b301"
MOTION = "0x00158d0001a2b302"
CLIMATE = "0x00158d0001a2b303"
LEAK = "0x00158d0001a2b304"
MINI = "0x00158d0001a2b305"
GYRO = "0x00158d0001a2b306"
WALL = "0x00158d0001a2b307"
PLUG = "0x00158d0001a2b308"
LAMP = "0x0017880104e45521"
CURTAIN = "0x00158d0001a2b30c"
BRIDGED = (DOOR, MOTION, CLIMATE, LEAK, MINI, GYRO, WALL, PLUG, LAMP, CURTAIN)


class SourceSlot:
    """Keeps the Zigbee2MQTT source the bridge made, for the test to look at."""

    def __init__(self, settings: Zigbee2mqttSettings | None = None) -> None:
        self.settings = settings or Zigbee2mqttSettings()
        self.source: Zigbee2mqttSource | None = None

    def __call__(self, app: App) -> Zigbee2mqttSource:
        assert app.mqtt is not None
        self.source = Zigbee2mqttSource(app.registry, app.mqtt, self.settings)
        return self.source


def mqtt_settings(broker: Mosquitto, client_id: str = "mihomekit-test", **kw: Any) -> MqttSettings:
    return MqttSettings(host=HOST, port=broker.port, client_id=client_id, **kw)


def make_app(
    state_dir: Path,
    broker: Mosquitto,
    slot: SourceSlot,
    *,
    outputs: Sequence[OutputFactory] = (),
    **mqtt: Any,
) -> App:
    return App(
        AppConfig(
            state_dir=state_dir,
            address="127.0.0.1",
            port=free_port(),
            setup_code_mac="B8:27:EB:12:34:56",
            print_setup=False,
            sources=[slot],
            outputs=list(outputs),
            mqtt=mqtt_settings(broker, **mqtt),
        )
    )


async def until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
