"""``mihomekit relay``: real advertisements heard through unmodified bleak and the BlueZ
stand-in, published through a real mosquitto in the documented format."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest
from ble_helpers import ATC1441, LYWSD03MMC_V3, advertise_until
from bluez_fake import FakeBluez
from mosquitto import HOST, Mosquitto
from mqtt_helpers import Inbox, connection, make_relay, until

from mihomekit.cli import main
from mihomekit.commands.relay import relay_from_args
from mihomekit.errors import ConfigError
from mihomekit.mqtt import MqttMessage

pytestmark = pytest.mark.timeout(60)


async def test_relay_publishes_the_documented_topics_and_json(
    mosquitto: Mosquitto, bluez: FakeBluez
) -> None:
    watcher = connection(mosquitto, "watcher")
    inbox = Inbox()
    watcher.subscribe("mihomekit/relay/#", inbox)
    await watcher.start()
    await until(lambda: watcher.connected, "the watcher")

    relay = make_relay(mosquitto, "garage")
    await relay.start()
    await until(lambda: relay.connection.connected, "the relay's connection")
    await bluez.wait_for(lambda: bool(bluez.active_monitors()))
    mac, uuid, data = LYWSD03MMC_V3
    bluez.advertise(mac, service_data={uuid: bytes.fromhex(data)}, rssi=-67)
    # not a sensor: not even reported by BlueZ in passive mode
    bluez.advertise("11:22:33:44:55:66", service_data={0xFE2C: b"\x00"}, rssi=-40)
    bluez.advertise(ATC1441[0], service_data={ATC1441[1]: bytes.fromhex(ATC1441[2])}, rssi=-80)
    adv_topic = "mihomekit/relay/garage/adv/A4C138B4944C"
    await until(lambda: len([m for m in inbox.messages if "/adv/" in m.topic]) == 2, "two")
    first = next(m for m in inbox.messages if m.topic == adv_topic)
    body = json.loads(first.payload)
    assert isinstance(body.pop("time"), float)
    assert body == {
        "v": 1,
        "receiver": "garage",
        "mac": mac,
        "rssi": -67,
        "service_data": {"fe95": data},
        "manufacturer_data": {},
    }
    assert not first.retain
    assert "mihomekit/relay/garage/adv/A4C138BC7C4E" in {m.topic for m in inbox.messages}
    status = [m for m in inbox.messages if m.topic == "mihomekit/relay/garage/status"]
    assert status[0].payload == b"online"
    assert relay.relayed == 2

    await relay.stop()
    await until(lambda: inbox.payloads("mihomekit/relay/garage/status")[-1:] == [b"offline"], "")
    # Retained: a newcomer learns the relay is offline.
    late = connection(mosquitto, "late")
    late_inbox = Inbox()
    late.subscribe("mihomekit/relay/+/status", late_inbox)
    await late.start()
    await until(lambda: late_inbox.messages != [], "the retained status")
    assert late_inbox.messages[0] == MqttMessage("mihomekit/relay/garage/status", b"offline", True)
    await late.stop()
    await watcher.stop()


async def test_relay_keeps_scanning_while_the_broker_is_away(
    mosquitto: Mosquitto, bluez: FakeBluez
) -> None:
    relay = make_relay(mosquitto, "attic")
    inbox = Inbox()
    relay.connection.subscribe("mihomekit/relay/attic/adv/#", inbox)
    await relay.start()
    await until(lambda: relay.connection.connected, "connect")
    mosquitto.stop()
    await until(lambda: not relay.connection.connected, "the drop")
    mac, uuid, data = LYWSD03MMC_V3
    await bluez.wait_for(lambda: bool(bluez.active_monitors()))
    assert bluez.advertise(mac, service_data={uuid: bytes.fromhex(data)})  # queued meanwhile
    await asyncio.sleep(0.3)
    mosquitto.start()
    await until(lambda: inbox.messages != [], "the queued advertisement")
    assert json.loads(inbox.messages[0].payload)["receiver"] == "attic"
    await relay.stop()


def _args(**values: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "mqtt_host": None,
        "mqtt_port": None,
        "receiver_id": None,
        "settings": None,
    }
    base.update(values)
    return argparse.Namespace(**base)


def test_relay_options(tmp_path: Path) -> None:
    relay = relay_from_args(_args(mqtt_host=HOST, mqtt_port=18830, receiver_id="shed"))
    conn = relay.connection
    assert (conn.settings.host, conn.settings.port) == (HOST, 18830)
    assert conn.settings.client_id == "mihomekit-relay-shed"
    assert conn.status_topic == "mihomekit/relay/shed/status"

    toml = tmp_path / "relay.toml"
    toml.write_text(
        '[mqtt]\nhost = "broker.lan"\nusername = "relay"\npassword = "pw"\n'
        '[ble]\nadapter = "hci1"\n'
    )
    relay = relay_from_args(_args(settings=str(toml), receiver_id="shed"))
    assert (relay.connection.settings.host, relay.connection.settings.username) == (
        "broker.lan",
        "relay",
    )
    assert relay.presence is None  # sensors only
    with toml.open("a") as extra:
        extra.write('[[presence]]\nname = "Keys"\nmac = "C8:FD:19:12:34:56"\n')
    relay = relay_from_args(_args(settings=str(toml), receiver_id="shed"))
    assert relay.presence is not None
    assert [m.entry.name for m in relay.presence.matchers] == ["Keys"]
    with pytest.raises(ConfigError, match="--mqtt-host"):
        relay_from_args(_args())
    with pytest.raises(ConfigError, match="--receiver-id"):
        relay_from_args(_args(mqtt_host=HOST, receiver_id="a/b"))
    with pytest.raises(ConfigError, match="--mqtt-port"):
        relay_from_args(_args(mqtt_host=HOST, mqtt_port=0))


def test_relay_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["relay"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mihomekit: give the broker with --mqtt-host")
    assert main(["relay", "--mqtt-host", HOST, "--receiver-id", "no spaces"]) == 2
    assert "--receiver-id" in capsys.readouterr().err


async def test_relay_waits_for_an_adapter_that_appears_later(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with FakeBluez.running(tmp_path, adapters=()) as bluez:
        relay = make_relay(mosquitto, "shed")
        await relay.start()
        try:
            radio = relay.adapter.status
            assert not radio.connected
            assert radio.last_error == "BlueZ lists no adapter"
            await bluez.add_adapter("hci0")
            await advertise_until(bluez, lambda: relay.relayed > 0, LYWSD03MMC_V3)
            assert radio.connected
        finally:
            await relay.stop()
