"""MqttConnection against a real mosquitto: birth and will, subscriptions across broker
restarts, the outgoing queue, raising handlers, floods, username/password and TLS."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
from mosquitto import HOST, Mosquitto
from mqtt_helpers import Inbox, connection, settings, until

from mihomekit.mqtt import MqttConnection, MqttMessage, topic_matches

pytestmark = pytest.mark.timeout(60)


def test_topic_matches() -> None:
    assert topic_matches("home/+/BTtoMQTT/#", "home/gw1/BTtoMQTT/A4C138000000")
    assert topic_matches("a/#", "a")
    assert topic_matches("#", "a/b")
    assert not topic_matches("#", "$SYS/broker")
    assert not topic_matches("a/+", "a/b/c")
    assert not topic_matches("a/b", "a/c")


async def test_birth_subscribe_publish_and_offline_at_stop(mosquitto: Mosquitto) -> None:
    watcher = connection(mosquitto, "watcher")
    inbox = Inbox()
    watcher.subscribe("mihomekit/#", inbox)  # before start
    await watcher.start()
    await until(lambda: watcher.connected, "the watcher to connect")

    bridge = connection(mosquitto, "bridge")
    connects: list[bool] = []

    async def on_connect() -> None:
        connects.append(bridge.connected)
        bridge.publish("mihomekit/discovery", "again", retain=True)

    bridge.on_connect(on_connect)
    bridge.publish("mihomekit/early", b"queued before the start")
    await bridge.start()
    await until(lambda: b"online" in inbox.payloads("mihomekit/status"), "online")
    await until(lambda: inbox.payloads("mihomekit/early") != [], "the queued message")
    await until(lambda: inbox.payloads("mihomekit/discovery") == [b"again"], "on_connect")
    assert connects == [True]
    assert bridge.status.connected and bridge.status.kind == "mqtt"

    later = Inbox()
    bridge.subscribe("elsewhere/+", later)  # after start: sent at once
    await asyncio.sleep(0.2)
    watcher.publish("elsewhere/x", "hello", qos=1)
    await until(lambda: later.payloads() == [b"hello"], "the late subscription")
    assert later.messages[0] == MqttMessage("elsewhere/x", b"hello", False)

    await bridge.stop()
    await until(lambda: inbox.payloads("mihomekit/status")[-1:] == [b"offline"], "offline")
    assert not bridge.connected
    await watcher.stop()


async def test_broker_restart_resubscribes_and_flushes_the_queue(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mihomekit.mqtt")
    bridge = connection(mosquitto, "bridge")
    inbox = Inbox()
    bridge.subscribe("sensors/#", inbox)
    connects = 0

    async def on_connect() -> None:
        nonlocal connects
        connects += 1

    bridge.on_connect(on_connect)
    await bridge.start()
    await until(lambda: bridge.connected, "connect")

    mosquitto.stop()
    await until(lambda: not bridge.connected, "the drop to be noticed")
    bridge.publish("sensors/queued", "while down", qos=1)
    await asyncio.sleep(0.5)  # several failed attempts: one warning only
    assert bridge.status.errors >= 2
    assert bridge.status.last_error
    mosquitto.start()
    await until(lambda: bridge.connected, "the reconnect")
    assert connects == 2

    other = connection(mosquitto, "other")
    await other.start()
    await until(lambda: other.connected, "the other client")
    other.publish("sensors/after", "flows again", qos=1)
    await until(lambda: inbox.payloads("sensors/after") == [b"flows again"], "resubscribed")
    # The message queued while the broker was down went out after the reconnect.
    await until(lambda: inbox.payloads("sensors/queued") == [b"while down"], "the queue")
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "no connection" in r.message
    ]
    assert len(warnings) == 1, warnings
    assert any("connected again" in r.message for r in caplog.records)
    await other.stop()
    await bridge.stop()


async def test_last_will_when_the_link_dies(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """The connection goes through a TCP relay that is cut: the broker sends the will."""
    upstream: list[asyncio.StreamWriter] = []
    downstream: list[asyncio.StreamWriter] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
        except (ConnectionError, OSError):
            pass

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(HOST, mosquitto.port)
        upstream.append(broker_writer)
        downstream.append(writer)
        await asyncio.gather(pipe(reader, broker_writer), pipe(broker_reader, writer))

    server = await asyncio.start_server(relay, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    watcher = connection(mosquitto, "watcher")
    inbox = Inbox()
    watcher.subscribe("relay-test/status", inbox)
    await watcher.start()
    bridge = MqttConnection(
        dataclasses.replace(settings(mosquitto, "dying"), port=port, topic_prefix="relay-test"),
        backoff_min=5.0,
        timeout=3.0,
    )
    await bridge.start()
    await until(lambda: inbox.payloads()[-1:] == [b"online"], "online")
    for writer in upstream:  # the link dies without a DISCONNECT
        writer.transport.abort()
    await until(lambda: inbox.payloads()[-1:] == [b"offline"], "the will")
    assert inbox.messages[-1].topic == "relay-test/status"
    server.close()
    await bridge.stop()
    await watcher.stop()


async def test_a_raising_handler_is_counted_and_the_others_still_run(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = connection(mosquitto, "bridge")
    good = Inbox()

    def bad(message: MqttMessage) -> None:
        raise ValueError(f"cannot handle {message.topic}")

    bridge.subscribe("t/#", bad)
    bridge.subscribe("t/#", good)
    await bridge.start()
    await until(lambda: bridge.connected, "connect")
    for index in range(5):
        bridge.publish(f"t/{index}", str(index))
    await until(lambda: len(good.messages) == 5, "all five messages")
    assert bridge.counts["handler_errors"] == 5
    assert bridge.connected
    failed = [r for r in caplog.records if "handler for t/# failed" in r.message]
    assert len(failed) == 1
    await bridge.stop()


async def test_the_outgoing_queue_is_bounded_while_disconnected(
    mosquitto: Mosquitto,
) -> None:
    mosquitto.stop()
    bridge = connection(mosquitto, "bridge", outgoing_limit=10)
    inbox = Inbox()
    bridge.subscribe("q/n", inbox)  # subscribed before the queue is sent: hears it all
    await bridge.start()
    for index in range(25):
        bridge.publish("q/n", str(index), qos=1)
    assert bridge.counts["outgoing_dropped"] == 15
    mosquitto.start()
    await until(lambda: bridge.connected, "the bridge")
    await until(lambda: len(inbox.messages) >= 10, "the queued messages")
    await asyncio.sleep(0.2)
    # The fifteen oldest were dropped; the ten newest went out, in order.
    assert inbox.payloads() == [str(i).encode() for i in range(15, 25)]
    await bridge.stop()


async def test_a_flood_is_counted_never_fatal(mosquitto: Mosquitto) -> None:
    bridge = connection(mosquitto, "bridge", incoming_limit=5)
    inbox = Inbox()

    def slow(message: MqttMessage) -> None:
        inbox(message)
        if len(inbox.messages) == 1:
            import time

            time.sleep(0.3)  # the broker keeps sending meanwhile

    bridge.subscribe("flood/#", slow)
    await bridge.start()
    flooder = connection(mosquitto, "flooder", outgoing_limit=10000)
    await flooder.start()
    await until(lambda: bridge.connected and flooder.connected, "both")
    for index in range(3000):
        flooder.publish("flood/x", str(index))
    await until(lambda: len(inbox.messages) + bridge.counts["incoming_dropped"] >= 3000, "all")
    assert bridge.counts["incoming_dropped"] > 0
    assert bridge.connected
    flooder.publish("flood/end", "still alive", qos=1)
    await until(lambda: inbox.payloads("flood/end") == [b"still alive"], "the last one")
    await flooder.stop()
    await bridge.stop()


async def test_username_and_password(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "auth", users={"bridge": "s3cret"})
    broker.start()
    try:
        good = connection(broker, "good", settings={"username": "bridge", "password": "s3cret"})
        wrong = connection(broker, "wrong", settings={"username": "bridge", "password": "nope"})
        anonymous = connection(broker, "anonymous")
        for conn in (good, wrong, anonymous):
            await conn.start()
        await until(lambda: good.connected, "the right password")
        await until(lambda: wrong.status.errors > 0 and anonymous.status.errors > 0, "refusals")
        assert not wrong.connected and not anonymous.connected
        assert "username and password" in (wrong.status.last_error or "")
        for conn in (good, wrong, anonymous):
            await conn.stop()
    finally:
        broker.stop()


async def test_tls_with_our_ca(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "tls", tls=True)
    broker.start()
    try:
        trusted = connection(broker, "trusted", settings={"tls": True, "ca_file": broker.ca_file})
        untrusted = connection(broker, "untrusted", settings={"tls": True})  # system CAs
        plain = connection(broker, "plain")
        for conn in (trusted, untrusted, plain):
            await conn.start()
        await until(lambda: trusted.connected, "the TLS connection")
        inbox = Inbox()
        trusted.subscribe("secure/#", inbox)
        await asyncio.sleep(0.2)
        trusted.publish("secure/x", "over TLS", qos=1)
        await until(lambda: inbox.payloads() == [b"over TLS"], "a round trip over TLS")
        await until(lambda: untrusted.status.errors > 0 and plain.status.errors > 0, "refusals")
        assert "certificate" in (untrusted.status.last_error or "").lower()
        assert not untrusted.connected and not plain.connected
        for conn in (trusted, untrusted, plain):
            await conn.stop()
    finally:
        broker.stop()


async def test_the_bridge_owns_one_connection(mosquitto: Mosquitto, tmp_path: Path) -> None:
    from homekit_helpers import free_port

    from mihomekit.app import App, AppConfig
    from mihomekit.errors import ConfigError
    from mihomekit.mqtt import require_connection

    seen: list[MqttConnection | None] = []

    class Probe:
        """A source that checks the connection exists before the sources start."""

        def __init__(self, app: App) -> None:
            seen.append(require_connection(app.mqtt, "probe"))
            self.status = None

        async def start(self) -> None:
            pass

        async def stop(self) -> None:
            pass

    watcher = connection(mosquitto, "watcher")
    inbox = Inbox()
    watcher.subscribe("mihomekit/status", inbox)
    await watcher.start()
    app = App(
        AppConfig(
            state_dir=tmp_path / "state",
            address=HOST,
            port=free_port(),
            setup_code_mac="B8:27:EB:12:34:56",
            print_setup=False,
            sources=[Probe],  # type: ignore[list-item]
            mqtt=settings(mosquitto, "the-bridge"),
        )
    )
    await app.start()
    try:
        assert seen == [app.mqtt] and app.mqtt is not None
        await until(lambda: inbox.payloads()[-1:] == [b"online"], "online")
    finally:
        await app.stop()
    assert app.mqtt is None
    await until(lambda: inbox.payloads()[-1:] == [b"offline"], "offline at stop")
    await watcher.stop()

    without = App(AppConfig(state_dir=tmp_path / "state2", address=HOST, port=free_port()))
    with pytest.raises(ConfigError, match=r"needs an \[mqtt\] broker"):
        require_connection(without.mqtt, "[[mqtt_receivers]]")


async def test_a_filter_added_while_connecting_is_subscribed(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source that subscribes while the connection renews its subscriptions (a receiver
    starting as the broker answers) gets its messages without waiting for a reconnect."""
    import aiomqtt

    conn = connection(mosquitto, "bridge")
    early, late = Inbox(), Inbox()
    conn.subscribe("early/#", early)
    original = aiomqtt.Client.subscribe

    async def subscribe(self: aiomqtt.Client, topic: str, *args: Any, **kwargs: Any) -> Any:
        if topic == "early/#":
            conn.subscribe("late/#", late)  # lands in the middle of the renewal
        return await original(self, topic, *args, **kwargs)

    monkeypatch.setattr(aiomqtt.Client, "subscribe", subscribe)
    watcher = connection(mosquitto, "watcher")
    await conn.start()
    await watcher.start()
    try:
        await until(lambda: conn.connected and watcher.connected, "both connected")
        watcher.publish("late/x", b"1")
        await until(lambda: late.payloads() == [b"1"], "the late filter's message")
    finally:
        await watcher.stop()
        await conn.stop()
