"""asyncio miIO client: handshake, calls with id matching and retries, discovery.

The hello handshake learns the device id and stamp; every call then carries
stamp + seconds elapsed. A call is retried on timeout with its id bumped by 100 (a late
answer to an earlier try is still accepted). Answers from other hosts or with other ids are
ignored; an answer that fails the checksum or does not decrypt ends the call with a
:class:`MiioError` at once (the device uses another token).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from typing import Any

from mihomekit.errors import MiioError
from mihomekit.sources.miio import protocol
from mihomekit.sources.miio.protocol import HELLO

DEFAULT_PORT = 54321
#: Re-handshake after this long without traffic.
HANDSHAKE_MAX_AGE = 120.0


class DeviceError(MiioError):
    """The device answered with an error object; ``code`` and ``text`` are its fields."""

    def __init__(self, host: str, code: int, text: str) -> None:
        super().__init__(f"{host} answered with error {code}: {text}")
        self.code = code
        self.text = text


@dataclass(frozen=True, slots=True)
class HelloReply:
    """A device's answer to hello: its address, id, stamp and (rarely) token."""

    ip: str
    did: int
    stamp: int
    token: str | None

    def to_json(self) -> dict[str, Any]:
        return {"ip": self.ip, "did": self.did, "stamp": self.stamp, "token": self.token}


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue(maxsize=256)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and such
        pass


async def _open(
    local: tuple[str, int], *, broadcast: bool = False
) -> tuple[asyncio.DatagramTransport, _Receiver]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind(local)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, receiver = await loop.create_datagram_endpoint(_Receiver, sock=sock)
    except OSError as err:
        sock.close()
        raise MiioError(f"cannot open a UDP socket on {local[0]}: {err.strerror or err}") from None
    return transport, receiver


class MiioClient:
    """One miIO device at ``host``; use as ``async with MiioClient(...) as client``."""

    def __init__(
        self,
        host: str,
        token: str | bytes,
        *,
        port: int = DEFAULT_PORT,
        timeout: float = 2.0,
        retries: int = 2,
        start_id: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.token = protocol.parse_token(token)
        self.timeout = timeout
        self.retries = retries
        self._id = start_id
        self._transport: asyncio.DatagramTransport | None = None
        self._receiver: _Receiver | None = None
        self._did: int | None = None
        self._stamp = 0
        self._stamp_at = 0.0
        self._last_traffic = 0.0

    async def open(self) -> None:
        if self._transport is None:
            self._transport, self._receiver = await _open(("0.0.0.0", 0))

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            self._receiver = None

    async def __aenter__(self) -> MiioClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _sendto(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.sendto(data, (self.host, self.port))

    async def _receive(self, deadline: float) -> bytes | None:
        """The next datagram from the device before ``deadline`` (loop time), or None."""
        assert self._receiver is not None
        loop = asyncio.get_running_loop()
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return None
            try:
                data, addr = await asyncio.wait_for(self._receiver.queue.get(), left)
            except TimeoutError:
                return None
            if addr[0] == self.host:
                return data

    async def handshake(self) -> HelloReply:
        """Send hello and learn the device id and stamp."""
        await self.open()
        loop = asyncio.get_running_loop()
        for _ in range(self.retries + 1):
            self._sendto(HELLO)
            deadline = loop.time() + self.timeout
            while (data := await self._receive(deadline)) is not None:
                try:
                    packet = protocol.parse_packet(data)
                except MiioError:
                    continue
                if packet.is_hello:
                    self._did, self._stamp = packet.did, packet.stamp
                    self._stamp_at = self._last_traffic = time.monotonic()
                    token = packet.revealed_token
                    return HelloReply(
                        self.host, packet.did, packet.stamp, token.hex() if token else None
                    )
        raise MiioError(f"no answer from {self.host} after {self.retries + 1} tries (hello)")

    def _next_id(self, step: int) -> int:
        self._id += step
        if self._id >= 9999:
            self._id = 1
        return self._id

    async def call(self, method: str, params: Any = None, **extra: Any) -> Any:
        """Call ``method`` and return its ``result``; raises :class:`MiioError`."""
        now = time.monotonic()
        if self._did is None or now - self._last_traffic > HANDSHAKE_MAX_AGE:
            await self.handshake()
        assert self._did is not None
        loop = asyncio.get_running_loop()
        sent_ids: set[int] = set()
        for attempt in range(self.retries + 1):
            request_id = self._next_id(100 if attempt else 1)
            sent_ids.add(request_id)
            message = {
                "id": request_id,
                "method": method,
                "params": [] if params is None else params,
            }
            message.update(extra)
            stamp = self._stamp + int(time.monotonic() - self._stamp_at) + 1
            self._sendto(
                protocol.build_packet(
                    self.token, self._did, stamp, protocol.encode_payload(message)
                )
            )
            deadline = loop.time() + self.timeout
            while (data := await self._receive(deadline)) is not None:
                _, plaintext = protocol.open_packet(data, self.token)
                if not plaintext:
                    continue  # a stray hello answer
                reply = protocol.decode_payload(plaintext)
                if reply.get("id") not in sent_ids:
                    continue
                self._last_traffic = time.monotonic()
                return self._result(reply)
        raise MiioError(
            f"no answer from {self.host} after {self.retries + 1} tries "
            "(it answered hello: wrong token?)"
        )

    def _result(self, reply: dict[str, Any]) -> Any:
        error = reply.get("error")
        if error is not None:
            if isinstance(error, dict):
                code = error.get("code", 0)
                text = str(error.get("message", ""))
            else:
                code, text = 0, str(error)
            raise DeviceError(self.host, code if isinstance(code, int) else 0, text)
        if "result" not in reply:
            raise MiioError(f"{self.host} sent a reply without result")
        return reply["result"]


async def discover(
    interface: str | None = None, *, timeout: float = 3.0, port: int = DEFAULT_PORT
) -> list[HelloReply]:
    """Send hello and collect answers for ``timeout`` seconds.

    Sends to the broadcast address from ``interface`` (an IPv4 address; None: the default
    route). A loopback ``interface`` (127.x) gets the hello itself, not a broadcast.
    """
    loopback = interface is not None and interface.startswith("127.")
    local = (interface or "0.0.0.0", 0)
    transport, receiver = await _open(local, broadcast=not loopback)
    target = interface if loopback and interface else "255.255.255.255"
    found: dict[str, HelloReply] = {}
    loop = asyncio.get_running_loop()
    try:
        for _ in range(3):
            transport.sendto(HELLO, (target, port))
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            try:
                data, addr = await asyncio.wait_for(receiver.queue.get(), left)
            except TimeoutError:
                break
            try:
                packet = protocol.parse_packet(data)
            except MiioError:
                continue
            if packet.is_hello and addr[0] not in found:
                token = packet.revealed_token
                found[addr[0]] = HelloReply(
                    addr[0], packet.did, packet.stamp, token.hex() if token else None
                )
    finally:
        transport.close()
    return list(found.values())
