"""A fake ESPHome Bluetooth proxy for tests: the real native API over TCP on 127.0.0.1.

It is built from aioesphomeapi's own message definitions (``api_pb2``, the message-id
table of ``aioesphomeapi.core``) and, for encrypted proxies, from the ``noiseprotocol``
library with aioesphomeapi's Noise backend and ciphers, as the responder of
``Noise_NNpsk0_25519_ChaChaPoly_SHA256``. It answers what a Bluetooth-only client asks
(hello, device info, ping, disconnect, subscribe/unsubscribe advertisements) and sends
raw advertisement batches (message 93) of given frames, or the parsed form (message 67)
to a client that subscribed without the raw flag.

Like real firmware before the 2026 change, the proxy has **one subscriber slot**: a
second subscription is ignored in silence. ``slot_taken=True`` plays "Home Assistant
holds the slot". With ``FEATURE_STATE_AND_MODE`` in the feature flags, an accepted
subscription is answered with a scanner-state message at once.

Active connections (GATT), as aioesphomeapi's Bluetooth calls use them: a proxy with
``ACTIVE_CONNECTIONS | REMOTE_CACHING`` in its feature flags (:data:`GATT_FLAGS`) connects
to the peripherals added with :meth:`FakeProxy.add_peripheral` (the sensor models of
``mi_peripherals``), lists their services with handles, reads, writes, writes the
notification descriptor and forwards the models' notifications once it is enabled.

Hostile traffic for tests: :meth:`FakeProxy.inject` writes raw bytes past the framing;
:meth:`FakeProxy.send_message_bytes` frames any payload under any message id.

Private aioesphomeapi names used here: ``aioesphomeapi._frame_helper.noise_encryption``
(``ESPHOME_NOISE_BACKEND``, ``NOISE_PROTOCOL_NAME``, ``EncryptCipher``, ``DecryptCipher``,
``decode_noise_psk``), the same Noise setup the client uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aioesphomeapi import api_pb2
from aioesphomeapi._frame_helper.noise_encryption import (
    ESPHOME_NOISE_BACKEND,
    NOISE_PROTOCOL_NAME,
    DecryptCipher,
    EncryptCipher,
    decode_noise_psk,
)
from aioesphomeapi.core import MESSAGE_TYPE_TO_PROTO
from noise.connection import NoiseConnection

from mihomekit.sources.esphome.ad import build_ad, parse_ad

LOOPBACK = "127.0.0.1"
PROLOGUE = b"NoiseAPIInit\x00\x00"
#: BluetoothProxyFeature bits.
PASSIVE_SCAN = 1
RAW_ADVERTISEMENTS = 32
FEATURE_STATE_AND_MODE = 64
DEFAULT_FLAGS = PASSIVE_SCAN | RAW_ADVERTISEMENTS
ACTIVE_CONNECTIONS = 2
REMOTE_CACHING = 4
#: A proxy that also makes connections (``bluetooth_proxy: active: true``).
GATT_FLAGS = DEFAULT_FLAGS | ACTIVE_CONNECTIONS | REMOTE_CACHING
_CCCD_UUID = 0x2902
#: GATT characteristic property bits by the models' flag names.
_PROPERTY_BITS = {
    "read": 0x02,
    "write-without-response": 0x04,
    "write": 0x08,
    "notify": 0x10,
    "indicate": 0x20,
}

_ID_OF = {cls: number for number, cls in MESSAGE_TYPE_TO_PROTO.items()}


def message_id(msg: Any) -> int:
    return _ID_OF[type(msg)]


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@dataclass(frozen=True)
class Entry:
    """One advertisement as the proxy forwards it."""

    address: int
    rssi: int
    data: bytes
    address_type: int = 0

    @classmethod
    def service(cls, mac: str, payload: bytes, rssi: int = -60, uuid: int = 0xFE95) -> Entry:
        """A sensor's advertisement: flags plus one service-data structure."""
        return cls(int(mac.replace(":", ""), 16), rssi, build_ad({uuid: payload}))


