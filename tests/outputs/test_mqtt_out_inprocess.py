"""MQTT out inside one process: republishing (Home Assistant's birth, reconnects), button
events, commands from Home Assistant, Zigbee2MQTT devices' states without a second
discovery, and the pure builders (discovery, Tasmota MI32)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from mosquitto import HOST, Mosquitto
from z2m_helpers import CLIMATE, MINI, PLUG, SourceSlot, make_app, until
from z2m_simulator import Z2mSimulator

from mihomekit.catalog import by_model
from mihomekit.commands.run import mqtt_output
from mihomekit.errors import GatewayError
from mihomekit.outputs.discovery import device_config
from mihomekit.outputs.mqtt import MqttOutput
from mihomekit.outputs.tasmota import dew_point, sensor_key, sensor_message, sensor_object
from mihomekit.readings import Event, Value

pytestmark = pytest.mark.timeout(60)


class Listener:
    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.got: list[tuple[str, bytes, bool]] = []
        self._task: asyncio.Task[None] | None = None
        self.client: aiomqtt.Client | None = None

    async def __aenter__(self) -> Listener:
        ready = asyncio.Event()

        async def run() -> None:
            async with aiomqtt.Client(HOST, self.broker.port, identifier="ha") as client:
                self.client = client
                await client.subscribe("#")
                ready.set()
                async for m in client.messages:
                    payload = m.payload if isinstance(m.payload, bytes) else b""
                    self.got.append((m.topic.value, payload, m.retain))

        self._task = asyncio.create_task(run())
        await asyncio.wait_for(ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def on(self, topic: str) -> list[bytes]:
        return [p for t, p, _ in self.got if t == topic]


async def test_republish_events_commands_and_zigbee2mqtt_states(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    sim = Z2mSimulator(HOST, mosquitto.port)
    await sim.start()
    slot = SourceSlot()
    app = make_app(tmp_path, mosquitto, slot, outputs=[mqtt_output], publish=True)
    commands: list[tuple[str, Mapping[str, Value]]] = []

    async def record(device_id: str, values: Mapping[str, Value]) -> None:
        commands.append((device_id, values))

    await app.start()
    try:
        async with Listener(mosquitto) as ha:
            await until(lambda: app.registry.get(PLUG) is not None, "the devices")
            # Zigbee2MQTT devices: states on mihomekit/<ieee>, no discovery of our own.
            await sim.state(CLIMATE, temperature=20.5, humidity=40.0, pressure=1001.0)
            await until(lambda: ha.on(f"mihomekit/{CLIMATE}"), "the climate state", 5)
            state = json.loads(ha.on(f"mihomekit/{CLIMATE}")[-1])
            assert state["pressure"] == 1001.0 and state["model"] == "WSDCGQ11LM"
            assert not [t for t, _, _ in ha.got if t.startswith("homeassistant/device/")]
            # A button: a non-retained event.
            await sim.state(MINI, action="double")
            topic = f"mihomekit/{MINI}/button_1"
            await until(lambda: ha.on(topic), "the event", 5)
            assert json.loads(ha.on(topic)[0]) == {"event_type": "double_press"}
            assert [r for t, _, r in ha.got if t == topic] == [False]

            # A device of another source (a gateway plug, say) gets discovery; HA's
            # birth message and a reconnect publish it again.
            plug = app.registry.add_device(
                "158d0001000004", _gateway_plug(), None, source="zigbee", control=record
            )
            app.registry.ingest(plug.id, {"power": False, "load_power": 0.0})
            config = f"homeassistant/device/mihomekit_{plug.id}/config"
            await until(lambda: ha.on(config), "discovery of a new device", 5)
            assert ha.client is not None
            await ha.client.publish("homeassistant/status", "online")
            await until(lambda: len(ha.on(config)) >= 2, "republished on HA's birth", 5)
            assert app.mqtt is not None
            await app.mqtt.stop()
            await app.mqtt.start()
            await until(lambda: len(ha.on(config)) >= 3, "republished on reconnect", 5)
            discovery = json.loads(ha.on(config)[-1])
            switch = discovery["components"][f"mihomekit_{plug.id}_power"]
            assert switch["platform"] == "switch"
            await ha.client.publish(switch["command_topic"], switch["payload_on"])
            await ha.client.publish(switch["command_topic"], b'{"power": "yes"}')  # refused
            await ha.client.publish(switch["command_topic"], b'{"voltage": 1}')  # refused
            await until(lambda: commands, "the command", 5)
            await asyncio.sleep(0.2)
            assert commands == [(plug.id, {"power": True})]
    finally:
        await app.stop()
        await sim.stop()


def _gateway_plug() -> Any:
    from mihomekit.sources.gateway.models import device_model

    return device_model("plug")


def test_discovery_units_classes_and_buttons() -> None:
    model = by_model("LYWSD03MMC")
    assert model is not None
    config = device_config(
        "A4C138123456", "Living", model, "ble", topic_prefix="mk", readings=frozenset({"rssi"})
    )
    cmps = config["components"]
    temperature = cmps["mihomekit_A4C138123456_temperature"]
    assert temperature["unit_of_measurement"] == "°C"
    assert temperature["device_class"] == "temperature"
    assert temperature["state_class"] == "measurement"
    assert temperature["value_template"] == "{{ value_json.temperature }}"
    assert cmps["mihomekit_A4C138123456_rssi"]["entity_category"] == "diagnostic"
    assert config["device"]["connections"] == [["mac", "a4:c1:38:12:34:56"]]
    assert config["availability_topic"] == "mk/status"
    remote = by_model("YLYK01YL")
    assert remote is not None
    buttons = device_config("F82441DE0007", "Remote", remote, "ble", topic_prefix="mk")
    events = [c for c in buttons["components"].values() if c["platform"] == "event"]
    assert len(events) == remote.buttons
    assert events[0]["event_types"][0] == "press"


def test_tasmota_layout() -> None:
    model = by_model("LYWSD03MMC")
    assert sensor_key("A4C13852680F", "x", model, "ble") == "LYWSD03-52680f"
    assert sensor_key("158d0001", "Hall door", None, "zigbee") == "Hall door"
    fields = sensor_object(
        "A4C13852680F",
        {"temperature": 21.14, "humidity": 58.0, "battery": 100, "rssi": -71},
        source="ble",
    )
    assert list(fields) == ["Temperature", "Humidity", "DewPoint", "Battery", "RSSI", "MAC"]
    assert fields["Temperature"] == 21.1 and fields["DewPoint"] == pytest.approx(12.6, abs=0.2)
    assert fields["MAC"] == "A4C13852680F"
    door = sensor_object(
        "E4AAECDE0005", {"opening": True}, [Event("press", 2)], source="ble", event_count=3
    )
    assert door == {"Button1": 1, "Door": 0, "Events": 3, "MAC": "E4AAECDE0005"}
    message = sensor_message("2026-01-01T00:00:00", {"LYWSD03-52680f": fields})
    assert list(message) == ["Time", "LYWSD03-52680f", "TempUnit"]
    assert dew_point(20.0, 0) is None


async def test_births_and_failed_commands_stay_quiet(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """100 births of Home Assistant at once: discovery goes out once more. 500 commands
    that fail: one warning."""

    def output(app: Any) -> MqttOutput:
        assert app.mqtt is not None
        return MqttOutput(app.registry, app.mqtt, birth_delay=0.2, birth_holdoff=60.0)

    app = make_app(tmp_path, mosquitto, SourceSlot(), outputs=[output], publish=True)
    await app.start()
    try:
        mqtt_out = next(o for o in app.outputs if isinstance(o, MqttOutput))
        await until(lambda: app.mqtt is not None and app.mqtt.connected, "the broker", 5)

        async def offline(device_id: str, values: Mapping[str, Value]) -> None:
            raise GatewayError(f"{device_id} is offline")

        plug = app.registry.add_device(
            "158d0001000005", _gateway_plug(), None, source="zigbee", control=offline
        )
        config = f"homeassistant/device/mihomekit_{plug.id}/config"
        await until(lambda: mqtt_out.stats["discovery"] >= 1, "the first discovery", 5)
        async with Listener(mosquitto) as ha:
            assert ha.client is not None
            await until(lambda: ha.on(config), "the retained discovery", 5)
            await asyncio.sleep(0.3)
            before = len(ha.on(config))
            caplog.set_level(logging.INFO, logger="mihomekit.outputs.mqtt")
            for _ in range(100):
                await ha.client.publish("homeassistant/status", "online")
            await until(lambda: mqtt_out.stats["births"] == 100, "the births", 5)
            await until(lambda: len(ha.on(config)) > before, "one answer", 5)
            await asyncio.sleep(0.5)
            assert len(ha.on(config)) == before + 1
            answered = [r for r in caplog.records if "Home Assistant is online" in r.getMessage()]
            assert len(answered) == 1
            for _ in range(500):
                await ha.client.publish(f"mihomekit/{plug.id}/set", b'{"power": true}')
            await until(lambda: mqtt_out.stats["dropped_commands"] == 500, "the commands", 10)
        failed = [r for r in caplog.records if "command failed" in r.getMessage()]
        assert [r.levelno for r in failed if r.levelno >= logging.WARNING] == [logging.WARNING]
    finally:
        await app.stop()


async def test_removed_device_leaves_the_broker_and_comes_back_when_added_again(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The MQTT output follows the registry: a device removed while running has its
    retained discovery and state cleared; added again, it is published again at once."""
    from mihomekit.mi32cfg import DeviceEntry

    slot = SourceSlot()
    app = make_app(tmp_path, mosquitto, slot, outputs=[mqtt_output], publish=True)
    entry = DeviceEntry(mac="A4C138000042", pid=0x055B, key=None, name="Study")
    config = f"homeassistant/device/mihomekit_{entry.mac}/config"
    state = f"mihomekit/{entry.mac}"
    await app.start()
    try:
        async with Listener(mosquitto) as ha:
            app.registry.add_entry(entry)
            app.registry.ingest(entry.mac, {"temperature": 21.5})
            await until(lambda: ha.on(config) and ha.on(state), "discovery and state", 5)
            assert json.loads(ha.on(state)[-1])["temperature"] == 21.5

            app.registry.remove(entry.mac)
            await until(lambda: ha.on(config)[-1:] == [b""], "discovery cleared", 5)
            await until(lambda: ha.on(state)[-1:] == [b""], "state cleared", 5)

            app.registry.add_entry(entry)
            app.registry.ingest(entry.mac, {"temperature": 22.0})
            await until(lambda: ha.on(state)[-1:] != [b""], "state again", 5)
            assert json.loads(ha.on(state)[-1])["temperature"] == 22.0
            assert json.loads(ha.on(config)[-1])["device"]["name"] == "Study"
        # Nothing retained is left for a removed device: a new client sees no trace.
        app.registry.remove(entry.mac)
        await asyncio.sleep(0.3)
        async with Listener(mosquitto) as late:
            await asyncio.sleep(0.5)
            assert not late.on(config) and not late.on(state)
    finally:
        await app.stop()


