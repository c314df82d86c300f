"""[[mqtt_receivers]] through a real mosquitto: advertisements reach the sink with their
receiver; hostile input and a flood from one receiver are counted, never fatal, and the
other receivers are unaffected; decoded-only messages are explained once."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from mosquitto import Mosquitto
from mqtt_helpers import connection, until

from mihomekit.mqtt import MqttConnection
from mihomekit.settings import MqttReceiverSettings
from mihomekit.sources import Advertisement
from mihomekit.sources.mqtt_receivers import MqttReceiverSource

pytestmark = pytest.mark.timeout(60)

MAC = "A4:C1:38:B4:94:4C"
FRAME = bytes.fromhex("50305b05034c94b438c1a40d10041001ea01")


def theengs_message(rssi: int = -71, mac: str = MAC) -> bytes:
    return json.dumps(
        {"id": mac, "rssi": rssi, "servicedatauuid": "fe95", "servicedata": FRAME.hex()}
    ).encode()


@pytest.fixture
async def publisher(mosquitto: Mosquitto) -> AsyncIterator[MqttConnection]:
    conn = connection(mosquitto, "publisher", outgoing_limit=10000)
    await conn.start()
    await until(lambda: conn.connected, "the publisher")
    yield conn
    await conn.stop()


async def test_hostile_input_is_counted_and_others_are_unaffected(
    mosquitto: Mosquitto, publisher: MqttConnection, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = connection(mosquitto, "bridge")
    heard: list[Advertisement] = []
    theengs = MqttReceiverSource(
        bridge,
        heard.append,
        MqttReceiverSettings("home/+/BTtoMQTT/#", "theengs", "theengs"),
        rate=50.0,
    )
    relays = MqttReceiverSource(
        bridge, heard.append, MqttReceiverSettings("mihomekit/relay/#", "mihomekit", "relays")
    )
    await theengs.start()
    await relays.start()
    assert not theengs.status.connected
    await bridge.start()
    await until(lambda: theengs.status.connected and relays.status.connected, "connected")

    topic = "home/{}/BTtoMQTT/A4C138B4944C"
    publisher.publish(topic.format("gw1"), b"{not json")
    publisher.publish(topic.format("gw1"), b"[1]")
    publisher.publish(topic.format("gw1"), json.dumps({"id": MAC, "rssi": "loud"}))
    publisher.publish(topic.format("gw1"), b"x" * 200_000)
    publisher.publish("mihomekit/relay/pi/adv/A4C138B4944C", b'{"mac": 12}')
    decoded = json.dumps({"id": MAC, "model_id": "LYWSD03MMC", "tempc": 21.5}).encode()
    for _ in range(3):
        publisher.publish(topic.format("gw1"), decoded)
    for _ in range(500):  # a flood from one gateway
        publisher.publish(topic.format("flooder"), theengs_message())
    for _ in range(3):  # a signal no radio has: the advertisement counts, the RSSI not
        publisher.publish(topic.format("gw3"), theengs_message(rssi=9999))
    publisher.publish(topic.format("gw2"), theengs_message(rssi=-55), qos=1)
    await until(lambda: any(a.receiver == "gw2" for a in heard), "gw2's advertisement")
    await until(lambda: relays.counts["wrong_type"] == 1, "the relay's bad message")

    assert (theengs.counts["bad_json"], theengs.counts["too_large"]) == (1, 1)
    assert theengs.counts["wrong_type"] == 2
    assert theengs.counts["no_service_data"] == 3
    assert 0 < theengs.counts["flood"] < 500
    flooded = sum(1 for a in heard if a.receiver == "flooder")
    assert flooded + theengs.counts["flood"] == 500
    assert [a for a in heard if a.receiver == "gw2"] == [
        Advertisement(MAC, {0xFE95: FRAME}, -55, "gw2")
    ]
    assert theengs.status.errors >= 4 + theengs.counts["flood"]
    assert theengs.status.advertisements == flooded + 4
    assert theengs.receivers["gw2"] == 1
    assert theengs.counts["out_of_range"] == 3
    assert [a.rssi for a in heard if a.receiver == "gw3"] == [None] * 3
    assert bridge.connected and theengs.status.connected

    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("publish_advdata" in m for m in messages) == 1
    assert sum("flooder sends more than" in m for m in messages) == 1
    assert sum("not JSON" in m for m in messages) == 1
    assert sum("outside its physical range" in m for m in messages) == 1

    # The relays' entry still works: a relay's status message.
    publisher.publish("mihomekit/relay/pi/status", "offline")
    await until(lambda: relays.online.get("pi") is False, "the relay's status")
    await theengs.stop()
    await relays.stop()
    assert not theengs.status.connected
    await bridge.stop()
