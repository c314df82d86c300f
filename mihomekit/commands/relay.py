"""``mihomekit relay``: a second Pi's radio, relayed to the bridge through an MQTT broker.

Scans with the local radio (the bleak adapter of ``mihomekit run``, watchdog included)
and publishes every Xiaomi-compatible advertisement, not retained, to
``mihomekit/relay/<receiver id>/adv/<MAC>`` as the JSON of
:func:`~mihomekit.sources.mqtt_receivers.formats.relay_payload`. The retained
``mihomekit/relay/<receiver id>/status`` says ``online``, and ``offline`` when the relay
stops or (as the MQTT last will) disappears. The bridge reads it with
``[[mqtt_receivers]] format = "mihomekit"``.

With ``[[presence]]`` entries in its settings (the bridge's own), the relay also forwards,
whole, the advertisements those entries want: the tag's address, the iBeacon, the phone
whose address the IRK resolves. Nothing else is forwarded, so a street of phones does not
reach the broker; the bridge then knows which room hears each tag best.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import re
import signal
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from mihomekit.commands.options import tcp_port
from mihomekit.errors import ConfigError
from mihomekit.mqtt import MqttConnection
from mihomekit.presence.entry import PresenceSettings
from mihomekit.presence.matcher import PresenceFilter
from mihomekit.settings import BleSettings, MqttSettings, load_settings
from mihomekit.sources import SENSOR_COMPANY_IDS, SENSOR_SERVICE_UUIDS, Advertisement
from mihomekit.sources.mqtt_receivers.formats import (
    relay_payload,
    relay_raw_payload,
    relay_status_topic,
    relay_topic,
)
from mihomekit.tap import AdvertisementTap, RawAdvertisement, full_uuid
from mihomekit.wording import counted

_LOGGER = logging.getLogger(__name__)

_RECEIVER_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SENSOR_UUIDS = frozenset(full_uuid(uuid) for uuid in SENSOR_SERVICE_UUIDS)


def default_receiver_id() -> str:
    """This host's name, cut to what a topic level may hold."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname().split(".", 1)[0])
    return name[:64] or "relay"


class Relay:
    """The local radio → the broker: sensor advertisements, and the whole advertisements
    ``presence`` entries want. ``scanner_factory`` replaces bleak (tests)."""

    def __init__(
        self,
        mqtt: MqttSettings,
        receiver: str,
        *,
        ble: BleSettings | None = None,
        presence: Sequence[PresenceSettings] = (),
        scanner_factory: Callable[..., Any] | None = None,
        **connection_options: Any,
    ) -> None:
        from mihomekit.sources.ble import BleAdapter

        ble = ble or BleSettings()
        self.receiver = receiver
        self.connection = MqttConnection(
            mqtt,
            name=f"relay {receiver}",
            status_topic=relay_status_topic(receiver),
            **connection_options,
        )
        self.presence = PresenceFilter(presence) if presence else None
        tap: AdvertisementTap | None = None
        if self.presence is not None:
            tap = AdvertisementTap()
            tap.watch(self._forward_whole, self.presence.interest, name="relay presence")
        self.adapter = BleAdapter(
            self._forward,
            adapter=ble.adapter,
            scan_mode=ble.scan_mode,
            watchdog_seconds=ble.watchdog_seconds,
            scanner_factory=scanner_factory,
            receiver=receiver,
            wait_for_adapter=True,
            tap=tap,
        )
        #: Advertisements published (sensor and presence).
        self.relayed = 0

    async def start(self) -> None:
        """Connect (in the background) and start scanning (or wait for the adapter)."""
        await self.connection.start()
        try:
            await self.adapter.start()
        except BaseException:
            await self.connection.stop()
            raise

    async def stop(self) -> None:
        await self.adapter.stop()
        await self.connection.stop()

    def _forward(self, advertisement: Advertisement) -> None:
        self.relayed += 1
        self.connection.publish(
            relay_topic(self.receiver, advertisement.mac),
            relay_payload(advertisement, self.receiver, time.time()),
        )

    def _forward_whole(self, adv: RawAdvertisement) -> None:
        """A presence entry's advertisement, whole (one with sensor data goes the sensor
        way: :meth:`_forward`)."""
        assert self.presence is not None
        if not _SENSOR_UUIDS.isdisjoint(adv.service_data) or not SENSOR_COMPANY_IDS.isdisjoint(
            adv.manufacturer_data
        ):
            return
        if not self.presence.wanted(adv):
            return
        self.relayed += 1
        self.connection.publish(
            relay_topic(self.receiver, adv.mac), relay_raw_payload(adv, self.receiver, time.time())
        )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "relay",
        help="relay this host's BLE sensor advertisements to an MQTT broker",
        description=(
            "Scan with this host's Bluetooth radio and publish every Xiaomi-compatible "
            "advertisement to mihomekit/relay/<receiver id>/adv/<MAC>, for a bridge "
            'elsewhere ([[mqtt_receivers]] format = "mihomekit").'
        ),
    )
    parser.add_argument("--mqtt-host", metavar="HOST", help="the broker (else [mqtt] host)")
    parser.add_argument(
        "--mqtt-port", type=tcp_port, metavar="N", help="default 1883 (8883 with TLS)"
    )
    parser.add_argument(
        "--receiver-id", metavar="NAME", help="this relay's name in topics (default: host name)"
    )
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help=(
            "TOML settings: [mqtt] for username, password, TLS; [ble] for the adapter; "
            "[[presence]] for the tags, beacons and phones to forward"
        ),
    )
    parser.set_defaults(func=run_relay)