class _Conn:
    """One client connection (plaintext or Noise)."""

    def __init__(
        self, proxy: FakeProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proxy = proxy
        self.reader = reader
        self.writer = writer
        self.encrypt: EncryptCipher | None = None
        self.decrypt: DecryptCipher | None = None
        self.subscribed_flags: int | None = None
        self.messages: list[int] = []

    # -- framing --------------------------------------------------------------------------

    def _frame(self, msg_type: int, payload: bytes) -> bytes:
        if self.encrypt is None:
            return b"\x00" + varint(len(payload)) + varint(msg_type) + payload
        body = struct.pack(">HH", msg_type, len(payload) & 0xFFFF) + payload
        cipher = self.encrypt.encrypt(body)
        return b"\x01" + struct.pack(">H", len(cipher)) + cipher

    def send(self, msg: Any) -> None:
        self.send_bytes(message_id(msg), msg.SerializeToString())

    def send_bytes(self, msg_type: int, payload: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(self._frame(msg_type, payload))

    async def _read_varint(self) -> int:
        result = shift = 0
        while True:
            byte = (await self.reader.readexactly(1))[0]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 28:
                raise ValueError("varint too long")

    async def _read_noise_frame(self, first: bytes = b"") -> bytes:
        header = first + await self.reader.readexactly(3 - len(first))
        if header[0] != 0x01:
            raise _WrongMode("plaintext client")
        return await self.reader.readexactly((header[1] << 8) | header[2])

    def _write_noise_handshake_frame(self, payload: bytes) -> None:
        self.writer.write(b"\x01" + struct.pack(">H", len(payload)) + payload)

    async def read_message(self) -> tuple[int, bytes]:
        if self.decrypt is None:
            preamble = (await self.reader.readexactly(1))[0]
            if preamble != 0x00:
                raise _WrongMode("encrypted client")
            length = await self._read_varint()
            msg_type = await self._read_varint()
            return msg_type, await self.reader.readexactly(length)
        frame = await self._read_noise_frame()
        plain = self.decrypt.decrypt(frame)
        msg_type, _length = struct.unpack(">HH", plain[:4])
        return msg_type, plain[4:]

    # -- handshake ------------------------------------------------------------------------

    async def noise_handshake(self, psk: bytes, first: bytes) -> bool:
        proxy = self.proxy
        proto = NoiseConnection.from_name(NOISE_PROTOCOL_NAME, backend=ESPHOME_NOISE_BACKEND)
        proto.set_as_responder()
        proto.set_psks(psk)
        proto.set_prologue(PROLOGUE)
        proto.start_handshake()
        hello = await self._read_noise_frame(first)  # the client's empty hello frame
        assert hello == b"", hello
        first = await self._read_noise_frame()
        server_hello = b"\x01" + proxy.name.encode() + b"\x00" + proxy.mac.encode() + b"\x00"
        self._write_noise_handshake_frame(server_hello)
        try:
            if not first or first[0] != 0:
                raise ValueError("bad handshake indicator")
            proto.read_message(first[1:])
        except Exception:
            proxy.handshake_failures += 1
            self._write_noise_handshake_frame(b"\x01Handshake MAC failure")
            await self.writer.drain()
            return False
        self._write_noise_handshake_frame(b"\x00" + bytes(proto.write_message()))
        noise = proto.noise_protocol
        self.encrypt = EncryptCipher(noise.cipher_state_encrypt)
        self.decrypt = DecryptCipher(noise.cipher_state_decrypt)
        return True

    # -- serving --------------------------------------------------------------------------

    async def serve(self) -> None:
        proxy = self.proxy
        try:
            if proxy.psk is not None:
                peek = await self.reader.readexactly(1)
                if peek != b"\x01":
                    # A plaintext client at an encrypted proxy: a Noise error frame.
                    self._write_noise_handshake_frame(b"\x01Bad indicator byte")
                    await self.writer.drain()
                    return
                if not await self.noise_handshake(proxy.psk, peek):
                    return
            while True:
                msg_type, payload = await self.read_message()
                self.messages.append(msg_type)
                proxy.received.append(msg_type)
                if not self.handle(msg_type, payload):
                    return
        except _WrongMode:
            if proxy.psk is None:
                # An encrypted client at a plaintext proxy: answer in plaintext.
                self.writer.write(b"\x00\x00\x00")
                with contextlib.suppress(ConnectionError):
                    await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            proxy._dropped(self)
            self.writer.close()

    def handle(self, msg_type: int, payload: bytes) -> bool:
        """Answer one message; False to close the connection."""
        proxy = self.proxy
        if msg_type == 1:  # HelloRequest
            api_pb2.HelloRequest().ParseFromString(payload)
            major, minor = proxy.api_version
            self.send(
                api_pb2.HelloResponse(
                    api_version_major=major,
                    api_version_minor=minor,
                    server_info=f"{proxy.name} (esphome v{proxy.esphome_version})",
                    name=proxy.name,
                )
            )
        elif msg_type == 9:  # DeviceInfoRequest
            self.send(
                api_pb2.DeviceInfoResponse(
                    name=proxy.name,
                    mac_address=proxy.mac,
                    esphome_version=proxy.esphome_version,
                    model="esp32dev",
                    bluetooth_proxy_feature_flags=proxy.feature_flags,
                    legacy_bluetooth_proxy_version=proxy.legacy_version,
                    bluetooth_mac_address=proxy.mac,
                    api_encryption_supported=proxy.psk is not None,
                )
            )
        elif msg_type == 11:  # ListEntitiesRequest
            self.send(api_pb2.ListEntitiesDoneResponse())
        elif msg_type == 7:  # PingRequest
            self.send(api_pb2.PingResponse())
        elif msg_type == 5:  # DisconnectRequest
            self.send(api_pb2.DisconnectResponse())
            return False
        elif msg_type == 66:  # SubscribeBluetoothLEAdvertisementsRequest
            request = api_pb2.SubscribeBluetoothLEAdvertisementsRequest()
            request.ParseFromString(payload)
            proxy.subscription_requests += 1
            if proxy.slot is None or proxy.slot is self:
                proxy.slot = self
                self.subscribed_flags = request.flags
                if proxy.feature_flags & FEATURE_STATE_AND_MODE:
                    self.send(api_pb2.BluetoothScannerStateResponse(state=2, mode=0))
                proxy.subscribed.set()
        elif msg_type == 87:  # UnsubscribeBluetoothLEAdvertisementsRequest
            if proxy.slot is self:
                proxy.slot = None
            self.subscribed_flags = None
        elif msg_type in _GATT_MESSAGES:
            proxy.gatt.handle(self, msg_type, payload)
        return True


class _WrongMode(Exception):
    pass


def _split_uuid(uuid: str) -> list[int]:
    value = int(uuid.replace("-", ""), 16)
    return [value >> 64, value & 0xFFFFFFFFFFFFFFFF]


@dataclass
class _Handle:
    """One characteristic of a connected peripheral."""

    uuid: str
    flags: list[str]
    cccd: int
    notifying: bool = False


@dataclass
class _Peer:
    """A peripheral model, its handles and (when connected) the client connection."""

    model: Any
    handles: dict[int, _Handle] = field(default_factory=dict)
    by_uuid: dict[str, int] = field(default_factory=dict)
    conn: _Conn | None = None


_GATT_MESSAGES = frozenset({68, 70, 73, 75, 77, 78})


class _Gatt:
    """The active-connection side of the proxy."""

    def __init__(self) -> None:
        self.peers: dict[int, _Peer] = {}
        #: (address, request type) of every device request, for assertions.
        self.requests: list[tuple[int, int]] = []

    def add(self, mac: str, model: Any) -> None:
        address = int(mac.replace(":", ""), 16)
        peer = _Peer(model)
        handle = 1
        for service in model.table:
            handle += 1
            for char in service.chars:
                peer.handles[handle + 1] = _Handle(char.uuid, list(char.flags), handle + 2)
                peer.by_uuid[char.uuid] = handle + 1
                handle += 3
        self.peers[address] = peer
        model.attach(lambda char, data: self._notify(peer, address, char, data))

    def _notify(self, peer: _Peer, address: int, char: str, data: bytes) -> None:
        handle = peer.by_uuid[char]
        if peer.conn is not None and peer.handles[handle].notifying:
            peer.conn.send(
                api_pb2.BluetoothGATTNotifyDataResponse(address=address, handle=handle, data=data)
            )

    def drop(self, conn: _Conn) -> None:
        for peer in self.peers.values():
            if peer.conn is conn:
                self.drop_peer(peer)

    def handle(self, conn: _Conn, msg_type: int, payload: bytes) -> None:
        message = MESSAGE_TYPE_TO_PROTO[msg_type]()
        message.ParseFromString(payload)
        address = message.address
        peer = self.peers.get(address)
        if msg_type == 68:
            self._device_request(conn, message, peer)
            return
        if peer is None or peer.conn is not conn:
            conn.send(
                api_pb2.BluetoothDeviceConnectionResponse(
                    address=address, connected=False, error=0x85
                )
            )
            return
        if msg_type == 70:
            self._services(conn, address, peer)
        elif msg_type == 73:
            data = peer.model.on_read(peer.handles[message.handle].uuid)
            conn.send(
                api_pb2.BluetoothGATTReadResponse(
                    address=address, handle=message.handle, data=bytes(data)
                )
            )
        elif msg_type == 75:
            peer.model.on_write(peer.handles[message.handle].uuid, message.data, message.response)
            if message.response:
                conn.send(
                    api_pb2.BluetoothGATTWriteResponse(address=address, handle=message.handle)
                )
        elif msg_type == 77:
            self._descriptor(conn, address, peer, message)
        elif msg_type == 78:
            conn.send(api_pb2.BluetoothGATTNotifyResponse(address=address, handle=message.handle))

    def _device_request(self, conn: _Conn, message: Any, peer: _Peer | None) -> None:
        address = message.address
        self.requests.append((address, message.request_type))
        if message.request_type in (0, 4, 5):  # connect
            if peer is None:
                conn.send(
                    api_pb2.BluetoothDeviceConnectionResponse(
                        address=address, connected=False, error=0x85
                    )
                )
                return
            peer.conn = conn
            peer.model.on_connect()
            conn.send(
                api_pb2.BluetoothDeviceConnectionResponse(
                    address=address, connected=True, mtu=23, error=0
                )
            )
        elif message.request_type == 1:  # disconnect
            if peer is not None and peer.conn is conn:
                self.drop_peer(peer)
            conn.send(api_pb2.BluetoothDeviceConnectionResponse(address=address, connected=False))

    def drop_peer(self, peer: _Peer) -> None:
        peer.conn = None
        for handle in peer.handles.values():
            handle.notifying = False
        peer.model.on_disconnect()

    def _services(self, conn: _Conn, address: int, peer: _Peer) -> None:
        response = api_pb2.BluetoothGATTGetServicesResponse(address=address)
        handle = 1
        for service in peer.model.table:
            handle += 1
            out = response.services.add(uuid=_split_uuid(service.uuid), handle=handle)
            for char in service.chars:
                bits = 0
                for flag in char.flags:
                    bits |= _PROPERTY_BITS.get(flag, 0)
                item = out.characteristics.add(
                    uuid=_split_uuid(char.uuid), handle=handle + 1, properties=bits
                )
                if bits & 0x30:
                    item.descriptors.add(short_uuid=_CCCD_UUID, handle=handle + 2)
                handle += 3
        conn.send(response)
        conn.send(api_pb2.BluetoothGATTGetServicesDoneResponse(address=address))

    def _descriptor(self, conn: _Conn, address: int, peer: _Peer, message: Any) -> None:
        for handle in peer.handles.values():
            if handle.cccd == message.handle:
                handle.notifying = bool(message.data[:1]) and message.data[0] & 0x03 != 0
                if handle.notifying:
                    started = getattr(peer.model, "on_notify_started", None)
                    if started is not None:
                        started(handle.uuid)
                conn.send(
                    api_pb2.BluetoothGATTWriteResponse(address=address, handle=message.handle)
                )
                return
        conn.send(
            api_pb2.BluetoothGATTErrorResponse(address=address, handle=message.handle, error=1)
        )


_SLOT_TAKEN = object()


@dataclass
class FakeProxy:
    """A fake proxy serving on 127.0.0.1 (``port`` 0: a free port, kept across restarts)."""

    name: str = "fake-proxy"
    mac: str = "AA:BB:CC:00:00:01"
    psk: bytes | None = None
    feature_flags: int = DEFAULT_FLAGS
    legacy_version: int = 0
    api_version: tuple[int, int] = (1, 10)
    esphome_version: str = "2025.6.0"
    port: int = 0
    #: True: another client (Home Assistant) holds the subscriber slot.
    slot_taken: bool = False
    connections: list[_Conn] = field(default_factory=list)
    slot: Any = None
    subscription_requests: int = 0
    handshake_failures: int = 0
    accepted: int = 0
    batches_sent: int = 0
    #: Message ids received, over all connections.
    received: list[int] = field(default_factory=list)
    _server: asyncio.Server | None = None
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Active connections to the peripherals of :meth:`add_peripheral`.
    gatt: _Gatt = field(default_factory=_Gatt)

    @classmethod
    def encrypted(cls, key: str, **kwargs: Any) -> FakeProxy:
        """A proxy using the base64 Noise ``key``."""
        return cls(psk=decode_noise_psk(key), **kwargs)

    def add_peripheral(self, mac: str, model: Any) -> None:
        """A sensor model (see ``mi_peripherals``) the proxy can connect to at ``mac``."""
        self.gatt.add(mac, model)

    async def start(self) -> FakeProxy:
        if self.slot_taken:
            self.slot = _SLOT_TAKEN
        self._server = await asyncio.start_server(
            self._accept, LOOPBACK, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Power off: stop listening and drop every connection (TCP reset)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.drop()
        self.connections.clear()
        self.slot = _SLOT_TAKEN if self.slot_taken else None
        self.subscribed.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    def drop(self) -> None:
        """Drop every connection (TCP reset) but keep listening."""
        for conn in list(self.connections):
            transport = conn.writer.transport
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()

    async def restart(self, downtime: float = 0.0) -> None:
        await self.stop()
        if downtime:
            await asyncio.sleep(downtime)
        await self.start()

    async def __aenter__(self) -> FakeProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        conn = _Conn(self, reader, writer)
        self.connections.append(conn)
        await conn.serve()

    def _dropped(self, conn: _Conn) -> None:
        self.gatt.drop(conn)
        if conn in self.connections:
            self.connections.remove(conn)
        if self.slot is conn:
            self.slot = None
            self.subscribed.clear()

    # -- sending --------------------------------------------------------------------------

    @property
    def subscriber(self) -> _Conn | None:
        return self.slot if isinstance(self.slot, _Conn) else None

    async def wait_subscribed(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.subscribed.wait(), timeout)

    def send_batch(self, entries: Sequence[Entry]) -> bool:
        """Send ``entries`` to the subscriber as one batch; False if nobody is subscribed."""
        conn = self.subscriber
        if conn is None:
            return False
        self.batches_sent += 1
        if conn.subscribed_flags:
            batch = api_pb2.BluetoothLERawAdvertisementsResponse()
            for entry in entries:
                batch.advertisements.add(
                    address=entry.address,
                    rssi=entry.rssi,
                    address_type=entry.address_type,
                    data=entry.data,
                )
            conn.send(batch)
            return True
        for entry in entries:  # the parsed (legacy) stream: one message per advertisement
            parsed = parse_ad(entry.data)
            msg = api_pb2.BluetoothLEAdvertisementResponse(
                address=entry.address, rssi=entry.rssi, address_type=entry.address_type
            )
            for uuid, data in parsed.service_data.items():
                msg.service_data.add(uuid=f"0000{uuid:04x}-0000-1000-8000-00805f9b34fb", data=data)
            for company, data in parsed.manufacturer_data.items():
                msg.manufacturer_data.add(uuid=f"0x{company:04X}", data=data)
            conn.send(msg)
        return True

    def send_message_bytes(self, msg_type: int, payload: bytes) -> None:
        """A correctly framed (and encrypted) message with any payload, to every client."""
        for conn in self.connections:
            conn.send_bytes(msg_type, payload)

    def inject(self, raw: bytes) -> None:
        """Raw bytes on every connection, outside the framing and the encryption."""
        for conn in self.connections:
            if not conn.writer.is_closing():
                conn.writer.write(raw)


async def start_proxies(proxies: Iterable[FakeProxy]) -> list[FakeProxy]:
    return [await proxy.start() for proxy in proxies]


__all__ = [
    "DEFAULT_FLAGS",
    "FEATURE_STATE_AND_MODE",
    "GATT_FLAGS",
    "PASSIVE_SCAN",
    "RAW_ADVERTISEMENTS",
    "Entry",
    "FakeProxy",
    "message_id",
    "start_proxies",
    "varint",
]
