"""The device registry: which devices exist, what they last said, and when.

Readings from every source end here. The registry

* maps an advertisement to its configured device (by MAC) and decodes it with that
  device's key;
* drops a frame heard again (repeats, several receivers) without a second event, but
  counts it as a sign of life: a frame with a counter is the same frame whenever its bytes
  come again; one without a counter only within :data:`REPEAT_WINDOW` seconds;
* keeps, per device, the last RSSI and time per receiver and the best receiver;
* ignores plain frames with values for a device that has a bind key (they cannot be
  authenticated);
* drops an encrypted frame whose counter is not newer than the last accepted one (a
  replay), with a rule for counter wrap and device reboot (:func:`counter_is_newer`,
  :data:`REBOOT_CONFIRM`);
* keeps last values, per-value times and last-seen times;
* tells subscribers (the HomeKit accessories) about each accepted reading.

Nothing here does I/O; time comes from the injected clock.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .catalog import DeviceModel, lookup, unknown_name
from .decoders import decode_advertisement, decode_manufacturer_data
from .mi32cfg import DeviceEntry
from .readings import DecodeResult, Event, KeyStatus, Value
from .sources import LOCAL_RECEIVER, Advertisement

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

COUNTER_MODULUS = 1 << 32
#: A counter up to half the counter space ahead of the last accepted one is "newer";
#: this keeps wrap-around (0xFFFFFFFF → 0) working.
COUNTER_WINDOW = 1 << 31
#: After a device reboot its counter restarts lower. That many consecutive frames with
#: rising counters, each behind the last accepted one, are taken as a reboot and accepted.
REBOOT_CONFIRM = 3
#: How many recent raw frames per device are remembered to spot repeats.
RECENT_FRAMES = 4
#: A frame without a counter heard again within this many seconds is a repeat (the same
#: advertisement sent several times, or heard by several receivers); later it is news.
REPEAT_WINDOW = 3.0
#: A receiver that has not heard a device for this many seconds no longer competes for
#: "best receiver".
RECEIVER_WINDOW = 300.0
#: How many devices heard but not configured are remembered (the least recently heard go).
UNKNOWN_DEVICES = 128
#: An unknown device's model guess is refreshed at most this often (seconds).
UNKNOWN_REDECODE = 10.0
#: Formats whose counters are 32-bit authenticated counters (replay protection applies).
_REPLAY_PROTECTED_FORMATS = frozenset({"mibeacon", "bthome"})


def counter_is_newer(counter: int, last: int) -> bool:
    """True if ``counter`` comes after ``last`` in the 32-bit modular sense."""
    return 0 < (counter - last) % COUNTER_MODULUS < COUNTER_WINDOW


def compact_mac(mac: str) -> str:
    """``a4:c1:38:12:34:56`` → ``A4C138123456`` (the registry's BLE device id)."""
    return mac.replace(":", "").replace("-", "").upper()


@dataclass(frozen=True, slots=True)
class Update:
    """One accepted reading of one device."""

    device: Device
    values: Mapping[str, Value]
    events: tuple[Event, ...] = ()
    heartbeat: bool = False


Listener = Callable[[Update], None]
#: ``decode(mac, uuid or company id, data, key)``: a service-data or manufacturer-data decoder.
_Decoder = Callable[[str, int, bytes, "bytes | None"], DecodeResult]


@dataclass(slots=True)
class Reception:
    """How one receiver last heard one device: RSSI (dBm, None if unknown) and time."""

    rssi: int | None
    seen: float


@dataclass(frozen=True, slots=True)
class EncryptedFrame:
    """The last encrypted frame heard from a device: enough to try a bind key on it.

    ``selector`` is the service UUID (or the company id, for manufacturer data) and
    ``decode`` the decoder it went to.
    """

    mac: str
    selector: int
    data: bytes
    seen: float
    decode: _Decoder

    def try_key(self, key: bytes | None) -> DecodeResult:
        """Decode the frame again with ``key``."""
        return self.decode(self.mac, self.selector, self.data, key)


@dataclass(slots=True)
class UnknownDevice:
    """A device heard but not configured, with the decoder's guess of what it is.

    ``selector``: the service UUID (or company id) of its last decoded frame.
    """

    mac: str
    selector: int
    format: str | None
    pid: int | None
    model: str | None
    encrypted: bool
    rssi: int | None
    receiver: str
    seen: float
    decoded: float
    last_encrypted: EncryptedFrame | None = None


@dataclass(frozen=True, slots=True)
class _Frame:
    data: bytes
    heard: float
    counted: bool  # the frame carries a counter: its bytes never come back as news


@dataclass(eq=False, slots=True)
class Device:
    """A configured or discovered device and what it last reported."""

    id: str
    name: str
    model: DeviceModel | None
    source: str = "ble"
    pid: int | None = None
    key: bytes | None = None
    values: dict[str, Value] = field(default_factory=dict)
    value_times: dict[str, float] = field(default_factory=dict)
    last_seen: float | None = None
    rssi: int | None = None
    key_status: KeyStatus = KeyStatus.NOT_NEEDED
    last_counter: int | None = None
    #: Per receiver id: the last RSSI and time it heard this device.
    receivers: dict[str, Reception] = field(default_factory=dict)
    #: The receiver with the strongest recent signal (see :data:`RECEIVER_WINDOW`).
    best_receiver: str | None = None
    recent_frames: list[_Frame] = field(default_factory=list)
    reboot_run: list[int] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    #: The last encrypted frame heard (with or without a working key), for key checks.
    last_encrypted: EncryptedFrame | None = None
    #: Set by a source that knows better than the last-seen time whether the device can be
    #: reached (a gateway adapter: the gateway's heartbeats and the device's own).
    liveness: Callable[[], bool] | None = None

    @property
    def bridged(self) -> bool:
        """Known devices appear in HomeKit; unknown product ids are kept but not bridged."""
        return self.model is not None

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def heard_by(self, receiver: str, rssi: int | None, now: float) -> None:
        """Note a frame from ``receiver``; update the best receiver and :attr:`rssi`."""
        seen = self.receivers.get(receiver)
        if seen is None:
            self.receivers[receiver] = Reception(rssi, now)
        else:
            seen.rssi = rssi
            seen.seen = now
        if len(self.receivers) == 1:
            self.best_receiver = receiver
            self.rssi = rssi
            return
        best: str | None = None
        best_rssi = -1000
        for name, reception in self.receivers.items():
            if now - reception.seen > RECEIVER_WINDOW:
                continue
            level = -999 if reception.rssi is None else reception.rssi
            if level > best_rssi:
                best, best_rssi = name, level
        self.best_receiver = best
        self.rssi = self.receivers[best].rssi if best is not None else rssi

    def _repeat(self, data: bytes, now: float) -> bool:
        for frame in self.recent_frames:
            if frame.data == data and (frame.counted or now - frame.heard < REPEAT_WINDOW):
                return True
        return False


def default_name(model: DeviceModel | None, pid: int | None, device_id: str) -> str:
    """``<MODEL>-<last 3 MAC bytes>`` (``LYWSD03MMC-52680F``), or Tasmota's ``MI_0B48`` style."""
    base = model.model if model else unknown_name(pid or 0)
    return f"{base}-{device_id[-6:].upper()}"


class Registry:
    """All devices of the bridge, by id (BLE: 12 uppercase hex; Zigbee: the gateway sid)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._devices: dict[str, Device] = {}
        self.stats: Counter[str] = Counter()
        #: Advertisements (service-data entries) per receiver id.
        self.receiver_stats: Counter[str] = Counter()
        #: Devices heard but not configured, least recently heard first (bounded).
        self.unknown: OrderedDict[str, UnknownDevice] = OrderedDict()
        self._warned: set[tuple[str, str]] = set()
        #: Called with a device whose ``key_status`` changed (for displays: not an update
        #: of values, so device listeners and HomeKit are not told).
        self.status_listeners: list[Callable[[Device], None]] = []

    # -- devices -------------------------------------------------------------------------

    def add_entry(self, entry: DeviceEntry) -> Device:
        """Add a BLE device from an mi32cfg entry."""
        model = lookup(entry.pid)
        if model is None:
            self._warn_once(
                entry.mac,
                "unknown-pid",
                "device %s has unknown product id 0x%04x (%s): kept, not bridged",
                entry.mac,
                entry.pid,
                unknown_name(entry.pid),
            )
        device = Device(
            id=entry.mac,
            name=entry.name or default_name(model, entry.pid, entry.mac),
            model=model,
            source="ble",
            pid=entry.pid,
            key=entry.key,
        )
        self._devices[device.id] = device
        return device

    def add_device(
        self, device_id: str, model: DeviceModel | None, name: str | None, *, source: str
    ) -> Device:
        """Add (or return the existing) device of another source, such as a Zigbee sensor."""
        existing = self._devices.get(device_id)
        if existing is not None:
            if existing.model is None and model is not None:
                existing.model = model
            if name and existing.name != name:
                existing.name = name
            return existing
        device = Device(
            id=device_id,
            name=name or default_name(model, None, device_id),
            model=model,
            source=source,
            pid=model.pid if model else None,
        )
        self._devices[device_id] = device
        return device

    def remove(self, device_id: str) -> Device | None:
        """Forget a device (its listeners with it); returns it, or None if unknown."""
        device = self._devices.pop(device_id, None)
        if device is not None:
            device.listeners.clear()
        return device

    def get(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def devices(self) -> list[Device]:
        return list(self._devices.values())

    def __len__(self) -> int:
        return len(self._devices)

    # -- BLE -----------------------------------------------------------------------------

    def handle(self, advertisement: Advertisement) -> None:
        """Apply every service-data and manufacturer-data entry of one advertisement.

        This is the :data:`~mihomekit.sources.AdvertisementSink` every BLE source feeds.
        """
        mac, rssi, receiver = advertisement.mac, advertisement.rssi, advertisement.receiver
        for uuid, data in advertisement.service_data.items():
            self._handle(mac, uuid, data, rssi, receiver, decode_advertisement)
        for company_id, data in advertisement.manufacturer_data.items():
            self._handle(mac, company_id, data, rssi, receiver, decode_manufacturer_data)

    def handle_advertisement(
        self,
        mac: str,
        service_uuid: int,
        data: bytes,
        rssi: int | None = None,
        *,
        receiver: str = LOCAL_RECEIVER,
    ) -> DecodeResult | None:
        """Decode one service-data entry for its configured device and apply it.

        Returns the decode result when the frame was decoded (accepted or not), None when it
        was dropped before decoding (unknown device, repeat).
        """
        return self._handle(mac, service_uuid, data, rssi, receiver, decode_advertisement)

    def handle_manufacturer_data(
        self,
        mac: str,
        company_id: int,
        data: bytes,
        rssi: int | None = None,
        *,
        receiver: str = LOCAL_RECEIVER,
    ) -> DecodeResult | None:
        """Like :meth:`handle_advertisement`, for manufacturer data (by company id)."""
        return self._handle(mac, company_id, data, rssi, receiver, decode_manufacturer_data)

    def _handle(
        self,
        mac: str,
        selector: int,
        data: bytes,
        rssi: int | None,
        receiver: str,
        decode: _Decoder,
    ) -> DecodeResult | None:
        self.stats["advertisements"] += 1
        self.receiver_stats[receiver] += 1
        device_id = compact_mac(mac)
        device = self._devices.get(device_id)
        now = self._clock()
        if device is None:
            self.stats["dropped_unknown_device"] += 1
            self._note_unknown(device_id, mac, selector, data, rssi, receiver, now, decode)
            return None
        device.heard_by(receiver, rssi, now)
        if device._repeat(data, now):
            # The same frame again: a sign of life, never a second event.
            self.stats["dropped_duplicate"] += 1
            device.last_seen = now
            return None
        result = decode(mac, selector, data, device.key)
        if result.encrypted:
            device.last_encrypted = EncryptedFrame(mac, selector, data, now, decode)
        if not result.ok:
            self._reject(device, result)
            return result
        if result.encrypted:
            self._set_key_status(device, KeyStatus.OK)
        elif device.key is not None and (result.values or result.events):
            # A device with a bind key only speaks encrypted: a plain frame with values
            # under its address is not from it (or is forged) and must not move HomeKit.
            self.stats["dropped_unencrypted"] += 1
            self._warn_once(
                device.id,
                "unencrypted",
                "%s (%s): unencrypted frame with values ignored (the device has a bind key)",
                device.name,
                device.id,
            )
            return result
        if not self._counter_accepts(device, result):
            return result
        frames = device.recent_frames
        frames.append(_Frame(data, now, result.counter is not None))
        if len(frames) > RECENT_FRAMES:
            del frames[0]
        values: dict[str, Value] = dict(result.values)
        self.stats["accepted"] += 1
        self._apply(device, values, result.events, heartbeat=False, now=now)
        return result

    def _note_unknown(
        self,
        device_id: str,
        mac: str,
        selector: int,
        data: bytes,
        rssi: int | None,
        receiver: str,
        now: float,
        decode: _Decoder,
    ) -> None:
        """Remember a device heard but not configured (the table stays bounded)."""
        known = self.unknown.get(device_id)
        if known is not None:
            self.unknown.move_to_end(device_id)
            known.rssi, known.receiver, known.seen = rssi, receiver, now
            if now - known.decoded < UNKNOWN_REDECODE:
                return
        result = decode(mac, selector, data, None)
        if not (result.ok or result.encrypted):
            return  # not a sensor frame we understand: nothing worth listing
        if known is None:
            known = UnknownDevice(mac, selector, None, None, None, False, rssi, receiver, now, now)
            self.unknown[device_id] = known
            while len(self.unknown) > UNKNOWN_DEVICES:
                self.unknown.popitem(last=False)
        known.decoded = now
        known.selector = selector
        known.format = result.format
        known.pid = result.pid if result.pid is not None else known.pid
        known.model = result.model or known.model
        known.encrypted = result.encrypted
        if result.encrypted:
            known.last_encrypted = EncryptedFrame(mac, selector, data, now, decode)

    def forget_unknown(self, device_id: str) -> UnknownDevice | None:
        """Drop a device from the unknown table (it was added); returns what was known."""
        return self.unknown.pop(device_id, None)

    def _reject(self, device: Device, result: DecodeResult) -> None:
        status = result.key_status
        if status in (KeyStatus.WRONG, KeyStatus.MISSING):
            self._set_key_status(device, status)
            self.stats[f"dropped_{status.value}_key"] += 1
            self._warn_once(
                device.id,
                status.value,
                "%s (%s): %s",
                device.name,
                device.id,
                result.error or f"{status.value} key",
            )
        else:
            self.stats["dropped_decode_error"] += 1
            _LOGGER.debug("%s: frame dropped: %s", device.id, result.error)

    def _set_key_status(self, device: Device, status: KeyStatus) -> None:
        if device.key_status is status:
            return
        device.key_status = status
        self._notify(self.status_listeners, device, device.id)

    def _counter_accepts(self, device: Device, result: DecodeResult) -> bool:
        counter = result.counter
        if (
            not result.encrypted
            or counter is None
            or result.format not in _REPLAY_PROTECTED_FORMATS
        ):
            return True
        last = device.last_counter
        if last is None or counter_is_newer(counter, last):
            device.last_counter = counter
            device.reboot_run.clear()
            return True
        if counter == last:
            self.stats["dropped_duplicate"] += 1
            return False
        run = device.reboot_run
        if run and not counter_is_newer(counter, run[-1]):
            run.clear()
        run.append(counter)
        if len(run) >= REBOOT_CONFIRM:
            _LOGGER.info(
                "%s: counter restarted at %d (device reboot?), accepting", device.id, counter
            )
            self.stats["counter_restarts"] += 1
            device.last_counter = counter
            run.clear()
            return True
        self.stats["dropped_replay"] += 1
        return False

    # -- other sources -------------------------------------------------------------------

    def ingest(
        self,
        device_id: str,
        values: Mapping[str, Value],
        events: Sequence[Event] = (),
        *,
        heartbeat: bool = False,
    ) -> bool:
        """Apply a reading from a non-BLE source. Heartbeats refresh values but fire no events."""
        device = self._devices.get(device_id)
        if device is None:
            self.stats["dropped_unknown_device"] += 1
            return False
        self.stats["accepted"] += 1
        self._apply(
            device, dict(values), () if heartbeat else tuple(events), heartbeat, self._clock()
        )
        return True

    # -- common --------------------------------------------------------------------------

    def _apply(
        self,
        device: Device,
        values: dict[str, Value],
        events: tuple[Event, ...],
        heartbeat: bool,
        now: float,
    ) -> None:
        device.last_seen = now
        device.values.update(values)
        times = device.value_times
        for name in values:
            times[name] = now
        if not device.listeners:
            return
        self._notify(device.listeners, Update(device, values, events, heartbeat), device.id)

    def _notify(self, listeners: Sequence[Callable[[_T], None]], what: _T, device_id: str) -> None:
        for listener in listeners:
            try:
                listener(what)
            except Exception as err:  # a broken listener must not stop the radio
                self.stats["listener_errors"] += 1
                if ("", "listener") not in self._warned:
                    self._warned.add(("", "listener"))
                    _LOGGER.exception(
                        "listener failed for %s (further failures at debug level)", device_id
                    )
                else:
                    _LOGGER.debug("listener failed for %s: %s", device_id, err)

    def restore(self, device_id: str, values: Mapping[str, Value], age: float | None) -> None:
        """Put back persisted values at start; ``age`` = seconds since they were last heard."""
        device = self._devices.get(device_id)
        if device is None:
            return
        device.values.update(values)
        if age is not None:
            seen = self._clock() - max(0.0, age)
            device.last_seen = seen
            for name in values:
                device.value_times[name] = seen

    def _warn_once(self, device_id: str, cause: str, msg: str, *args: object) -> None:
        if (device_id, cause) in self._warned:
            _LOGGER.debug(msg, *args)
            return
        self._warned.add((device_id, cause))
        _LOGGER.warning(msg, *args)
