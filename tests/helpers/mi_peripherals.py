"""Sensor models for GATT tests: what a Xiaomi sensor answers when a client connects.

Each model describes its GATT table (:attr:`Peripheral.table`: services, characteristics,
flags, initial values) and answers reads and writes through the handler methods the
BlueZ stand-in and the fake ESPHome proxy call: ``on_read(char)``, ``on_write(char, data,
with_response)``, ``on_connect()``, ``on_disconnect()``. It sends notifications through
``notify(char, data)``, which the host (stand-in or proxy) installs with :meth:`attach`.

:class:`MiActivationDevice` is the device side of Mi activation, written independently of
``mihomekit.ble.activation``: a real ECDH peer with its own key pair, its own HKDF and
AES-CCM (``cryptography`` directly), which checks the encrypted device id and answers
0x11, or 0x12 when told to refuse or when the id does not decrypt.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def uuid16(short: int) -> str:
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


def mmc(suffix: str) -> str:
    """A characteristic of the LYWSD0x service family: ``mmc("b7")``."""
    return f"ebe0cc{suffix}-7a0a-4b0c-8a1a-6ff2997da3a6"


FE95 = uuid16(0xFE95)
CONTROL = uuid16(0x0010)
PARCELS = uuid16(0x0019)
MMC_SERVICE = mmc("b0")
CLOCK = mmc("b7")
UNITS = mmc("be")
DATA = mmc("c1")
MMC_BATTERY = mmc("c4")
FLOWER_SERVICE = uuid16(0x1204)
FLOWER_FIRMWARE = uuid16(0x1A02)
BATTERY_SERVICE = uuid16(0x180F)
BATTERY_LEVEL = uuid16(0x2A19)

READ = "read"
WRITE = "write"
WRITE_NR = "write-without-response"
NOTIFY = "notify"


@dataclass
class Char:
    uuid: str
    flags: list[str]
    value: bytes = b""


@dataclass
class Service:
    uuid: str
    chars: list[Char]


Notify = Callable[[str, bytes], None]


class Peripheral:
    """Base: a GATT table, stored values, a log of what the client did."""

    def __init__(self, table: list[Service]) -> None:
        self.table = table
        self.values: dict[str, bytes] = {c.uuid: c.value for s in table for c in s.chars}
        self.writes: list[tuple[str, bytes, bool]] = []
        self.reads: list[str] = []
        self.connects = 0
        self.disconnects = 0
        self._notify: Notify | None = None

    def attach(self, notify: Notify) -> None:
        """Called by the host with the function that sends a notification."""
        self._notify = notify

    def notify(self, char: str, data: bytes) -> None:
        assert self._notify is not None, "not attached to a host"
        self._notify(char, bytes(data))

    # -- handler -------------------------------------------------------------------------

    def on_connect(self) -> None:
        self.connects += 1

    def on_disconnect(self) -> None:
        self.disconnects += 1

    def on_read(self, char: str) -> bytes:
        self.reads.append(char)
        return self.values.get(char, b"")

    def on_write(self, char: str, data: bytes, with_response: bool = True) -> None:
        self.writes.append((char, bytes(data), with_response))
        self.values[char] = bytes(data)
        self.written(char, bytes(data))

    def written(self, char: str, data: bytes) -> None:
        """Override: react to a write."""

    def writes_to(self, char: str) -> list[bytes]:
        return [data for c, data, _ in self.writes if c == char]


def on_bluez(bluez: Any, mac: str, model: Peripheral, *, adapter: str = "hci0") -> Any:
    """Host ``model`` on the BlueZ stand-in at ``mac``; the stand-in's peripheral."""
    from bluez_fake import GattCharacteristic, GattService

    services = [
        GattService(s.uuid, [GattCharacteristic(c.uuid, c.flags, c.value) for c in s.chars])
        for s in model.table
    ]
    peripheral = bluez.add_peripheral(mac, services, handler=model, adapter=adapter)
    model.attach(peripheral.notify)
    return peripheral


# ---- Mi activation (the device side) ---------------------------------------------------

