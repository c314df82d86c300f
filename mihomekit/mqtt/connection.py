"""The bridge's one connection to an MQTT broker (aiomqtt), kept up by its own loop.

aiomqtt has no automatic reconnect: :class:`MqttConnection` builds the client inside the
running loop, connects, publishes the retained ``online`` birth message, renews every
subscription, runs the ``on_connect`` callbacks, then reads and writes until the link
drops; then it waits (1 s, doubling to 60 s) and starts over. While it is down,
:meth:`MqttConnection.publish` queues (bounded, oldest dropped first). Nothing a broker
or a publisher sends can stop the loop: a raising handler or a flood is counted and
logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from mihomekit.reconnect import Backoff, ReconnectLoop
from mihomekit.settings import MqttSettings
from mihomekit.status import SourceStatus

_LOGGER = logging.getLogger(__name__)

#: Messages kept for publishing while disconnected; beyond that the oldest are dropped.
OUTGOING_LIMIT = 2000
#: Received messages waiting for their handlers; beyond that new ones are dropped.
INCOMING_LIMIT = 5000
BACKOFF_MIN = 1.0
BACKOFF_MAX = 60.0
#: Seconds for connecting, subscribing and the final ``offline`` message.
TIMEOUT = 10.0
KEEPALIVE = 60
ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class MqttMessage:
    """A message received from the broker."""

    topic: str
    payload: bytes
    retain: bool


MessageHandler = Callable[[MqttMessage], None]
ConnectCallback = Callable[[], Awaitable[None]]


def topic_matches(topic_filter: str, topic: str) -> bool:
    """True if ``topic`` matches ``topic_filter`` (MQTT ``+`` and ``#`` wildcards)."""
    filter_levels = topic_filter.split("/")
    levels = topic.split("/")
    if topic.startswith("$") and filter_levels[0] in ("+", "#"):
        return False
    for index, want in enumerate(filter_levels):
        if want == "#":
            return True
        if index >= len(levels):
            return False
        if want != "+" and want != levels[index]:
            return False
    return len(levels) == len(filter_levels)


class MqttConnection:
    """One broker connection shared by every MQTT source and output of the bridge.

    ``status`` reports it like a source's (kind ``mqtt``). ``status_topic`` (default
    ``<topic_prefix>/status``) gets a retained ``online`` on each connect and is the last
    will (retained ``offline``); :meth:`stop` publishes ``offline`` itself. A listener
    that is not the bridge (``mihomekit scan``) passes ``announce=False``: no birth, no
    will, nothing published about it.
    """

    @classmethod
    def listener(cls, settings: MqttSettings, tag: str, **options: Any) -> MqttConnection:
        """A connection for a command that only listens beside a running bridge.

        Its client id is the bridge's plus ``-<tag>-<pid>`` (the broker would otherwise
        push the bridge off), and it announces nothing (``announce=False``).
        """
        own_id = f"{settings.client_id}-{tag}-{os.getpid()}"
        return cls(dataclasses.replace(settings, client_id=own_id), announce=False, **options)

    def __init__(
        self,
        settings: MqttSettings,
        *,
        name: str = "mqtt",
        status_topic: str | None = None,
        announce: bool = True,
        backoff_min: float = BACKOFF_MIN,
        backoff_max: float = BACKOFF_MAX,
        timeout: float = TIMEOUT,
        keepalive: int = KEEPALIVE,
        outgoing_limit: int = OUTGOING_LIMIT,
        incoming_limit: int = INCOMING_LIMIT,
    ) -> None:
        self.settings = settings
        self.name = name
        self.status_topic = status_topic or settings.status_topic
        self._announce = announce
        self.status = SourceStatus(kind="mqtt", name=name)
        self._timeout = timeout
        self._keepalive = keepalive
        self._incoming_limit = incoming_limit
        self._handlers: list[tuple[str, MessageHandler]] = []
        self._filters: list[str] = []  # subscribed, in order, without repeats
        self._connect_callbacks: list[ConnectCallback] = []
        self._watchers: list[Callable[[bool], None]] = []
        self._outgoing: deque[tuple[str, bytes, int, bool]] = deque(maxlen=outgoing_limit)
        self._outgoing_ready = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._link = ReconnectLoop(
            self._connect_once,
            backoff=Backoff(backoff_min, backoff_max, jitter=0.0),
            on_error=self._on_link_error,
            name=name,
        )
        self._outage_warned = False
        self._had_connection = False
        self._warned: set[str] = set()
        #: Drops and failures, by kind: ``outgoing_dropped``, ``incoming_dropped``,
        #: ``handler_errors``, ``publish_errors``, ``connects``.
        self.counts: dict[str, int] = {
            "connects": 0,
            "outgoing_dropped": 0,
            "incoming_dropped": 0,
            "handler_errors": 0,
            "publish_errors": 0,
        }

    # -- interface -----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.status.connected

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Call ``handler`` for every message matching ``topic_filter``, across reconnects.

        Sends the SUBSCRIBE at once when connected, else on the next connect.
        """
        self._handlers.append((topic_filter, handler))
        if topic_filter in self._filters:
            return
        self._filters.append(topic_filter)
        client = self._client
        if client is not None and self.connected:
            task = asyncio.get_running_loop().create_task(self._subscribe_now(client, topic_filter))
            task.add_done_callback(_consume)

    def on_connect(self, callback: ConnectCallback) -> None:
        """Run ``callback`` after every (re)connect, once the subscriptions are renewed."""
        self._connect_callbacks.append(callback)

    def watch(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(connected)`` whenever the connection comes up or goes down."""
        self._watchers.append(callback)

    def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 0, retain: bool = False
    ) -> None:
        """Queue one message; it goes out at once when connected, else after the reconnect.

        Never blocks. While disconnected the queue is bounded: the oldest message is dropped
        (counted in ``counts["outgoing_dropped"]``, warned about once).
        """
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        if len(self._outgoing) == self._outgoing.maxlen:
            self.counts["outgoing_dropped"] += 1
            self._warn_once(
                "outgoing",
                "%s: the outgoing queue is full (%d messages); dropping the oldest",
                self.name,
                self._outgoing.maxlen,
            )
        self._outgoing.append((topic, data, qos, retain))
        self._outgoing_ready.set()

    async def start(self) -> None:
        """Start the connect loop in the background; returns at once."""
        self._link.start()

    async def stop(self) -> None:
        """Publish ``offline`` (when connected), disconnect and end the loop."""
        if not self._link.running:
            return
        await self._link.stop(grace=self._timeout + 1)
        self._set_connected(False)

    # -- the loop ------------------------------------------------------------------------

    async def _connect_once(self) -> None:
        """One connection (the :class:`~mihomekit.reconnect.ReconnectLoop`'s session)."""
        client = self._make_client()
        self._client = client
        try:
            async with client:
                self._link.backoff.reset()
                await self._session(client)
            if not self._link.stopping.is_set():
                raise _BrokerClosed("the broker closed the connection")
        finally:
            self._client = None
            self._set_connected(False)

    def _on_link_error(self, err: BaseException) -> None:
        self._lost(_describe(err), self._link.backoff.delay(self._link.backoff.attempts))

    def _make_client(self) -> aiomqtt.Client:
        settings = self.settings
        tls_context = None
        if settings.tls:
            tls_context = ssl.create_default_context(cafile=settings.ca_file)
        connection = self

        class _Incoming(asyncio.Queue[aiomqtt.Message]):
            """aiomqtt's incoming queue: a full queue drops and counts, without a log line."""

            def put_nowait(self, item: aiomqtt.Message) -> None:
                if self.full():
                    connection._incoming_dropped()
                    return
                super().put_nowait(item)

        return aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username,
            password=settings.password,
            identifier=settings.client_id,
            will=(
                aiomqtt.Will(self.status_topic, OFFLINE, qos=1, retain=True)
                if self._announce
                else None
            ),
            keepalive=self._keepalive,
            timeout=self._timeout,
            tls_context=tls_context,
            queue_type=_Incoming,
            max_queued_incoming_messages=self._incoming_limit,
            logger=logging.getLogger("mihomekit.mqtt.client"),
        )

    async def _session(self, client: aiomqtt.Client) -> None:
        """One connection: birth, subscriptions, callbacks, then read and write until done."""
        if self._announce:
            await client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        # Filters added while these subscriptions are on their way are taken too (the list
        # only grows): nothing subscribed during a connect is left for the next one.
        renewed = 0
        while renewed < len(self._filters):
            await client.subscribe(self._filters[renewed])
            renewed += 1
        self.counts["connects"] += 1
        self._set_connected(True)
        if self._outage_warned or self._had_connection:
            _LOGGER.info("%s: connected again to %s", self.name, self._where())
        else:
            _LOGGER.info("%s: connected to %s", self.name, self._where())
        self._outage_warned = False
        self._had_connection = True
        for callback in list(self._connect_callbacks):
            try:
                await callback()
            except Exception as err:  # one bad callback must not stop the connection
                self._warn_once(
                    f"callback:{callback!r}", "%s: on_connect failed: %s", self.name, err
                )
        reader: asyncio.Future[Any] = asyncio.ensure_future(self._read(client))
        writer: asyncio.Future[Any] = asyncio.ensure_future(self._write(client))
        stopping: asyncio.Future[Any] = asyncio.ensure_future(self._link.stopping.wait())
        try:
            done, _ = await asyncio.wait(
                {reader, writer, stopping}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (reader, writer, stopping):
                task.cancel()
            await asyncio.gather(reader, writer, stopping, return_exceptions=True)
        if stopping in done:
            await self._farewell(client)
            return
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error

    async def _read(self, client: aiomqtt.Client) -> None:
        count = 0
        async for message in client.messages:
            self._dispatch(message)
            count += 1
            if count % 64 == 0:
                await asyncio.sleep(0)  # a flood must not starve the rest of the bridge

    async def _write(self, client: aiomqtt.Client) -> None:
        while True:
            while self._outgoing:
                item = self._outgoing[0]
                topic, payload, qos, retain = item
                try:
                    await client.publish(topic, payload, qos=qos, retain=retain)
                except aiomqtt.MqttCodeError as err:
                    if not self.connected or err.rc in (4, 7):  # NO_CONN, CONN_LOST
                        raise  # keep it for the next connection
                    self._outgoing.popleft()
                    self.counts["publish_errors"] += 1
                    self._warn_once(
                        "publish", "%s: cannot publish to %s: %s", self.name, topic, err
                    )
                    continue
                if self._outgoing and self._outgoing[0] is item:
                    self._outgoing.popleft()
            self._outgoing_ready.clear()
            await self._outgoing_ready.wait()

    async def _farewell(self, client: aiomqtt.Client) -> None:
        """At stop: send what is queued, then the retained ``offline``."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._timeout):
                while self._outgoing:
                    topic, payload, qos, retain = self._outgoing.popleft()
                    await client.publish(topic, payload, qos=qos, retain=retain)
                if self._announce:
                    await client.publish(self.status_topic, OFFLINE, qos=1, retain=True)

    async def _subscribe_now(self, client: aiomqtt.Client, topic_filter: str) -> None:
        try:
            await client.subscribe(topic_filter)
        except aiomqtt.MqttError as err:  # the next connect subscribes again
            _LOGGER.debug("%s: subscribe to %s failed: %s", self.name, topic_filter, err)

    # -- messages ------------------------------------------------------------------------

    def _dispatch(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload
        if isinstance(payload, str):
            data = payload.encode()
        elif isinstance(payload, bytes | bytearray):
            data = bytes(payload)
        elif payload is None:
            data = b""
        else:
            data = str(payload).encode()
        self.status.advertisements += 1
        received = MqttMessage(topic, data, bool(message.retain))
        for topic_filter, handler in list(self._handlers):
            if not topic_matches(topic_filter, topic):
                continue
            try:
                handler(received)
            except Exception as err:  # a handler's bug must not stop the others
                self.counts["handler_errors"] += 1
                self.status.error(f"handler for {topic_filter} failed: {err!r}")
                self._warn_once(
                    f"handler:{topic_filter}",
                    "%s: the handler for %s failed on %s: %r (counted; logged once)",
                    self.name,
                    topic_filter,
                    topic,
                    err,
                )

    def _incoming_dropped(self) -> None:
        self.counts["incoming_dropped"] += 1
        self._warn_once(
            "incoming",
            "%s: more than %d messages waiting; dropping new ones (a flood?)",
            self.name,
            self._incoming_limit,
        )

    # -- status --------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _set_connected(self, connected: bool) -> None:
        if not self.status.set_connected(connected):
            return
        for callback in list(self._watchers):
            try:
                callback(connected)
            except Exception:  # a watcher's bug must not stop the connection
                _LOGGER.exception("%s: a connection watcher failed", self.name)

    def _lost(self, reason: str, delay: float) -> None:
        self.status.error(reason)
        if not self._outage_warned:
            self._outage_warned = True
            _LOGGER.warning(
                "%s: no connection to the MQTT broker at %s: %s (retrying, next in %g s)",
                self.name,
                self._where(),
                reason,
                delay,
            )
        else:
            _LOGGER.debug(
                "%s: still no connection: %s (next try in %g s)", self.name, reason, delay
            )

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key in self._warned:
            _LOGGER.debug(message, *args)
            return
        self._warned.add(key)
        _LOGGER.warning(message, *args)


class _BrokerClosed(Exception):
    """The broker ended a connection that was up."""


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, aiomqtt.MqttCodeError) and err.rc in (4, 5, 134, 135):
        return f"{text} (check the username and password)"
    return text


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
