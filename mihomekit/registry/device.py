"""A device as the registry keeps it: what it is, what it last said, who heard it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mihomekit.catalog import DeviceModel, unknown_name
from mihomekit.readings import DecodeResult, KeyStatus, Value

#: A device's listener, called with each of its events (``Update`` or ``DeviceChanged``,
#: :data:`~mihomekit.registry.events.DeviceListener` says so exactly; this module stays
#: below the events, which name the device).
_Listener = Callable[[Any], None]

__all__ = [
    "RECEIVER_WINDOW",
    "REPEAT_WINDOW",
    "Control",
    "Device",
    "EncryptedFrame",
    "Reception",
    "UnknownDevice",
    "compact_mac",
    "default_name",
]

#: What Apple Home does not accept in an accessory's name (and ``_``, which it shows badly).
_NOT_IN_NAMES = re.compile(r"[^\w' ]|_")

#: A frame without a counter heard again within this many seconds is a repeat (the same
#: advertisement sent several times, or heard by several receivers); later it is news.
REPEAT_WINDOW = 3.0
#: A receiver that has not heard a device for this many seconds no longer competes for
#: "best receiver".
RECEIVER_WINDOW = 300.0

#: ``control(device_id, values)``: how a source carries out a write (HomeKit, MQTT → device).
Control = Callable[[str, Mapping[str, Value]], Awaitable[None]]
#: ``decode(mac, uuid or company id, data, key)``: a service-data or manufacturer-data decoder.
Decoder = Callable[[str, int, bytes, "bytes | None"], DecodeResult]


def compact_mac(mac: str) -> str:
    """``a4:c1:38:12:34:56`` → ``A4C138123456`` (the registry's BLE device id)."""
    return mac.replace(":", "").replace("-", "").upper()


def default_name(
    model: DeviceModel | None, pid: int | None, device_id: str, source: str = "ble"
) -> str:
    """The name of a device nobody named: the model and the end of its address.

    A BLE device: ``<MODEL>-<last 3 MAC bytes>`` (``LYWSD03MMC-52680F``, or Tasmota's
    ``MI_0B48-52680F`` for an unknown product id), as Tasmota names it. A device of
    another source (a Zigbee sensor of a gateway or of Zigbee2MQTT without a name there):
    its product name and the last 4 digits of its id (``Aqara Temperature Humidity
    Pressure Sensor 0003``), in the letters, digits, spaces and apostrophes that Apple
    Home accepts in a name.
    """
    if source == "ble" or model is None:
        base = model.model if model else unknown_name(pid or 0)
        return f"{base}-{device_id[-6:].upper()}"
    product = model.name
    if model.vendor and not product.lower().startswith(model.vendor.lower()):
        product = f"{model.vendor} {product}"
    words = _NOT_IN_NAMES.sub(" ", f"{product} {device_id[-4:].upper()}").split()
    return " ".join(words)[:64]


@dataclass(slots=True)
class Reception:
    """How one receiver last heard one device: RSSI (dBm, None if unknown) and time."""

    rssi: int | None
    seen: float


@dataclass(slots=True)
class EncryptedFrame:
    """The last encrypted frame heard from a device: enough to try a bind key on it.

    Made for every encrypted frame and never changed (not frozen: a frozen dataclass
    costs four times as much to make).

    ``selector`` is the service UUID (or the company id, for manufacturer data) and
    ``decode`` the decoder it went to.
    """

    mac: str
    selector: int
    data: bytes
    seen: float
    decode: Decoder

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


@dataclass(slots=True)
class Frame:
    """A recent raw frame of a device, to spot repeats (made per frame, never changed)."""

    data: bytes
    heard: float
    counted: bool  # the frame carries a counter: its bytes never come back as news


@dataclass(eq=False, slots=True)
class Device:
    """A configured or discovered device and what it last reported.

    Sources never change a device directly: they write through the registry
    (:class:`~mihomekit.registry.DeviceSink`), which tells every listener.
    """

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
    recent_frames: list[Frame] = field(default_factory=list)
    reboot_run: list[int] = field(default_factory=list)
    listeners: list[_Listener] = field(default_factory=list)
    #: The last encrypted frame heard (with or without a working key), for key checks.
    last_encrypted: EncryptedFrame | None = None
    #: Set by a source that knows better than the last-seen time whether the device can be
    #: reached (a gateway adapter: the gateway's heartbeats and the device's own).
    liveness: Callable[[], bool] | None = None
    #: Set by a source that can carry out writes to the device (plugs, lights, covers).
    control: Control | None = None
    #: The name the device's source gives it (a Zigbee2MQTT friendly_name), if any.
    source_name: str | None = None
    #: The owner named it (dashboard): that name wins over the source's until cleared.
    owner_named: bool = False
    #: What the source wants kept with the device so that it can be shown at the next start
    #: before the source speaks (a Zigbee2MQTT device's capabilities).
    saved: Mapping[str, Any] | None = None
    #: Reading names (and ``button_<n>``) already weighed for what the model learns from
    #: them (:mod:`mihomekit.learning`): a reading of known names costs one subset check.
    weighed: set[str] = field(default_factory=set)

    @property
    def bridged(self) -> bool:
        """Known devices appear in HomeKit; unknown product ids are kept but not bridged."""
        return self.model is not None

    def subscribe(self, listener: _Listener) -> None:
        """Call ``listener`` with every update and change of this device."""
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

    def is_repeat(self, data: bytes, now: float) -> bool:
        """True if ``data`` is a frame heard recently (see :data:`REPEAT_WINDOW`)."""
        for frame in self.recent_frames:
            if frame.data == data and (frame.counted or now - frame.heard < REPEAT_WINDOW):
                return True
        return False
