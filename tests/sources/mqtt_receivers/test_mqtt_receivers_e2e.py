"""End to end: frames published by remote receivers through a real mosquitto reach a paired
aiohomekit controller. Theengs Gateway, OpenMQTTGateway and a ``mihomekit relay`` (its
radio: unmodified bleak and the BlueZ stand-in) repeating one button press give one event; a
broker restart recovers by itself and readings flow again."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bluez_fake import FakeBluez
from homekit_helpers import AccessoryView, EventLog, controller_on_loopback, free_port, pair
from mosquitto import HOST, Mosquitto
from mqtt_helpers import connection, make_relay, settings, until

from mihomekit.app import App, AppConfig
from mihomekit.decoders import build
from mihomekit.mi32cfg import DeviceEntry
from mihomekit.mqtt import MqttConnection, require_connection
from mihomekit.settings import MqttReceiverSettings
from mihomekit.sources.mqtt_receivers import MqttReceiverSource

pytestmark = pytest.mark.timeout(120)

KEY_TH = bytes.fromhex("e9ea895fac7eea6d30532432a516f3a3")
TH = DeviceEntry(mac="A4C138112233", pid=0x055B, key=KEY_TH)
REMOTE = DeviceEntry(mac="F82441000003", pid=0x0153, key=None)

RECEIVERS = [
    MqttReceiverSettings("home/TheengsGateway/BTtoMQTT/#", "theengs", "theengs"),
    MqttReceiverSettings("home/OMG_ESP32_BLE/BTtoMQTT/#", "openmqttgateway", "omg"),
    MqttReceiverSettings("mihomekit/relay/+/adv/#", "mihomekit", "relays"),
]


def th_frame(counter: int, temperature: float) -> bytes:
    return build.mibeacon_frame(
        0x055B,
        counter,
        [(0x1004, struct.pack("<h", round(temperature * 10)))],
        mac=TH.display_mac,
        key=KEY_TH,
        ext_counter=counter,
    )


def button_frame(counter: int) -> bytes:
    """A long press of button 3 (no frame counter across receivers helps: same frame)."""
    return build.mibeacon_frame(
        0x0153, counter, [(0x1001, bytes([2, 0, 2]))], mac=REMOTE.display_mac, version=3
    )


def gateway_json(entry: DeviceEntry, frame: bytes, uuid: str, rssi: int) -> str:
    return json.dumps(
        {"id": entry.display_mac, "rssi": rssi, "servicedatauuid": uuid, "servicedata": frame.hex()}
    )


def receiver_factory(entry: MqttReceiverSettings) -> Any:
    def factory(app: App) -> MqttReceiverSource:
        return MqttReceiverSource(
            require_connection(app.mqtt, "[[mqtt_receivers]]"), app.registry.handle, entry
        )

    return factory


@dataclass
class Setup:
    app: App
    pairing: Any
    view: AccessoryView
    log: EventLog
    temperature: tuple[int, int]
    button: tuple[int, int]
    publisher: MqttConnection


@pytest.fixture
async def setup(tmp_path: Path, mosquitto: Mosquitto) -> AsyncIterator[Setup]:
    app = App(
        AppConfig(
            state_dir=tmp_path / "state",
            address=HOST,
            port=free_port(),
            setup_code_mac="B8:27:EB:12:34:56",
            entries=[TH, REMOTE],
            print_setup=False,
            sources=[receiver_factory(entry) for entry in RECEIVERS],
            mqtt=settings(mosquitto, "bridge"),
        )
    )
    # The bridge's own connection, with a short backoff for the restart test.
    assert app.config.mqtt is not None
    app.mqtt = MqttConnection(app.config.mqtt, backoff_min=0.1, backoff_max=0.5, timeout=3.0)
    publisher = connection(mosquitto, "gateways")
    await publisher.start()
    await app.start()
    try:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, "the bridge's broker")
        await until(lambda: publisher.connected, "the publisher")
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, app.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            th = view.aid_by_serial(TH.display_mac)
            remote = view.aid_by_serial(REMOTE.display_mac)
            temperature = (th, view.iid(th, "TemperatureSensor", "CurrentTemperature"))
            button = (
                remote,
                view.iid(remote, "StatelessProgrammableSwitch", "ProgrammableSwitchEvent", 2),
            )
            log = EventLog()
            pairing.dispatcher_connect(log)
            await pairing.subscribe([temperature, button])
            yield Setup(app, pairing, view, log, temperature, button, publisher)
    finally:
        await app.stop()
        await publisher.stop()


async def test_theengs_temperature_reaches_homekit_and_survives_a_broker_restart(
    setup: Setup, mosquitto: Mosquitto
) -> None:
    topic = "home/TheengsGateway/BTtoMQTT/A4C138112233"
    setup.publisher.publish(topic, gateway_json(TH, th_frame(20, 21.5), "fe95", -70))
    await setup.log.wait_for(setup.temperature, 21.5, timeout=5)
    statuses = {s.name: s for s in setup.app.source_statuses()}
    assert statuses["theengs"].connected and statuses["theengs"].advertisements == 1

    mosquitto.restart()
    mqtt = setup.app.mqtt
    assert mqtt is not None
    await until(lambda: mqtt.counts["connects"] == 2 and mqtt.connected, "the reconnect")
    await until(lambda: setup.publisher.connected, "the publisher's reconnect")
    assert statuses["theengs"].connected
    setup.publisher.publish(topic, gateway_json(TH, th_frame(21, 23.0), "fe95", -70), qos=1)
    await setup.log.wait_for(setup.temperature, 23.0, timeout=10)
    device = setup.app.registry.get(TH.display_mac.replace(":", ""))
    assert device is not None and set(device.receivers) == {"TheengsGateway"}


async def test_three_receivers_one_event_and_the_relay_end_to_end(
    setup: Setup, mosquitto: Mosquitto, bluez: FakeBluez
) -> None:
    relay = make_relay(mosquitto, "pi2")
    await relay.start()
    try:
        await bluez.wait_for(lambda: bool(bluez.active_monitors()))
        await until(lambda: relay.connection.connected, "the relay")
        frame = button_frame(31)
        mac = REMOTE.display_mac
        setup.publisher.publish(
            f"home/TheengsGateway/BTtoMQTT/{REMOTE.mac}", gateway_json(REMOTE, frame, "fe95", -80)
        )
        setup.publisher.publish(
            f"home/OMG_ESP32_BLE/BTtoMQTT/{REMOTE.mac}", gateway_json(REMOTE, frame, "0xfe95", -60)
        )
        bluez.advertise(mac, service_data={0xFE95: frame}, rssi=-70)
        await setup.log.wait_for(setup.button, 2, timeout=5)
        device = setup.app.registry.get(REMOTE.mac)
        assert device is not None
        await until(lambda: len(device.receivers) == 3, "all three receivers")
        assert set(device.receivers) == {"TheengsGateway", "OMG_ESP32_BLE", "pi2"}
        assert device.best_receiver == "OMG_ESP32_BLE"
        # A temperature through the relay alone: radio → relay → broker → bridge → HomeKit.
        bluez.advertise(TH.display_mac, service_data={0xFE95: th_frame(40, 19.5)})
        await setup.log.wait_for(setup.temperature, 19.5, timeout=5)
        assert setup.log.values(setup.button) == [2]  # one press, one event
    finally:
        await relay.stop()