async def test_discovery_follows_what_a_device_reports(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """A BTHome device's discovery is published again when its model learns a reading (a
    ``model`` change), with the entities of what it reports: sensors and buttons."""
    from mihomekit.decoders import build
    from mihomekit.mi32cfg import DeviceEntry

    slot = SourceSlot()
    app = make_app(tmp_path, mosquitto, slot, outputs=[mqtt_output], publish=True)
    entry = DeviceEntry(mac="381F8D000042", pid=0xB770, key=None)
    config = f"homeassistant/device/mihomekit_{entry.mac}/config"
    await app.start()
    try:
        async with Listener(mosquitto) as ha:
            app.registry.add_entry(entry)
            await until(lambda: ha.on(config), "discovery", 5)
            assert (
                f"mihomekit_{entry.mac}_temperature"
                not in json.loads(ha.on(config)[-1])["components"]
            )
            frame = build.bthome_frame(
                [(0x02, b"\x5a\x08"), (0x3A, b"\x01"), (0x3A, b"\x02")], mac=entry.display_mac
            )
            app.registry.handle_advertisement(entry.display_mac, 0xFCD2, frame)
            temperature_id = f"mihomekit_{entry.mac}_temperature"

            def learned() -> bool:
                return temperature_id in json.loads(ha.on(config)[-1])["components"]

            await until(learned, "discovery again, with the temperature", 5)
            components = json.loads(ha.on(config)[-1])["components"]
            temperature = components[temperature_id]
            assert temperature["device_class"] == "temperature"
            events = [c["name"] for c in components.values() if c["platform"] == "event"]
            assert events == ["Button 1", "Button 2"]
    finally:
        await app.stop()
