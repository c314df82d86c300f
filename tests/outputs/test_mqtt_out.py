"""MQTT out against a real mosquitto: a ``mihomekit run --demo`` process publishes; a
subscriber checks the Home Assistant discovery of every demo device (required fields,
units, device classes, availability), the retained states, the Tasmota MI32 messages, that
no key or password appears in any message, and the last will when the bridge is killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from homekit_helpers import free_port
from mosquitto import HOST, Mosquitto
from run_helpers import popen
from z2m_helpers import until

from mihomekit.demo import demo_entries
from mihomekit.sources.gateway.simulator import DEMO_PASSWORD

pytestmark = pytest.mark.timeout(120)

#: Units and device classes Home Assistant expects for our readings.
EXPECTED = {
    "temperature": ("sensor", "temperature", "°C"),
    "humidity": ("sensor", "humidity", "%"),
    "pressure": ("sensor", "atmospheric_pressure", "hPa"),
    "illuminance": ("sensor", "illuminance", "lx"),
    "battery": ("sensor", "battery", "%"),
    "voltage": ("sensor", "voltage", "V"),
    "rssi": ("sensor", "signal_strength", "dBm"),
    "opening": ("binary_sensor", "door", None),
    "motion": ("binary_sensor", "motion", None),
    "leak": ("binary_sensor", "moisture", None),
}


class Inbox:
    def __init__(self) -> None:
        self.messages: dict[str, list[tuple[bytes, bool]]] = {}

    def add(self, message: aiomqtt.Message) -> None:
        payload = message.payload if isinstance(message.payload, bytes) else b""
        self.messages.setdefault(message.topic.value, []).append((payload, message.retain))

    def last(self, topic: str) -> Any:
        return json.loads(self.messages[topic][-1][0])

    def topics(self, prefix: str) -> list[str]:
        return [t for t in self.messages if t.startswith(prefix)]


async def _listen(broker: Mosquitto, inbox: Inbox, ready: asyncio.Event) -> None:
    async with aiomqtt.Client(HOST, broker.port, identifier="listener") as client:
        await client.subscribe("#")
        ready.set()
        async for message in client.messages:
            inbox.add(message)


async def test_demo_devices_reach_home_assistant_and_the_will(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(
        f'[mqtt]\nhost = "{HOST}"\nport = {mosquitto.port}\npublish = true\n'
        f'tasmota_topic = "mi32"\nclient_id = "bridge-under-test"\n'
    )
    inbox = Inbox()
    ready = asyncio.Event()
    listener = asyncio.create_task(_listen(mosquitto, inbox, ready))
    await asyncio.wait_for(ready.wait(), 10)
    args = [
        "run",
        "--demo",
        "--no-web",
        "--settings",
        str(settings),
        "--state-dir",
        str(tmp_path / "s"),
    ]
    args += ["--address", HOST, "--port", str(free_port()), "--replay-speed", "20"]
    proc = popen(*args)
    try:
        entries = demo_entries()
        ble_ids = [e.mac for e in entries]
        config = "homeassistant/device/mihomekit_{}/config"
        await until(
            lambda: all(config.format(d) in inbox.messages for d in ble_ids), "BLE discovery", 30
        )
        await until(lambda: len(inbox.topics("homeassistant/device/")) > len(ble_ids), "Zigbee")
        await until(lambda: inbox.messages.get("tele/mi32/SENSOR"), "a Tasmota message")
        await until(lambda: inbox.messages.get("mihomekit/status"), "the birth message")
        assert inbox.messages["mihomekit/status"][-1][0] == b"online"

        checked_units = set()
        for topic in inbox.topics("homeassistant/device/"):
            payload, _ = inbox.messages[topic][-1]
            discovery = json.loads(payload)
            device_id = topic.split("/")[2].removeprefix("mihomekit_")
            assert discovery["origin"]["name"] == "mihomekit"
            device = discovery["device"]
            assert device["identifiers"] == [f"mihomekit_{device_id}"]
            assert device["name"] and device["manufacturer"] and device["model"]
            assert discovery["availability_topic"] == "mihomekit/status"
            assert discovery["state_topic"] == f"mihomekit/{device_id}"
            components = discovery["components"]
            assert components
            for uid, component in components.items():
                assert component["platform"] in {"sensor", "binary_sensor", "event", "switch"}
                assert component["unique_id"] == uid
                reading = uid.removeprefix(f"mihomekit_{device_id}_")
                if reading in EXPECTED:
                    platform, device_class, unit = EXPECTED[reading]
                    assert component["platform"] == platform, uid
                    assert component["device_class"] == device_class, uid
                    assert component.get("unit_of_measurement") == unit, uid
                    checked_units.add(reading)
                if component["platform"] == "event":
                    assert component["event_types"]
                    assert component["state_topic"].startswith(f"mihomekit/{device_id}/button_")
                if component["platform"] == "switch":
                    assert component["command_topic"] == f"mihomekit/{device_id}/set"
            if device_id in ble_ids:
                mac = ":".join(device_id[i : i + 2] for i in range(0, 12, 2)).lower()
                assert device["connections"] == [["mac", mac]]
        assert {"temperature", "humidity", "battery", "rssi", "opening", "motion"} <= checked_units

        # Retained states with readings: a fresh subscriber gets them at once.
        await until(lambda: "mihomekit/A4C138DE0001" in inbox.messages, "a state")
        async with aiomqtt.Client(HOST, mosquitto.port, identifier="late") as late:
            await late.subscribe("mihomekit/A4C138DE0001")
            message = await asyncio.wait_for(anext(aiter(late.messages)), 10)
            assert message.retain
            state = json.loads(message.payload)  # type: ignore[arg-type]
            assert "temperature" in state and state["name"] == "Living Room"
        tasmota = inbox.last("tele/mi32/SENSOR")
        assert list(tasmota)[:: len(tasmota) - 1] == ["Time", "TempUnit"]

        # Nothing secret, anywhere: no bind key (either case), no gateway password.
        secrets = [e.key.hex() for e in entries if e.key] + [DEMO_PASSWORD]
        for topic, messages in inbox.messages.items():
            for payload, _ in messages:
                text = (topic + payload.decode("utf-8", "replace")).lower()
                for secret in secrets:
                    assert secret.lower() not in text, topic

        # Killed: the broker publishes the retained last will.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        await until(
            lambda: inbox.messages["mihomekit/status"][-1][0] == b"offline", "the last will", 30
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