def relay_from_args(args: argparse.Namespace) -> Relay:
    """Build the relay from the options and settings (ConfigError when they do not fit)."""
    settings = load_settings(args.settings)
    mqtt = settings.mqtt
    if mqtt is None:
        if not args.mqtt_host:
            raise ConfigError("give the broker with --mqtt-host HOST (or an [mqtt] table)")
        mqtt = MqttSettings(host=args.mqtt_host)
    elif args.mqtt_host:
        mqtt = dataclasses.replace(mqtt, host=args.mqtt_host)
    if args.mqtt_port is not None:
        if not 1 <= args.mqtt_port <= 65535:
            raise ConfigError(f"--mqtt-port: must be between 1 and 65535, got {args.mqtt_port}")
        mqtt = dataclasses.replace(mqtt, port=args.mqtt_port)
    receiver = args.receiver_id or default_receiver_id()
    if not _RECEIVER_ID.fullmatch(receiver):
        raise ConfigError(
            f"--receiver-id: letters, digits, '.', '_' and '-' only (1 to 64), got {receiver!r}"
        )
    # Its own client id, so that a bridge on the same host keeps its session.
    mqtt = dataclasses.replace(mqtt, client_id=f"mihomekit-relay-{receiver}")
    return Relay(mqtt, receiver, ble=settings.ble, presence=settings.presence)


def run_relay(args: argparse.Namespace) -> int:
    """Entry point of ``mihomekit relay``: relay until SIGINT/SIGTERM."""
    relay = relay_from_args(args)
    asyncio.run(serve(relay))
    return 0


async def serve(relay: Relay) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await relay.start()
    settings = relay.connection.settings
    radio = relay.adapter.status
    scanning = (
        f"scanning ({relay.adapter.mode})"
        if radio.connected
        else f"waiting for Bluetooth ({radio.last_error})"
    )
    presence = relay.presence
    also = ""
    if presence is not None:
        entries = counted(len(presence.matchers), "presence entry", "presence entries")
        also = f" (sensors, and the advertisements of {entries})"
    print(
        f"mihomekit relay {relay.receiver!r}: {scanning}, publishing to "
        f"{settings.host}:{settings.port} under mihomekit/relay/{relay.receiver}/{also}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await relay.stop()
    print(f"mihomekit relay {relay.receiver!r} stopped ({relay.relayed} relayed)", flush=True)
