"""One ESPHome Bluetooth proxy as a source, over the ESPHome native API (aioesphomeapi).

A session connects (plaintext or Noise), reads the device info, and subscribes to raw
advertisements (the parsed stream on firmware without the raw flag). Every entry of a
batch is parsed here (:mod:`.ad`) and each one with sensor data goes to the sink as an
:class:`~mihomekit.sources.Advertisement` whose receiver id is the proxy's name. When the
connection ends, :class:`~mihomekit.reconnect.ReconnectLoop` opens a new one after a backoff.
With an advertisement tap (presence, extensions), every entry also goes to the tap, whole.

Trouble is one warning per cause, then debug lines until the proxy works again:

* connection failures (refused, unknown host, wrong or missing encryption key, another
  device at the address): ``status.last_error`` says which, ``status.connected`` is False;
* a subscription that brings nothing for :data:`SILENCE_LIMIT` seconds: most likely Home
  Assistant holds the proxy's single subscriber slot (see docs/sources.md). Firmware that
  reports its scanner state answers a subscription it accepted at once; no answer means it
  was refused;
* hostile input: frames aioesphomeapi cannot read end the connection (counted, then a
  reconnect); entries whose address or AD structures are bad are counted and skipped; a
  proxy sending more than :data:`FLOOD_RATE` advertisements a second has the excess
  dropped (counted) so it cannot starve the other sources.

aioesphomeapi names this module relies on (check them when upgrading it):

* the modules ``aioesphomeapi.client``, ``.core`` and ``.model`` (imported directly: the
  package root does not re-export them for type checkers);
* ``APIClient.add_connection_closed_callback``, ``force_disconnect``,
  ``subscribe_bluetooth_le_raw_advertisements``, ``subscribe_bluetooth_le_advertisements``,
  ``subscribe_bluetooth_scanner_state``, ``DeviceInfo.bluetooth_proxy_feature_flags_compat``;
* the logger ``aioesphomeapi.connection`` and its "Invalid protobuf message" record, and
  asyncio's "protocol.data_received() call failed" record for the same frame (the log
  filter below drops their tracebacks).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from aioesphomeapi.client import APIClient
from aioesphomeapi.core import (
    APIConnectionError,
    BadMACAddressAPIError,
    BadNameAPIError,
    EncryptionPlaintextAPIError,
    HandshakeAPIError,
    InvalidEncryptionKeyAPIError,
    RequiresEncryptionAPIError,
    ResolveAPIError,
    SocketAPIError,
    TimeoutAPIError,
)
from aioesphomeapi.model import BluetoothProxyFeature, ConnectionClosedEvent

from mihomekit.reconnect import Backoff, ReconnectLoop
from mihomekit.settings import EsphomeSettings
from mihomekit.sources import (
    SENSOR_COMPANY_IDS,
    SENSOR_SERVICE_UUIDS,
    Advertisement,
    AdvertisementSink,
    SourceStatus,
)
from mihomekit.tap import AdvertisementTap, RawAdvertisement, full_uuid

from .ad import EMPTY, AdFields, mac_from_int, parse_ad, parse_fields

_LOGGER = logging.getLogger(__name__)

KIND = "esphome"
DEFAULT_PORT = 6053
#: A subscription without a single advertisement for this long gets one warning.
SILENCE_LIMIT = 60.0
#: Reconnect delays: from BACKOFF_INITIAL seconds, doubling, up to BACKOFF_MAX.
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 60.0
#: Longest wait for the TCP connection, the handshake and the hello.
CONNECT_TIMEOUT = 30.0
#: Longest wait for the device info (and the graceful disconnect at stop).
REQUEST_TIMEOUT = 10.0
#: Advertisements a second one proxy may bring (a busy real proxy forwards a few
#: hundred); a burst of up to FLOOD_BURST is allowed. The excess is dropped and counted.
FLOOD_RATE = 2000.0
FLOOD_BURST = 4000.0
#: After an established connection is lost, transient failures (refused, timeout: the
#: proxy rebooting) are logged at debug level for this long before they warn.
REBOOT_GRACE = 60.0
#: Per proxy, the last raw data of this many addresses is remembered, so that a repeat
#: (the same bytes again) is not parsed again.
PARSE_CACHE_SIZE = 2048

_WANTED_UUIDS = frozenset(SENSOR_SERVICE_UUIDS)
_PASSIVE_SCAN = int(BluetoothProxyFeature.PASSIVE_SCAN)
_RAW = int(BluetoothProxyFeature.RAW_ADVERTISEMENTS)
_STATE_AND_MODE = int(BluetoothProxyFeature.FEATURE_STATE_AND_MODE)
_UUID128_SUFFIX = "-0000-1000-8000-00805f9b34fb"
#: Causes a rebooting proxy shows while it comes back.
_TRANSIENT = frozenset({"refused", "socket", "timeout", "unreachable", "resolve", "lost"})


@dataclass(slots=True)
class ProxyStats:
    """Counters of one proxy since start.

    ``batches``: raw-advertisement messages; ``advertisements``: entries received;
    ``forwarded``: handed to the sink; ``ignored``: no sensor data; ``malformed``: entries
    with a bad address or AD structures that run past their end; ``flood_dropped``:
    entries dropped above :data:`FLOOD_RATE`; ``connects`` / ``disconnects`` /
    ``failed_connects``: sessions; ``sink_errors``: exceptions from the sink.
    """

    batches: int = 0
    advertisements: int = 0
    forwarded: int = 0
    ignored: int = 0
    malformed: int = 0
    flood_dropped: int = 0
    connects: int = 0
    disconnects: int = 0
    failed_connects: int = 0
    sink_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class NotAProxyError(Exception):
    """The device answers, but it is no Bluetooth proxy."""


def describe_error(err: BaseException, *, host: str, port: int) -> tuple[str, str]:
    """``(cause, words)`` for a failed or lost connection: the cause groups warnings."""
    if isinstance(err, InvalidEncryptionKeyAPIError):
        return "key", (
            "wrong encryption key (the Noise handshake failed): use the key of `api: "
            "encryption: key:` in the proxy's YAML"
        )
    if isinstance(err, RequiresEncryptionAPIError):
        return "needs-key", (
            "the proxy requires encryption: set encryption_key to the key of `api: "
            "encryption: key:` in its YAML"
        )
    if isinstance(err, EncryptionPlaintextAPIError):
        return "no-key", (
            "the proxy does not use encryption: remove encryption_key (or add `api: "
            "encryption:` to its YAML)"
        )
    if isinstance(err, BadNameAPIError | BadMACAddressAPIError):
        found = getattr(err, "received_name", None)
        what = f"named {found!r}" if found else "another device"
        return "name", f"the device at {host}:{port} is {what}, not the expected name"
    if isinstance(err, HandshakeAPIError):
        return "handshake", f"the encrypted handshake failed: {_short(err)}"
    if isinstance(err, ResolveAPIError):
        return "resolve", f"cannot resolve {host!r} (unknown host? {_cause(err)})"
    if isinstance(err, SocketAPIError | OSError):
        cause = err.__cause__ if isinstance(err, SocketAPIError) else err
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return "refused", (
                f"connection to {host}:{port} refused (is `api:` in the proxy's YAML, "
                "and the port right?)"
            )
        if isinstance(cause, OSError) and cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "unreachable", f"{host} is unreachable ({cause.strerror})"
        return "socket", f"connection to {host}:{port} failed: {_cause(err)}"
    if isinstance(err, TimeoutError | TimeoutAPIError):
        return "timeout", f"{host}:{port} did not answer in time (powered off or out of WiFi?)"
    if isinstance(err, NotAProxyError):
        return "not-proxy", str(err)
    if isinstance(err, APIConnectionError):
        return "api", f"connection to {host}:{port} failed: {_short(err)}"
    return "other", f"{type(err).__name__}: {_short(err)}"


def _short(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    # aioesphomeapi prefixes its messages with the log name ("host @ 1.2.3.4: ...")
    head, sep, tail = text.partition(": ")
    if sep and "@" in head:
        text = tail
    return text[:300]


def _cause(err: BaseException) -> str:
    cause = err.__cause__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return _short(cause) if cause is not None else _short(err)


class _HostileFrameFilter(logging.Filter):
    """A frame aioesphomeapi cannot decode ends that connection (and we say so, once);
    it is hostile or broken input, not a bug. aioesphomeapi logs it with a traceback, and
    asyncio once more as a "fatal error" of the protocol: keep one line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "asyncio":
            exc = record.exc_info[1] if record.exc_info else None
            return not (
                exc is not None
                and type(exc).__name__ == "DecodeError"
                and "aioesphomeapi" in record.getMessage()
            )
        if record.exc_info and "Invalid protobuf message" in str(record.msg):
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        return True


