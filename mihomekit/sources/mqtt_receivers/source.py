"""One ``[[mqtt_receivers]]`` entry: a topic filter on the bridge's broker, read in one format.

Every usable message becomes an :class:`~mihomekit.sources.Advertisement` for the sink
(``registry.handle``), carrying the gateway id as its receiver. Bad input is counted in
``counts`` and the status, and logged once per kind: oversized payloads, bad JSON, wrong
types, and a flood from one receiver (more than ``rate`` messages a second on average,
beyond a burst of ``rate``), which drops that receiver's excess only. Decoded-only
messages (the gateway strips raw data by default) are counted and explained once.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable

from mihomekit.logthrottle import LogThrottle
from mihomekit.mqtt import MqttConnection, MqttMessage
from mihomekit.settings import MqttReceiverSettings, ReceiverFormat
from mihomekit.sources import Advertisement, AdvertisementSink, SourceStatus
from mihomekit.tap import AdvertisementTap

from .formats import (
    BadMessage,
    Parsed,
    parse_gateway_message,
    parse_relay_message,
    receiver_from_topic,
)

_LOGGER = logging.getLogger(__name__)

#: Messages a second one receiver may send on average (a busy gateway sends ~100).
RATE_LIMIT = 1000.0
#: Receivers whose rate is tracked at once; more ids than this (a hostile publisher
#: inventing them) start the tracking afresh.
MAX_TRACKED = 256

#: ``parse(topic, payload, whole=...)`` per format.
PARSERS: dict[ReceiverFormat, Callable[..., Parsed]] = {
    "theengs": parse_gateway_message,
    "openmqttgateway": parse_gateway_message,
    "mihomekit": parse_relay_message,
}

#: What to change when a gateway sends decoded values only.
RAW_DATA_HINTS: dict[ReceiverFormat, str] = {
    "theengs": (
        "Theengs Gateway sends decoded values only: switch on publish_advdata "
        '("publish_advdata": 1 in theengsgw.conf, or -padv 1) so that mihomekit gets the raw '
        "service data"
    ),
    "openmqttgateway": (
        'OpenMQTTGateway sends decoded values only: publish {"pubadvdata":true,"save":true} '
        "to home/<gateway>/commands/MQTTtoBT/config so that mihomekit gets the raw service data"
    ),
    "mihomekit": "this relay sends no service data (an old or foreign publisher?)",
}


class MqttReceiverSource:
    """Advertisements from the remote receivers publishing on one topic filter.

    ``tap``: where every advertisement goes as well, whole (presence, extensions).
    """

    def __init__(
        self,
        connection: MqttConnection,
        sink: AdvertisementSink,
        settings: MqttReceiverSettings,
        *,
        rate: float = RATE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        tap: AdvertisementTap | None = None,
    ) -> None:
        self.connection = connection
        self._tap = tap
        self.settings = settings
        self.status = SourceStatus("mqtt_receiver", settings.name or settings.topic)
        #: ``advertisements``, ``ignored``, ``status``, ``no_service_data``, ``too_large``,
        #: ``bad_json``, ``wrong_type``, ``flood``, ``sink_errors``.
        self.counts: Counter[str] = Counter()
        #: Messages per receiver id (the gateways heard on this topic).
        self.receivers: Counter[str] = Counter()
        #: Receiver id → True (online) / False (offline), from their status messages.
        self.online: dict[str, bool] = {}
        self._sink = sink
        self._parse = PARSERS[settings.format]
        self._rate = rate
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # receiver → (tokens, time)
        self._log = LogThrottle(_LOGGER, interval=None, max_keys=MAX_TRACKED)
        self._running = False
        self._subscribed = False

    async def start(self) -> None:
        """Subscribe (the connection keeps the subscription across reconnects)."""
        self._running = True
        if not self._subscribed:
            self._subscribed = True
            self.connection.subscribe(self.settings.topic, self._on_message)
            self.connection.watch(self._on_connection)
        self._on_connection(self.connection.connected)

    async def stop(self) -> None:
        self._running = False
        self.status.set_connected(False)

    def _on_connection(self, connected: bool) -> None:
        if self._running or not connected:
            self.status.set_connected(connected)

    # -- messages ----------------------------------------------------------------------

    def _on_message(self, message: MqttMessage) -> None:
        if not self._running or not self._allow(receiver_from_topic(message.topic)):
            return
        tap = self._tap
        try:
            parsed = self._parse(message.topic, message.payload, whole=tap is not None)
        except BadMessage as err:
            self._bad(err.kind, message.topic, str(err))
            return
        receiver = parsed.receiver
        self.counts[parsed.kind] += 1
        if len(self.receivers) < MAX_TRACKED or receiver in self.receivers:
            self.receivers[receiver] += 1
        if tap is not None and parsed.raw is not None:
            tap.feed(dataclasses.replace(parsed.raw, time=self._clock()))
        for name in parsed.out_of_range:
            self.counts["out_of_range"] += 1
            self._warn_once(
                "out_of_range",
                "%s: %s sent a %s outside its physical range (left out; counted)",
                self.status.name,
                receiver,
                name,
            )
        if parsed.kind == "advertisement" and parsed.advertisement is not None:
            self._forward(parsed.advertisement)
        elif parsed.kind == "no_service_data":
            self._warn_once(
                "no_service_data",
                "%s: %s sent a message without raw service data (counted; said once): %s",
                self.status.name,
                receiver,
                RAW_DATA_HINTS[self.settings.format],
            )
        elif parsed.kind == "status" and parsed.online is not None:
            if self.online.get(receiver) != parsed.online:
                _LOGGER.info(
                    "%s: receiver %s is %s",
                    self.status.name,
                    receiver,
                    "online" if parsed.online else "offline",
                )
            if len(self.online) < MAX_TRACKED or receiver in self.online:
                self.online[receiver] = parsed.online

    def _forward(self, advertisement: Advertisement) -> None:
        self.status.advertisements += 1
        try:
            self._sink(advertisement)
        except Exception as err:  # the registry's trouble must not stop the receiver
            self.counts["sink_errors"] += 1
            self.status.error(f"handling an advertisement failed: {err!r}")
            self._warn_once(
                "sink", "%s: handling an advertisement failed: %r", self.status.name, err
            )

    def _allow(self, receiver: str) -> bool:
        """A token bucket per receiver: ``rate`` a second, bursts up to ``rate``."""
        now = self._clock()
        tokens, then = self._buckets.get(receiver, (self._rate, now))
        tokens = min(self._rate, tokens + (now - then) * self._rate)
        if tokens < 1.0:
            self._buckets[receiver] = (tokens, now)
            self.counts["flood"] += 1
            self.status.error(f"{receiver} sends more than {self._rate:g} messages a second")
            self._warn_once(
                f"flood:{receiver}",
                "%s: receiver %s sends more than %g messages a second; dropping its excess "
                "(counted; said once)",
                self.status.name,
                receiver,
                self._rate,
            )
            return False
        if len(self._buckets) >= MAX_TRACKED and receiver not in self._buckets:
            self._buckets.clear()
        self._buckets[receiver] = (tokens - 1.0, now)
        return True

    def _bad(self, kind: str, topic: str, reason: str) -> None:
        self.counts[kind] += 1
        self.status.error(f"{topic}: {reason}")
        self._warn_once(
            kind,
            "%s: unusable message on %s: %s (counted; further ones at debug level)",
            self.status.name,
            topic,
            reason,
        )

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        self._log.warning(key, message, *args)
