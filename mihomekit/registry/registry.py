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
* learns what a device reports beyond its model (:mod:`mihomekit.learning`): a reading
  HomeKit can show that the model does not list extends the device's model, and the
  ``model`` change is told before the reading that brought it;
* is the bus: it tells its listeners (HomeKit, MQTT out, the dashboard, the saved state)
  every accepted reading and every device added, removed or changed
  (:mod:`.events`); nothing else announces devices;
* is the :class:`~.sink.DeviceSink` every source writes to, and the place writes from
  HomeKit and MQTT go through to the source that controls a device (:meth:`control`).

Nothing here does I/O; time comes from the injected clock.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from mihomekit.advertisement import LOCAL_RECEIVER, Advertisement
from mihomekit.catalog import DeviceModel, lookup, unknown_name
from mihomekit.decoders import decode_advertisement, decode_manufacturer_data
from mihomekit.errors import ControlError
from mihomekit.learning import buttons_weighed, new_capabilities, restored, with_learned
from mihomekit.mi32cfg import DeviceEntry
from mihomekit.readings import DecodeResult, Event, KeyStatus, Value

from .device import (
    Control,
    Decoder,
    Device,
    EncryptedFrame,
    Frame,
    UnknownDevice,
    compact_mac,
    default_name,
)
from .events import (
    Change,
    DeviceAdded,
    DeviceChanged,
    DeviceRemoved,
    RegistryEvent,
    RegistryListener,
    Update,
)

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
#: How many devices heard but not configured are remembered (the least recently heard go).
UNKNOWN_DEVICES = 128
#: An unknown device's model guess is refreshed at most this often (seconds).
UNKNOWN_REDECODE = 10.0
#: Formats whose counters are 32-bit authenticated counters (replay protection applies).
_REPLAY_PROTECTED_FORMATS = frozenset({"mibeacon", "bthome"})


def counter_is_newer(counter: int, last: int) -> bool:
    """True if ``counter`` comes after ``last`` in the 32-bit modular sense."""
    return 0 < (counter - last) % COUNTER_MODULUS < COUNTER_WINDOW