_FILTER = _HostileFrameFilter()


def _install_log_filter() -> None:
    for name in ("aioesphomeapi.connection", "asyncio"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class EsphomeProxy:
    """Advertisements from one ESPHome Bluetooth proxy, with reconnects.

    ``name`` is the device name the proxy must report (checked during the handshake);
    it is also the receiver id. Without it the receiver id is the name the proxy reports,
    and ``host`` until it first connected. ``encryption_key`` is the base64 Noise key.
    ``silence_limit``, ``backoff`` and the timeouts are for tests; by default they are the
    module constants (:data:`SILENCE_LIMIT`, :data:`BACKOFF_INITIAL`, ...) at construction.
    ``tap``: where every advertisement goes as well, whole (presence, extensions).
    """

    @classmethod
    def from_settings(
        cls, proxy: EsphomeSettings, sink: AdvertisementSink, **options: Any
    ) -> EsphomeProxy:
        """The proxy of one ``[[esphome]]`` table, feeding ``sink``."""
        return cls(
            sink,
            host=proxy.host,
            port=proxy.port,
            encryption_key=proxy.encryption_key,
            name=proxy.name,
            **options,
        )

    def __init__(
        self,
        sink: AdvertisementSink,
        *,
        host: str,
        port: int = DEFAULT_PORT,
        encryption_key: str | None = None,
        name: str | None = None,
        silence_limit: float | None = None,
        backoff: Backoff | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        keepalive: float = 20.0,
        flood_rate: float = FLOOD_RATE,
        flood_burst: float = FLOOD_BURST,
        client_info: str = "mihomekit",
        clock: Callable[[], float] = time.monotonic,
        tap: AdvertisementTap | None = None,
    ) -> None:
        self._sink = sink
        self._tap = tap
        self._fields: dict[int, tuple[bytes, AdFields]] = {}
        self.host = host
        self.port = port
        self._key = encryption_key or None
        self._expected_name = name or None
        # None: the module constants as they are now (tests shorten them)
        self._silence_limit = SILENCE_LIMIT if silence_limit is None else silence_limit
        self._connect_timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        self._request_timeout = REQUEST_TIMEOUT if request_timeout is None else request_timeout
        self._keepalive = keepalive
        self._flood_rate = flood_rate
        self._flood_burst = flood_burst
        self._client_info = client_info
        self._clock = clock
        self._loop = ReconnectLoop(
            self._session,
            backoff=backoff or Backoff(BACKOFF_INITIAL, BACKOFF_MAX),
            on_error=self._on_session_error,
            name=f"mihomekit-esphome-{host}",
        )
        self._client: APIClient | None = None
        self._closed: asyncio.Future[Exception | None] | None = None
        self._cache: dict[int, tuple[bytes, Advertisement | None, bool]] = {}
        self._tokens = flood_burst
        self._tokens_at = clock()
        self._warned_cause: str | None = None
        self._silence_warned = False
        self._flood_warned = False
        self._sink_error_logged = False
        self._malformed_logged = False
        self._subscribed_at = 0.0
        self._lost_at: float | None = None
        self._last_rx = 0.0
        self._scanner_state: Any = None
        self._scanner_replied = False
        self._feature_flags = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._unsubscribe_state: Callable[[], None] | None = None
        self._raw = True
        #: The receiver id the advertisements carry.
        self.receiver = self._expected_name or host
        #: Firmware version and model of the proxy, once connected.
        self.firmware: str | None = None
        self.stats = ProxyStats()
        self.status = SourceStatus(KIND, self.receiver)

    # -- public -----------------------------------------------------------------------

    @property
    def feature_flags(self) -> int:
        """The proxy's BluetoothProxyFeature bits (0 before the first connection)."""
        return self._feature_flags

    @property
    def raw(self) -> bool:
        """True when the raw advertisement stream is used (False: the parsed one)."""
        return self._raw

    @property
    def scanner_state(self) -> Any:
        """The last BluetoothScannerStateResponse (firmware with FEATURE_STATE_AND_MODE)."""
        return self._scanner_state

    async def start(self) -> None:
        """Start connecting in the background; never raises for an unreachable proxy."""
        if self._loop.running:
            return
        _install_log_filter()
        if self._client is None:
            self._client = APIClient(
                self.host,
                self.port,
                None,
                client_info=self._client_info,
                keepalive=self._keepalive,
                noise_psk=self._key,
                expected_name=self._expected_name,
                # A Bluetooth proxy needs no clock from us (and aioesphomeapi's timezone
                # lookup fails on Python 3.11).
                provide_time=False,
            )
        self._loop.start()

    async def stop(self) -> None:
        """Disconnect and stop reconnecting. Safe to call more than once."""
        await self._loop.stop()
        self.status.set_connected(False)

    # -- one session --------------------------------------------------------------------

    async def _session(self) -> None:
        client = self._client
        assert client is not None
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[Exception | None] = loop.create_future()
        self._closed = closed

        def on_closed(event: ConnectionClosedEvent) -> None:
            if not closed.done():
                closed.set_result(event.error)

        remove = client.add_connection_closed_callback(on_closed)
        try:
            await asyncio.wait_for(
                client.connect(login=False, log_errors=False), self._connect_timeout
            )
            info = await asyncio.wait_for(client.device_info(), self._request_timeout)
            api_version = client.api_version
            assert api_version is not None
            flags = info.bluetooth_proxy_feature_flags_compat(api_version)
            self._feature_flags = flags
            if not flags & _PASSIVE_SCAN:
                raise NotAProxyError(
                    f"{info.name or self.host} is an ESPHome device but no Bluetooth proxy "
                    "(add `bluetooth_proxy:` and `esp32_ble_tracker:` to its YAML)"
                )
            self.firmware = info.esphome_version or None
            self._connected(info.name)
            self._subscribe(client, flags)
            watcher = loop.create_task(self._watch_silence(client))
            try:
                error = await closed
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            self._disconnected(error)
        finally:
            remove()
            self._unsubscribe = None
            self._unsubscribe_state = None
            if client.is_connected and not closed.done():
                # stop() or a failure after connecting: leave politely, but not for long
                try:
                    await asyncio.wait_for(client.disconnect(), self._request_timeout)
                except asyncio.CancelledError:
                    client.force_disconnect()
                    raise
                except Exception:
                    client.force_disconnect()
            else:
                client.force_disconnect()

    def _connected(self, device_name: str) -> None:
        self.stats.connects += 1
        self._lost_at = None
        self._loop.backoff.reset()
        if self._expected_name is None and device_name:
            self.receiver = device_name
            self.status.name = device_name
        self.status.set_connected(True)
        if self._warned_cause is not None:
            _LOGGER.info("ESPHome proxy %s (%s) connected again", self.receiver, self.host)
            self._warned_cause = None
        else:
            _LOGGER.info(
                "ESPHome proxy %s (%s:%s) connected, firmware %s",
                self.receiver,
                self.host,
                self.port,
                self.firmware or "?",
            )

    def _disconnected(self, error: Exception | None) -> None:
        """An established connection ended: note it, then the loop reconnects."""
        self.stats.disconnects += 1
        self._lost_at = self._clock()
        why = _short(error) if error is not None else "the proxy closed it"
        words = f"connection lost ({why}); reconnecting"
        self.status.set_connected(False, error=words)
        self._warned_cause = "lost"
        _LOGGER.warning(
            "ESPHome proxy %s: %s (the proxy restarted or left the network?)",
            self.receiver,
            words,
        )

    def _on_session_error(self, err: BaseException) -> None:
        """A connection attempt failed (or a session broke before it was up)."""
        if self.status.connected:
            self.stats.disconnects += 1
        else:
            self.stats.failed_connects += 1
        cause, words = describe_error(err, host=self.host, port=self.port)
        self.status.set_connected(False, error=words)
        rebooting = (
            self._lost_at is not None
            and cause in _TRANSIENT
            and self._clock() - self._lost_at < REBOOT_GRACE
        )
        if cause != self._warned_cause and not rebooting:
            self._warned_cause = cause
            _LOGGER.warning(
                "ESPHome proxy %s: %s (retrying with backoff; further failures at debug level)",
                self.receiver,
                words,
            )
        else:
            _LOGGER.debug("ESPHome proxy %s: %s", self.receiver, words)

    def _subscribe(self, client: APIClient, flags: int) -> None:
        self._scanner_replied = False
        if self._unsubscribe_state is not None:
            self._unsubscribe_state()
            self._unsubscribe_state = None
        if flags & _STATE_AND_MODE:
            self._unsubscribe_state = client.subscribe_bluetooth_scanner_state(
                self._on_scanner_state
            )
        self._raw = bool(flags & _RAW)
        if self._raw:
            self._unsubscribe = client.subscribe_bluetooth_le_raw_advertisements(self._on_raw)
        else:
            self._unsubscribe = client.subscribe_bluetooth_le_advertisements(self._on_parsed)
        self._subscribed_at = self._clock()

    def _on_scanner_state(self, state: Any) -> None:
        self._scanner_replied = True
        self._scanner_state = state

    # -- silence ------------------------------------------------------------------------

    async def _watch_silence(self, client: APIClient) -> None:
        limit = self._silence_limit
        while True:
            since = max(self._last_rx, self._subscribed_at)
            wait = since + limit - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._on_silence()
            # Try again: the slot may have been freed (Home Assistant let the proxy go).
            if self._unsubscribe is not None:
                with contextlib.suppress(Exception):
                    self._unsubscribe()
                self._unsubscribe = None
            with contextlib.suppress(Exception):
                self._subscribe(client, self._feature_flags)

    def silence_reason(self) -> str:
        """Why a subscription brings nothing, as far as the proxy lets us tell."""
        waited = _seconds(self._clock() - max(self._last_rx, self._subscribed_at))
        firmware = f"firmware {self.firmware}" if self.firmware else "unknown firmware"
        head = (
            f"subscribed {waited} ago, 0 advertisements since ({firmware})"
            if self._last_rx < self._subscribed_at
            else f"no advertisement for {waited} ({firmware})"
        )
        slot = (
            "Home Assistant (or another API client) holds this proxy's single Bluetooth "
            "subscriber slot: remove the proxy from Home Assistant, or give mihomekit a "
            "proxy of its own"
        )
        if self._feature_flags & _STATE_AND_MODE:
            if not self._scanner_replied:
                return f"{head}: the proxy did not confirm the subscription; most likely {slot}"
            state = getattr(self._scanner_state, "state", None)
            name = getattr(state, "name", str(state))
            if name != "RUNNING":
                return f"{head}: the proxy's Bluetooth scanner is {name}"
            return (
                f"{head}: the proxy confirmed the subscription and its scanner runs, so no "
                f"BLE device is in its range, or {slot}"
            )
        return f"{head}: most likely {slot}"

    def _on_silence(self) -> None:
        reason = self.silence_reason()
        if self._silence_warned:
            _LOGGER.debug("ESPHome proxy %s: %s", self.receiver, reason)
            return
        self._silence_warned = True
        self.status.error(reason)
        _LOGGER.warning("ESPHome proxy %s: %s", self.receiver, reason)

    # -- hot path -----------------------------------------------------------------------

    def _admit(self, count: int, now: float) -> bool:
        """Token bucket against floods: True if ``count`` more entries may pass."""
        tokens = self._tokens + (now - self._tokens_at) * self._flood_rate
        if tokens > self._flood_burst:
            tokens = self._flood_burst
        self._tokens_at = now
        if tokens < count:
            self._tokens = tokens
            self.stats.flood_dropped += count
            self.status.errors += 1
            if not self._flood_warned:
                self._flood_warned = True
                self.status.last_error = (
                    f"more than {self._flood_rate:g} advertisements a second: excess dropped"
                )
                _LOGGER.warning("ESPHome proxy %s: %s", self.receiver, self.status.last_error)
            return False
        self._tokens = tokens - count
        return True

    def _rx(self, count: int) -> float:
        now = self._clock()
        self._last_rx = now
        if self._silence_warned:
            self._silence_warned = False
            _LOGGER.info("ESPHome proxy %s: advertisements arrive again", self.receiver)
        self.stats.batches += 1
        self.stats.advertisements += count
        self.status.advertisements += count
        return now

    def _on_raw(self, batch: Any) -> None:
        """One BluetoothLERawAdvertisementsResponse: called for every batch."""
        entries = batch.advertisements
        count = len(entries)
        now = self._rx(count)
        if not self._admit(count, now):
            return
        cache = self._cache
        receiver = self.receiver
        sink = self._sink
        stats = self.stats
        tap = self._tap
        # By index: protobuf's iterator is slow at the end of a repeated field.
        for i in range(count):
            entry = entries[i]
            address = entry.address
            data = entry.data
            if tap is not None:
                self._feed_tap(tap, address, data, entry.rssi, now)
            cached = cache.get(address)
            if cached is not None and cached[0] == data:
                template = cached[1]
                if cached[2]:
                    self._malformed(address, data)
            else:
                template, malformed = self._parse(address, data)
                if len(cache) >= PARSE_CACHE_SIZE:
                    cache.clear()
                cache[address] = (data, template, malformed)
            if template is None:
                stats.ignored += 1
                continue
            rssi = entry.rssi
            advertisement = Advertisement(
                template.mac,
                template.service_data,
                rssi if -128 <= rssi <= 127 else None,
                receiver,
                now,
                template.manufacturer_data,
            )
            stats.forwarded += 1
            try:
                sink(advertisement)
            except Exception:
                self._sink_failed()

    def _feed_tap(
        self, tap: AdvertisementTap, address: int, data: bytes, rssi: int, now: float
    ) -> None:
        """Hand one entry to the tap, whole (its fields parsed once per address and data)."""
        mac = mac_from_int(address)
        if mac is None:
            return
        cached = self._fields.get(address)
        if cached is not None and cached[0] == data:
            fields = cached[1]
        else:
            fields = parse_fields(data)
            if len(self._fields) >= PARSE_CACHE_SIZE:
                self._fields.clear()
            self._fields[address] = (data, fields)
        self._tap_whole(tap, mac, rssi, now, fields)

    def _tap_whole(
        self, tap: AdvertisementTap, mac: str, rssi: int, now: float, fields: AdFields
    ) -> None:
        name, uuids, service, makers = fields
        rssi_or_none = rssi if -128 <= rssi <= 127 else None
        tap.feed(
            RawAdvertisement(mac, rssi_or_none, self.receiver, now, name, uuids, service, makers)
        )

    def _parse(self, address: int, data: bytes) -> tuple[Advertisement | None, bool]:
        """The sensor fields of one entry (as an Advertisement template, or None), and
        whether the entry was malformed (counted here)."""
        mac = mac_from_int(address)
        parsed = parse_ad(data)
        malformed = mac is None or parsed.malformed
        if malformed:
            self._malformed(address, data)
            if mac is None:
                return None, True
        service = parsed.service_data
        wanted: dict[int, bytes] | None = None
        for uuid, payload in service.items():
            if uuid in _WANTED_UUIDS:
                if wanted is None:
                    wanted = {}
                wanted[uuid] = payload
        makers = parsed.manufacturer_data
        manufacturer = (
            {k: v for k, v in makers.items() if k in SENSOR_COMPANY_IDS}
            if makers and SENSOR_COMPANY_IDS
            else None
        )
        if wanted is None and not manufacturer:
            return None, malformed
        assert mac is not None
        template = Advertisement(
            mac, wanted or EMPTY, None, self.receiver, 0.0, manufacturer or EMPTY
        )
        return template, malformed

    def _malformed(self, address: int, data: bytes) -> None:
        self.stats.malformed += 1
        self.status.errors += 1
        why = f"bad advertisement from {address:#x}: {len(data)} bytes, {data[:40].hex()}"
        self.status.last_error = why
        if not self._malformed_logged:
            self._malformed_logged = True
            _LOGGER.warning(
                "ESPHome proxy %s: %s (skipped; further ones at debug level)", self.receiver, why
            )
        else:
            _LOGGER.debug("ESPHome proxy %s: %s", self.receiver, why)

    def _on_parsed(self, adv: Any) -> None:
        """One advertisement of the parsed stream (firmware without raw advertisements)."""
        now = self._rx(1)
        if not self._admit(1, now):
            return
        mac = mac_from_int(adv.address)
        if mac is None:
            self._malformed(adv.address, b"")
            return
        if self._tap is not None:
            self._feed_tap_parsed(self._tap, mac, adv, now)
        wanted: dict[int, bytes] | None = None
        for key, payload in adv.service_data.items():
            uuid = _uuid16(key)
            if uuid is not None and uuid in _WANTED_UUIDS:
                if wanted is None:
                    wanted = {}
                wanted[uuid] = bytes(payload)
        makers = adv.manufacturer_data
        manufacturer = (
            {k: bytes(v) for k, v in makers.items() if k in SENSOR_COMPANY_IDS}
            if makers and SENSOR_COMPANY_IDS
            else None
        )
        if wanted is None and not manufacturer:
            self.stats.ignored += 1
            return
        rssi = adv.rssi
        self.stats.forwarded += 1
        try:
            self._sink(
                Advertisement(
                    mac,
                    wanted or EMPTY,
                    rssi if -128 <= rssi <= 127 else None,
                    self.receiver,
                    now,
                    manufacturer or EMPTY,
                )
            )
        except Exception:
            self._sink_failed()

    def _feed_tap_parsed(self, tap: AdvertisementTap, mac: str, adv: Any, now: float) -> None:
        service: dict[str, bytes] = {}
        for key, payload in adv.service_data.items():
            with contextlib.suppress(ValueError):
                service[full_uuid(key)] = bytes(payload)
        uuids = []
        for key in adv.service_uuids:
            with contextlib.suppress(ValueError):
                uuids.append(full_uuid(key))
        makers = {int(k): bytes(v) for k, v in adv.manufacturer_data.items()}
        fields = AdFields(adv.name or None, tuple(uuids), service, makers)
        self._tap_whole(tap, mac, adv.rssi, now, fields)

    def _sink_failed(self) -> None:
        self.stats.sink_errors += 1
        self.status.errors += 1
        if not self._sink_error_logged:
            self._sink_error_logged = True
            _LOGGER.warning(
                "ESPHome proxy %s: advertisement handler failed (further failures at debug level)",
                self.receiver,
                exc_info=True,
            )
        else:
            _LOGGER.debug("ESPHome proxy %s: advertisement handler failed", self.receiver)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _uuid16(key: str) -> int | None:
    """``"0000fe95-0000-1000-8000-00805f9b34fb"`` (or ``"fe95"``) → ``0xFE95``."""
    text = key.lower()
    if len(text) == 36 and text.startswith("0000") and text.endswith(_UUID128_SUFFIX):
        text = text[4:8]
    if len(text) == 4:
        try:
            return int(text, 16)
        except ValueError:
            return None
    return None


__all__ = ["DEFAULT_PORT", "KIND", "SILENCE_LIMIT", "EsphomeProxy", "ProxyStats", "describe_error"]