_READY = bytes.fromhex("00000101")
_RECEIVED = bytes.fromhex("00000100")
_NONCE = bytes([0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B])


def _frames(data: bytes) -> list[bytes]:
    return [bytes([i // 18 + 1, 0]) + data[i : i + 18] for i in range(0, len(data), 18)]


@dataclass
class _Inbound:
    kind: int = -1
    count: int = 0
    parts: dict[int, bytes] = field(default_factory=dict)


class MiActivationDevice(Peripheral):
    """A sensor that can be activated: service 0xFE95 with control and parcel characteristics.

    ``refuse``: answer 0x12 to the confirmation. ``known_id``: the device id it already
    has (sent in its info parcel; activation must reuse it). ``silent_after``: stop
    answering after this step (``"info"`` = never send the info, ``"key"`` = never send
    its public key) to make the client time out. After success ``bind_key`` holds the new
    key and ``on_activated(bind_key)`` is called.
    """

    def __init__(
        self,
        extra: list[Service] | None = None,
        *,
        refuse: bool = False,
        known_id: bytes | None = None,
        silent_after: str | None = None,
        on_activated: Callable[[bytes], None] | None = None,
    ) -> None:
        fe95 = Service(
            FE95,
            [Char(CONTROL, [WRITE_NR, NOTIFY]), Char(PARCELS, [WRITE_NR, NOTIFY])],
        )
        super().__init__([fe95, *(extra or [])])
        self.refuse = refuse
        self.known_id = known_id
        self.silent_after = silent_after
        self.on_activated = on_activated
        self.bind_key: bytes | None = None
        self.token: bytes | None = None
        self.received_id: bytes | None = None
        self.activations = 0
        self._reset()

    def _reset(self) -> None:
        self._private = ec.generate_private_key(ec.SECP256R1())
        self._inbound = _Inbound()
        self._outbound: bytes = b""
        self._a_key: bytes | None = None
        self._pending_key: bytes | None = None
        self._id_ok = False
        self._phase = "idle"

    def on_disconnect(self) -> None:
        super().on_disconnect()
        self._reset()

    def info(self) -> bytes:
        return b"\x01\x00\x00\x00" + (self.known_id or b"")

    def written(self, char: str, data: bytes) -> None:
        if char == CONTROL:
            self._control(data)
        elif char == PARCELS:
            self._parcel(data)

    # -- control ---------------------------------------------------------------------------

    def _control(self, data: bytes) -> None:
        command = data[:1]
        if command == b"\xa2":
            if self.silent_after == "info":
                return
            self._send(self.info(), kind=0, phase="info")
        elif command == b"\x15":
            self._phase = "await-key-header"
        elif command == b"\x13":
            if self.refuse or not self._id_ok:
                self.notify(CONTROL, bytes.fromhex("12000000"))
                return
            self.bind_key = self._pending_key
            self.activations += 1
            if self.known_id is None:  # a device keeps the id it was given
                self.known_id = self.received_id
            self.notify(CONTROL, bytes.fromhex("11000000"))
            if self.on_activated is not None and self.bind_key is not None:
                self.on_activated(self.bind_key)

    # -- parcels ----------------------------------------------------------------------------

    def _send(self, data: bytes, *, kind: int, phase: str) -> None:
        self._outbound = data
        self._phase = phase
        count = len(_frames(data))
        self.notify(PARCELS, bytes([0, 0, 0, kind]) + struct.pack("<H", count))

    def _parcel(self, data: bytes) -> None:
        if data == _READY and self._phase in ("info", "own-key"):
            for frame in _frames(self._outbound):
                self.notify(PARCELS, frame)
            return
        if data == _RECEIVED:
            if self._phase == "own-key":
                self._phase = "await-id-header"
            return
        if len(data) == 6 and data[:3] == b"\0\0\0":
            self._inbound = _Inbound(kind=data[3], count=struct.unpack("<H", data[4:6])[0])
            self.notify(PARCELS, _READY)
            return
        inbound = self._inbound
        if inbound.count and len(data) >= 2:
            inbound.parts[data[0] | data[1] << 8] = data[2:]
            if len(inbound.parts) == inbound.count:
                whole = b"".join(inbound.parts[i] for i in range(1, inbound.count + 1))
                self._inbound = _Inbound()
                self.notify(PARCELS, _RECEIVED)
                self._complete(inbound.kind, whole)

    def _complete(self, kind: int, whole: bytes) -> None:
        if kind == 3:
            theirs = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), b"\x04" + whole[:64]
            )
            shared = self._private.exchange(ec.ECDH(), theirs)
            okm = HKDF(hashes.SHA256(), 64, None, b"mible-setup-info").derive(shared)
            self.token, self._pending_key, self._a_key = okm[:12], okm[12:28], okm[28:44]
            if self.silent_after == "key":
                return
            numbers = self._private.public_key().public_numbers()
            mine = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
            self._send(mine, kind=3, phase="own-key")
        elif kind == 0 and self._a_key is not None:
            try:
                plain = AESCCM(self._a_key, tag_length=4).decrypt(_NONCE, whole, b"devID")
            except InvalidTag:
                self._id_ok = False
                return
            self.received_id = plain
            self._id_ok = self.known_id is None or plain == self.known_id


# ---- Models with clock, units, battery -------------------------------------------------


class MmcSensor(MiActivationDevice):
    """LYWSD02 / LYWSD03MMC / MHO-C401: the ebe0ccb0 service (clock, units, data, battery).

    ``data`` is what the data characteristic notifies once notifications are enabled
    (LYWSD03MMC: temperature x 100 int16, humidity byte, mV uint16).
    """

    def __init__(
        self,
        *,
        clock: bytes = b"\0\0\0\0\0",
        units: bytes = b"\x00",
        battery: int = 77,
        data: bytes | None = None,
        **kwargs: object,
    ) -> None:
        table = [
            Service(
                MMC_SERVICE,
                [
                    Char(CLOCK, [READ, WRITE], clock),
                    Char(UNITS, [READ, WRITE], units),
                    Char(DATA, [READ, NOTIFY], data or b""),
                    Char(MMC_BATTERY, [READ], bytes([battery])),
                ],
            )
        ]
        super().__init__(table, **kwargs)  # type: ignore[arg-type]
        self.data = data

    def on_notify_started(self, char: str) -> None:
        """Hosts that report StartNotify call this; the data characteristic answers."""
        if char == DATA and self.data is not None:
            self.notify(DATA, self.data)


def lywsd03_data(celsius: float, humidity: int, millivolts: int) -> bytes:
    return struct.pack("<hBH", round(celsius * 100), humidity, millivolts)


class FlowerCare(MiActivationDevice):
    """HHCCJCY01: service 0x1204, characteristic 0x1A02 = battery %, 0, firmware text."""

    def __init__(self, *, battery: int = 64, firmware: str = "3.2.2", **kwargs: object) -> None:
        value = bytes([battery, 0]) + firmware.encode()
        table = [Service(FLOWER_SERVICE, [Char(FLOWER_FIRMWARE, [READ], value)])]
        super().__init__(table, **kwargs)  # type: ignore[arg-type]


class BatteryServiceDevice(Peripheral):
    """A standard device (CGD1): Battery Service 0x180F, Battery Level 0x2A19."""

    def __init__(self, *, battery: int = 58) -> None:
        super().__init__(
            [Service(BATTERY_SERVICE, [Char(BATTERY_LEVEL, [READ, NOTIFY], bytes([battery]))])]
        )


#: What a LYWSD03MMC notifies in the tests: 21.5 °C, 48 %, 2950 mV (71 %).
LYWSD03_DATA = lywsd03_data(21.5, 48, 2950)


def battery_cases() -> list[tuple[str, Peripheral, str]]:
    """Per model with a battery over GATT: (model, a fresh sensor, what `ble battery` says)."""
    return [
        ("HHCCJCY01", FlowerCare(battery=64), "battery 64 %"),
        ("CGD1", BatteryServiceDevice(battery=58), "battery 58 %"),
        ("LYWSD02", MmcSensor(battery=77), "battery 77 %"),
        ("LYWSD03MMC", MmcSensor(data=LYWSD03_DATA), "battery 71 %"),
    ]