class Registry:
    """All devices of the bridge, by id (BLE: 12 uppercase hex; Zigbee: the source's id)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._devices: dict[str, Device] = {}
        #: Counters: advertisements, accepted, events, and each reason for a drop.
        self.stats: Counter[str] = Counter()
        #: Advertisements (service-data entries) per receiver id.
        self.receiver_stats: Counter[str] = Counter()
        #: Devices heard but not configured, least recently heard first (bounded).
        self.unknown: OrderedDict[str, UnknownDevice] = OrderedDict()
        self._warned: set[tuple[str, str]] = set()
        self._listeners: tuple[RegistryListener, ...] = ()
        #: The listeners that also want every reading (:class:`Update`), in the same order.
        self._reading_listeners: tuple[RegistryListener, ...] = ()

    # -- the bus -------------------------------------------------------------------------

    def subscribe(self, listener: RegistryListener, *, readings: bool = True) -> Callable[[], None]:
        """Call ``listener`` with every event of every device; returns the unsubscriber.

        ``readings=False``: only devices added, removed and changed, not each reading.
        """
        # Replaced, never changed in place: a listener may unsubscribe while being told.
        self._listeners = (*self._listeners, listener)
        if readings:
            self._reading_listeners = (*self._reading_listeners, listener)

        def unsubscribe() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)
            self._reading_listeners = tuple(x for x in self._reading_listeners if x is not listener)

        return unsubscribe

    def _publish(self, event: RegistryEvent, device: Device) -> None:
        """Tell the device's own listeners (readings and changes) and the registry's."""
        if isinstance(event, Update):
            if device.listeners:
                self._notify(device.listeners, event, device.id)
            if self._reading_listeners:
                self._notify(self._reading_listeners, event, device.id)
            return
        if not isinstance(event, DeviceAdded | DeviceRemoved) and device.listeners:
            self._notify(device.listeners, event, device.id)
        if self._listeners:
            self._notify(self._listeners, event, device.id)

    def _changed(self, device: Device, what: Change) -> None:
        self._publish(DeviceChanged(device, what), device)

    # -- devices -------------------------------------------------------------------------

    def add_entry(self, entry: DeviceEntry) -> Device:
        """Add a BLE device from an mi32cfg entry. ValueError if the device is known."""
        if entry.mac in self._devices:
            raise ValueError(f"device {entry.mac} is already known")
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
            owner_named=bool(entry.name),
        )
        self._devices[device.id] = device
        self.forget_unknown(device.id)
        self._publish(DeviceAdded(device), device)
        return device

    def add_device(
        self,
        device_id: str,
        model: DeviceModel | None,
        name: str | None,
        *,
        source: str,
        liveness: Callable[[], bool] | None = None,
        control: Control | None = None,
        saved: Mapping[str, Any] | None = None,
    ) -> Device:
        """Announce a device of a source (a Zigbee sensor), or update what is known of it.

        A new device is :class:`DeviceAdded`; for a known one, a model learnt now is a
        ``model`` change and a new name from the source a ``name`` change (unless the owner
        named the device). ``liveness``, ``control`` and ``saved`` replace earlier ones
        when given.
        """
        device = self._devices.get(device_id)
        if device is None:
            device = Device(
                id=device_id,
                name=name or default_name(model, None, device_id, source),
                model=model,
                source=source,
                pid=model.pid if model else None,
                source_name=name,
                liveness=liveness,
                control=control,
                saved=saved,
            )
            self._devices[device_id] = device
            self._publish(DeviceAdded(device), device)
            return device
        if liveness is not None:
            device.liveness = liveness
        if control is not None:
            device.control = control
        if saved is not None:
            device.saved = saved
        if device.model is None and model is not None:
            device.model = model
            device.pid = model.pid
            device.weighed.clear()
            self._changed(device, "model")
        if name:
            self.source_renamed(device_id, name)
        return device

    def remove(self, device_id: str) -> Device | None:
        """Forget a device (:class:`DeviceRemoved`, then its listeners are dropped)."""
        device = self._devices.pop(device_id, None)
        if device is not None:
            self._publish(DeviceRemoved(device), device)
            device.listeners.clear()
        return device

    def get(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def devices(self) -> list[Device]:
        return list(self._devices.values())

    def __len__(self) -> int:
        return len(self._devices)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._devices

    # -- names, keys, reachability -------------------------------------------------------

    def rename(self, device_id: str, name: str) -> Device:
        """The owner names a device: shown everywhere, and kept over the source's names.

        KeyError if unknown, ValueError for a name that is empty or over 64 characters.
        """
        device = self._devices[device_id]
        name = name.strip()
        if not name or len(name) > 64:
            raise ValueError("a name has 1 to 64 characters")
        device.owner_named = True
        self._set_name(device, name)
        return device

    def clear_name(self, device_id: str) -> str:
        """Drop the owner's name: the source's name (or the default) is shown again.

        Returns the name now shown; KeyError if unknown.
        """
        device = self._devices[device_id]
        device.owner_named = False
        name = device.source_name or default_name(
            device.model, device.pid, device_id, device.source
        )
        name = name[:64]
        self._set_name(device, name)
        return name

    def source_renamed(self, device_id: str, name: str) -> None:
        """See :meth:`DeviceSink.source_renamed`."""
        device = self._devices.get(device_id)
        name = name.strip()[:64]
        if device is None or not name:
            return
        device.source_name = name
        if not device.owner_named:
            self._set_name(device, name)

    def _set_name(self, device: Device, name: str) -> None:
        if device.name != name:
            device.name = name
            self._changed(device, "name")

    def set_key(self, device_id: str, key: bytes | None) -> None:
        """A BLE device's bind key changed (the mi32cfg was edited): used from now on."""
        device = self._devices[device_id]
        if device.key == key:
            return
        device.key = key
        device.last_counter = None
        device.reboot_run.clear()
        device.recent_frames.clear()
        frame = device.last_encrypted
        if frame is not None:
            result = frame.try_key(key)
            status = KeyStatus.OK if result.ok else result.key_status
            self._set_key_status(device, status)

    def reachability_changed(self, device_id: str) -> None:
        """See :meth:`DeviceSink.reachability_changed`."""
        device = self._devices.get(device_id)
        if device is not None:
            self._changed(device, "reachable")

    # -- writes: HomeKit, MQTT → device --------------------------------------------------

    async def control(self, device_id: str, values: Mapping[str, Value]) -> None:
        """Carry out a write through the device's source; ControlError if it has none."""
        device = self._devices.get(device_id)
        if device is None or device.control is None:
            raise ControlError(f"{device_id} cannot be controlled")
        await device.control(device_id, values)

    # -- BLE -----------------------------------------------------------------------------

    def handle(self, advertisement: Advertisement) -> None:
        """Apply every service-data and manufacturer-data entry of one advertisement.

        This is the :data:`~mihomekit.advertisement.AdvertisementSink` every BLE source feeds.
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
        decode: Decoder,
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
        if device.is_repeat(data, now):
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
        frames.append(Frame(data, now, result.counter is not None))
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
        decode: Decoder,
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
        self._changed(device, "key_status")

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
        weighed = device.weighed
        if not values.keys() <= weighed or (events and not buttons_weighed(events, weighed)):
            self._learn(device, values, events)  # a name never seen: one subset check above
        if events:
            self.stats["events"] += len(events)
        if device.listeners or self._reading_listeners:
            self._publish(Update(device, values, events, heartbeat), device)

    def _learn(self, device: Device, values: Mapping[str, Value], events: Sequence[Event]) -> None:
        """Weigh names not weighed before: what HomeKit can show and the model does not list
        extends the model, a ``model`` change told before the reading that brought it."""
        model = device.model
        if model is None:
            device.weighed.update(values)
            return
        new = new_capabilities(model, values, events, device.weighed)
        if new:
            device.model = with_learned(model, new)
            _LOGGER.info("%s (%s) reports %s too", device.name, device.id, ", ".join(new))
            self._changed(device, "model")

    def learned_before(self, device_id: str, saved: Sequence[object]) -> None:
        """Put back what a device's model learned in an earlier run (at start)."""
        device = self._devices.get(device_id)
        if device is None or device.model is None:
            return
        model = restored(device.model, saved)
        if model is not device.model:
            device.model = model
            self._changed(device, "model")

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
        self._learn(device, values, ())

    def _warn_once(self, device_id: str, cause: str, msg: str, *args: object) -> None:
        if (device_id, cause) in self._warned:
            _LOGGER.debug(msg, *args)
            return
        self._warned.add((device_id, cause))
        _LOGGER.warning(msg, *args)
