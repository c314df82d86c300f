"""A thin bleak adapter: scan for sensor advertisements and forward their service data.

With an advertisement tap (:mod:`mihomekit.tap`: presence, extensions) every advertisement
also goes to the tap, whole, and passive scanning adds the patterns its watchers need
(:func:`patterns_for`); without one, nothing more is done per advertisement.

Passive scanning (nothing is sent on air, so battery sensors are not woken by scan
requests) needs BlueZ's advertisement monitor: BlueZ >= 5.56 started with
``--experimental`` and Linux >= 5.10. In scan mode ``"auto"`` the adapter tries passive
scanning with one or-pattern per service UUID and falls back to active scanning, saying
why in a single log line. ``"passive"`` refuses to fall back; ``"active"`` never tries
passive.

Recovery: a :class:`~mihomekit.sources.bluez_watch.BluezWatch` follows what BlueZ announces
on the system bus. When bluetoothd stops or the adapter goes away, is powered off or blocked,
the scanner is dropped and the status says why (logged once per transition); when BlueZ
reports the adapter back, scanning starts again at once. With ``wait_for_adapter`` a
missing adapter at start is one log line, not an error: scanning starts when it appears.

As the last resort, a watchdog restarts the scanner when nothing was heard for
``watchdog_seconds`` or when an error is reported, with a growing delay between attempts.
Trouble is logged once at WARNING and then at DEBUG until scanning works again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, cast

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern, OrPatternLike
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)

from mihomekit.errors import AdapterError
from mihomekit.reconnect import Backoff
from mihomekit.sources import (
    LOCAL_RECEIVER,
    SENSOR_COMPANY_IDS,
    SENSOR_SERVICE_UUIDS,
    Advertisement,
    AdvertisementSink,
    SourceStatus,
    uuid16_to_str,
)
from mihomekit.sources.bluez_watch import BluezState, BluezWatch
from mihomekit.tap import AdvertisementTap, Interest, RawAdvertisement

_LOGGER = logging.getLogger(__name__)

ScanMode = Literal["auto", "passive", "active"]
SCAN_MODES: tuple[str, ...] = ("auto", "passive", "active")

#: Longest wait for the scanner to start or stop before the attempt counts as failed.
START_TIMEOUT = 30.0
#: Silence restarts back off up to this factor of ``watchdog_seconds``.
SILENCE_BACKOFF_MAX = 8
#: Failed restarts are retried after 1x, 2x, 4x ... this many seconds (at most RETRY_MAX).
RETRY_BASE = 2.0
RETRY_MAX = 60.0
#: While BlueZ reports the adapter ready, failed starts are retried after 0.5, 1, 2 ... s;
#: the first QUIET_RETRIES - 1 of those retries are logged at debug level only.
READY_RETRY_BASE = 0.5
QUIET_RETRIES = 4
#: BlueZ's signals are taken together for this long before the scanner follows them (a
#: stopping bluetoothd removes its adapter, then leaves the bus: one log line, not two).
SETTLE_SECONDS = 0.2

#: Service data keys (as bleak reports them) → 16-bit UUID. Upper-case variants are
#: included so the hot path needs no case conversion.
_WANTED: dict[str, int] = {}
for _uuid in SENSOR_SERVICE_UUIDS:
    _WANTED[uuid16_to_str(_uuid)] = _uuid
    _WANTED[uuid16_to_str(_uuid).upper()] = _uuid

#: BlueZ advertisement-monitor patterns: AD type 0x16 (service data, 16-bit UUID) whose
#: first two bytes are the UUID, little-endian.
OR_PATTERNS: tuple[OrPattern, ...] = tuple(
    OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, uuid.to_bytes(2, "little"))
    for uuid in SENSOR_SERVICE_UUIDS
)

#: Flags values (AD type 0x01) found in nearly every advertisement: with one or-pattern
#: each, passive scanning reports every device that sends Flags (a pattern's content must
#: not be empty, and an address cannot be matched by one).
FLAGS_VALUES = (0x02, 0x04, 0x05, 0x06, 0x0A, 0x18, 0x1A, 0x1E)
_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"


def patterns_for(interest: Interest) -> tuple[OrPattern, ...]:
    """The or-patterns that let passive scanning hear what ``interest`` wants beyond the
    sensors: the Flags values for addresses and everything, the company id for
    manufacturer data, the UUID for service data and service lists."""
    patterns: list[OrPattern] = []
    if interest.needs_any_advertisement:
        flags = AdvertisementDataType.FLAGS
        patterns.extend(OrPattern(0, flags, bytes((value,))) for value in FLAGS_VALUES)
    for company in sorted(interest.company_ids):
        patterns.append(
            OrPattern(
                0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, company.to_bytes(2, "little")
            )
        )
    for uuid in sorted(interest.service_uuids):
        if uuid.startswith("0000") and uuid.endswith(_BASE_SUFFIX):
            body = int(uuid[4:8], 16).to_bytes(2, "little")
            kinds = (
                AdvertisementDataType.SERVICE_DATA_UUID16,
                AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID16,
                AdvertisementDataType.INCOMPLETE_LIST_SERVICE_UUID16,
            )
        else:
            body = bytes.fromhex(uuid.replace("-", ""))[::-1]
            kinds = (
                AdvertisementDataType.SERVICE_DATA_UUID128,
                AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID128,
                AdvertisementDataType.INCOMPLETE_LIST_SERVICE_UUID128,
            )
        patterns.extend(OrPattern(0, kind, body) for kind in kinds)
    return tuple(patterns)


_ADAPTER_NOT_FOUND = re.compile(r"adapter '[^']*' not found")

_UNAVAILABLE_REASONS: dict[BleakBluetoothNotAvailableReason, str] = {
    BleakBluetoothNotAvailableReason.NO_BLUETOOTH: "BlueZ lists no adapter",
    BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE: "no adapter can scan for BLE devices",
    BleakBluetoothNotAvailableReason.POWERED_OFF: "the adapter is powered off; turn Bluetooth on",
}

_DBUS_UNAVAILABLE: dict[str, str] = {
    "org.freedesktop.DBus.Error.ServiceUnknown": "bluetoothd is not running",
    "org.freedesktop.DBus.Error.NameHasNoOwner": "bluetoothd is not running",
    "org.bluez.Error.NotReady": "the adapter is not ready (powered off or blocked?)",
}


class _Scanner(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(slots=True)
class AdapterStats:
    """Counters kept by :class:`BleAdapter`.

    ``advertisements``: detection callbacks; ``forwarded``: advertisements handed to the
    sink; ``ignored``: advertisements with no sensor service data; ``restarts``:
    scanner restarts (attempts); ``errors``: reported scanner errors, failed restarts and
    sink exceptions.
    """

    advertisements: int = 0
    forwarded: int = 0
    ignored: int = 0
    restarts: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def unavailable_reason(err: BaseException | None) -> str | None:
    """Why no Bluetooth adapter can be used at all, or None if ``err`` says something else."""
    if isinstance(err, BleakBluetoothNotAvailableError):
        reason = err.reason if len(err.args) > 1 else BleakBluetoothNotAvailableReason.UNKNOWN
        if reason in _UNAVAILABLE_REASONS:
            return _UNAVAILABLE_REASONS[reason]
        return str(err.args[0]).rstrip(".") if err.args else "Bluetooth is not available"
    if isinstance(err, FileNotFoundError | ConnectionRefusedError):
        return "the D-Bus system bus is not reachable, so BlueZ cannot be used"
    if isinstance(err, BleakDBusError):
        return _DBUS_UNAVAILABLE.get(err.dbus_error)
    if isinstance(err, BleakError):
        match = _ADAPTER_NOT_FOUND.search(str(err))
        if match:
            return match.group(0)
    return None


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    if isinstance(err, TimeoutError):
        return "timed out"
    return text or type(err).__name__


class BleAdapter:
    """Scan for sensor advertisements with bleak and forward their service data to ``sink``.

    ``scanner_factory`` builds the scanner (default :class:`bleak.BleakScanner`); it gets
    the keyword arguments ``detection_callback``, ``scanning_mode`` and ``bluez``.
    ``watchdog_seconds <= 0`` disables the silence watchdog (reported errors still restart).
    ``watch_bluez`` follows BlueZ on the system bus to stop and restart scanning with it
    (default: with bleak's scanner, not with an injected one that has no BlueZ behind it).
    ``wait_for_adapter``: when no adapter can be used at start, log it and wait for it
    instead of raising. ``tap``: where every advertisement heard goes as well, whole
    (presence, extensions); passive scanning then also listens for what its watchers want.
    """

    def __init__(
        self,
        sink: AdvertisementSink,
        *,
        adapter: str | None = None,
        scan_mode: str = "auto",
        watchdog_seconds: float = 120.0,
        scanner_factory: Callable[..., Any] | None = None,
        receiver: str = LOCAL_RECEIVER,
        watch_bluez: bool | None = None,
        wait_for_adapter: bool = False,
        tap: AdvertisementTap | None = None,
    ) -> None:
        if scan_mode not in SCAN_MODES:
            raise ValueError(f"scan_mode must be one of {', '.join(SCAN_MODES)}, not {scan_mode!r}")
        self._sink = sink
        self._tap = tap
        self._adapter = adapter
        self._scan_mode = scan_mode
        self._watchdog_seconds = float(watchdog_seconds)
        self._factory: Callable[..., Any] = scanner_factory or BleakScanner
        self._scanner: _Scanner | None = None
        self._mode: str | None = None
        self._passive_unavailable: str | None = None
        self._running = False
        self._watchdog: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._pending_error: BaseException | None = None
        self._last_rx = time.monotonic()
        self._restarted_at = 0.0
        self._silent_restarts = 0
        self._failed_starts = 0
        self._trouble_logged = False
        self._sink_error_logged = False
        self._wait_for_adapter = wait_for_adapter
        if watch_bluez is None:
            watch_bluez = scanner_factory is None
        self._bluez: BluezWatch | None = (
            BluezWatch(adapter, self._on_bluez) if watch_bluez else None
        )
        self._bluez_changed = False
        self._bluez_owner: str | None = None
        #: The BlueZ epoch the running scanner was started in.
        self._scanner_epoch: int | None = None
        #: Why scanning is stopped by what BlueZ reports (None while it may run).
        self._paused: str | None = None
        self.stats = AdapterStats()
        #: The receiver id the advertisements carry.
        self.receiver = receiver
        self.status = SourceStatus("ble", adapter or "Bluetooth")

    # -- public -----------------------------------------------------------------------

    @property
    def mode(self) -> str | None:
        """The scanning mode in effect (``"passive"`` or ``"active"``), None when stopped."""
        return self._mode

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        """Start the BlueZ watch, scanning and the watchdog.

        Raises :class:`AdapterError` when no adapter can be used (unless
        ``wait_for_adapter``: then it logs one line and scanning starts when the adapter
        appears) or (scan mode ``"passive"``) when passive scanning is not available.
        """
        if self._running:
            return
        if self._bluez is not None:
            await self._bluez.start()
            state = self._bluez.state
            self._bluez_owner = None if state is None else state.owner
        self._bluez_changed = False
        try:
            await self._start_scanner()
        except AdapterError as err:
            if not (self._wait_for_adapter and unavailable_reason(err.__cause__)):
                if self._bluez is not None:
                    await self._bluez.stop()
                raise
            self._paused = self._bluez_reason() or str(err)
            self.status.set_connected(False, error=self._paused)
            _LOGGER.warning(
                "no Bluetooth adapter to scan with (%s); scanning starts when it appears",
                self._paused,
            )
        self._running = True
        self._last_rx = time.monotonic()
        self._wake.clear()
        self._watchdog = asyncio.create_task(self._watch(), name="mihomekit-ble-watchdog")

    async def stop(self) -> None:
        """Stop the watchdog and the scanner. Safe to call more than once."""
        self._running = False
        self._wake.set()
        task, self._watchdog = self._watchdog, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._bluez is not None:
            await self._bluez.stop()
        await self._stop_scanner()

    def report_error(self, err: BaseException) -> None:
        """Tell the adapter that scanning broke (for example BlueZ restarted): restart soon."""
        self.stats.errors += 1
        self.status.error(_describe(err))
        self._pending_error = err
        self._wake.set()

    # -- hot path -----------------------------------------------------------------------

    def _on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        """bleak's detection callback: runs for every advertisement, so keep it cheap."""
        now = self._last_rx = time.monotonic()
        stats = self.stats
        stats.advertisements += 1
        wanted: dict[int, bytes] | None = None
        for key, data in adv.service_data.items():
            uuid = _WANTED.get(key)
            if uuid is not None:
                if wanted is None:
                    wanted = {}
                wanted[uuid] = data
        makers = adv.manufacturer_data
        if makers and (wanted is not None or not SENSOR_COMPANY_IDS.isdisjoint(makers)):
            manufacturer = {k: v for k, v in makers.items() if k in SENSOR_COMPANY_IDS}
        else:
            manufacturer = None
        tap = self._tap
        if tap is not None:
            self._feed_tap(tap, device, adv, now)
        if wanted is None and not manufacturer:
            stats.ignored += 1
            return
        stats.forwarded += 1
        self.status.advertisements += 1
        advertisement = Advertisement(
            device.address.upper(),
            wanted or {},
            adv.rssi,
            self.receiver,
            now,
            manufacturer or {},
        )
        try:
            self._sink(advertisement)
        except Exception:
            self._sink_failed()

    def _feed_tap(
        self, tap: AdvertisementTap, device: BLEDevice, adv: AdvertisementData, now: float
    ) -> None:
        tap.feed(
            RawAdvertisement(
                device.address.upper(),
                adv.rssi,
                self.receiver,
                now,
                adv.local_name,
                tuple(adv.service_uuids),
                adv.service_data,
                adv.manufacturer_data,
            )
        )

    def _sink_failed(self) -> None:
        self.stats.errors += 1
        if not self._sink_error_logged:
            self._sink_error_logged = True
            _LOGGER.warning(
                "BLE advertisement handler failed (further failures logged at debug level)",
                exc_info=True,
            )
        else:
            _LOGGER.debug("BLE advertisement handler failed", exc_info=True)

    # -- scanner lifecycle ----------------------------------------------------------

    def _make_scanner(self, mode: str) -> _Scanner:
        bluez: BlueZScannerArgs = {}
        if self._adapter:
            bluez["adapter"] = self._adapter
        if mode == "passive":
            patterns: list[OrPatternLike] = list(OR_PATTERNS)
            if self._tap is not None:
                patterns.extend(patterns_for(self._tap.interest))
            bluez["or_patterns"] = patterns
        scanner = self._factory(
            detection_callback=self._on_advertisement, scanning_mode=mode, bluez=bluez
        )
        return cast(_Scanner, scanner)

    async def _try_start(self, mode: str) -> _Scanner:
        scanner = self._make_scanner(mode)
        try:
            await asyncio.wait_for(scanner.start(), START_TIMEOUT)
        except asyncio.CancelledError:
            # stop() while starting: do not leave a half-started scanner behind
            with contextlib.suppress(Exception):
                await scanner.stop()
            raise
        return scanner

    def _no_adapter(self, reason: str) -> AdapterError:
        where = f"{self._adapter}: " if self._adapter and self._adapter not in reason else ""
        return AdapterError(f"no Bluetooth adapter found ({where}{reason})")

    async def _start_scanner(self) -> None:
        """Start a scanner in the best mode allowed; raise AdapterError if none starts."""
        state = None if self._bluez is None else self._bluez.state
        try:
            await self._start_any_scanner()
        except AdapterError as err:
            self.status.set_connected(False, error=self._bluez_reason() or str(err))
            raise
        self._scanner_epoch = None if state is None else state.epoch
        self.status.set_connected(True)

    async def _start_any_scanner(self) -> None:
        if self._scan_mode != "active" and self._passive_unavailable is None:
            try:
                self._scanner = await self._try_start("passive")
            except asyncio.CancelledError:
                raise
            except Exception as err:
                reason = unavailable_reason(err)
                if reason is not None:
                    raise self._no_adapter(reason) from err
                why = _describe(err)
                if self._scan_mode == "passive":
                    raise AdapterError(
                        f"passive Bluetooth scanning is not available ({why}); "
                        "use scan mode 'auto' or 'active'"
                    ) from err
                self._passive_unavailable = why
                _LOGGER.warning("passive BLE scanning not available (%s); scanning actively", why)
            else:
                self._mode = "passive"
                return
        try:
            self._scanner = await self._try_start("active")
        except asyncio.CancelledError:
            raise
        except Exception as err:
            reason = unavailable_reason(err)
            if reason is not None:
                raise self._no_adapter(reason) from err
            raise AdapterError(f"Bluetooth scanning could not start ({_describe(err)})") from err
        self._mode = "active"

    async def _stop_scanner(self) -> None:
        scanner, self._scanner = self._scanner, None
        self._mode = None
        self.status.set_connected(False)
        if scanner is None:
            return
        try:
            await asyncio.wait_for(scanner.stop(), START_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self.stats.errors += 1
            _LOGGER.debug("stopping the BLE scanner failed: %s", _describe(err))

    # -- watchdog -----------------------------------------------------------------------

    def _retry_delay(self) -> float:
        state = None if self._bluez is None else self._bluez.state
        if state is not None and not state.ready:
            return RETRY_MAX  # BlueZ says why; its signals wake the watchdog when it changes
        base = READY_RETRY_BASE if state is not None else RETRY_BASE
        if self._watchdog_seconds > 0:
            base = min(base, self._watchdog_seconds)
        return Backoff(base, max(RETRY_MAX, base)).delay(self._failed_starts - 1)

    def _silence_limit(self) -> float:
        return self._watchdog_seconds * min(1 << min(self._silent_restarts, 8), SILENCE_BACKOFF_MAX)

    def _seconds_to_next_check(self, now: float) -> float | None:
        if self._pending_error is not None or self._bluez_changed:
            return 0.0
        if self._scanner is None:
            return self._retry_delay()
        if self._watchdog_seconds <= 0:
            return None
        return self._last_rx + self._silence_limit() - now

    def _log_trouble(self, msg: str, *args: object) -> None:
        if self._trouble_logged:
            _LOGGER.debug(msg, *args)
        else:
            self._trouble_logged = True
            _LOGGER.warning(msg + " (further restarts logged at debug level)", *args)

    async def _watch(self) -> None:
        while self._running:
            delay = self._seconds_to_next_check(time.monotonic())
            if delay is None or delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            if not self._running:
                return
            if self._bluez_changed:
                await asyncio.sleep(SETTLE_SECONDS)
                # what arrived while settling is in the state read below
                self._bluez_changed = False
                self._wake.clear()
                await self._follow_bluez()
                continue
            now = time.monotonic()
            if self._last_rx > self._restarted_at and self._scanner is not None:
                self._silent_restarts = 0
                if self._trouble_logged:
                    self._trouble_logged = False
                    _LOGGER.info("BLE scanning works again (%s)", self._mode)
            reason: str | None = None
            if self._pending_error is not None:
                reason = f"scanner error: {_describe(self._pending_error)}"
            elif self._scanner is None:
                reason = "retrying after a failed restart"
            elif self._watchdog_seconds > 0 and now - self._last_rx >= self._silence_limit():
                reason = f"nothing heard for {now - self._last_rx:.1f} s"
                self._silent_restarts += 1
            if reason is not None:
                await self._restart(reason, quiet=self._racing_bluez())

    async def _restart(self, reason: str, *, quiet: bool = False) -> bool:
        self.stats.restarts += 1
        if quiet:
            _LOGGER.debug("restarting the BLE scanner: %s", reason)
        else:
            self._log_trouble("restarting the BLE scanner: %s", reason)
        self._pending_error = None
        await self._stop_scanner()
        try:
            await self._start_scanner()
        except AdapterError as err:
            self.stats.errors += 1
            self._failed_starts += 1
            self._log_trouble(
                "the BLE scanner did not restart (%s); retrying in %.1f s", err, self._retry_delay()
            )
            return False
        self._failed_starts = 0
        now = time.monotonic()
        self._restarted_at = now
        self._last_rx = now
        return True

    # -- following BlueZ ----------------------------------------------------------------

    def _on_bluez(self, state: BluezState | None) -> None:
        """The watch's callback: BlueZ changed (None: the watch lost the system bus). The
        watchdog task follows it after a short settle (:meth:`_follow_bluez`)."""
        self._bluez_changed = True
        self._wake.set()

    def _racing_bluez(self) -> bool:
        """True for the first quick retries after BlueZ reported the adapter back: bleak may
        not have seen the adapter yet, which is no news worth a warning."""
        state = None if self._bluez is None else self._bluez.state
        return (
            state is not None
            and state.ready
            and self._scanner is None
            and 0 < self._failed_starts < QUIET_RETRIES
        )

    def _bluez_reason(self) -> str | None:
        state = None if self._bluez is None else self._bluez.state
        return None if state is None else state.reason

    async def _follow_bluez(self) -> None:
        """Stop scanning while BlueZ says it cannot run; start again once it can."""
        assert self._bluez is not None
        state = self._bluez.state
        if state is None:
            return  # the watch is blind: the watchdog does its job
        if state.owner is not None and state.owner != self._bluez_owner:
            self._bluez_owner = state.owner
            if self._scan_mode == "auto":
                self._passive_unavailable = None  # a new bluetoothd may scan passively
        if not state.ready:
            reason = state.reason or ""
            if self._paused is None:
                _LOGGER.warning("BLE scanning stopped: %s; it restarts when BlueZ is back", reason)
            elif self._paused != reason:
                _LOGGER.info("BLE scanning still stopped: %s", reason)
            if self._paused != reason:
                self.status.set_connected(False, error=reason)
            self._paused = reason
            if self._scanner is not None:
                await self._stop_scanner()
            return
        if (
            self._paused is None
            and self._scanner is not None
            and self._scanner_epoch == state.epoch
        ):
            return
        was, self._paused = self._paused, None
        self._failed_starts = 0
        if await self._restart("BlueZ reports the adapter ready", quiet=True):
            _LOGGER.info("BLE scanning again (%s)%s", self._mode, f" after: {was}" if was else "")


__all__ = [
    "FLAGS_VALUES",
    "OR_PATTERNS",
    "SCAN_MODES",
    "AdapterStats",
    "AdvertisementSink",
    "BleAdapter",
    "ScanMode",
    "patterns_for",
    "unavailable_reason",
]
