"""Gateway LAN protocol client: discovery, device list, reads and keyed writes.

One UDP socket on an ephemeral port sends ``whois`` (multicast, on the chosen interface)
and unicast commands; answers come back to it. Requests to one gateway are serialized
(the protocol has no request ids), each answer is matched by sender address, command and
sid.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from mihomekit.errors import GatewayError
from mihomekit.sources.gateway import codec
from mihomekit.sources.gateway.codec import (
    CodecError,
    DeviceList,
    DeviceMessage,
    DeviceRef,
    Iam,
    Message,
    normalize_sid,
)
from mihomekit.sources.gateway.keys import write_key
from mihomekit.sources.gateway.net import (
    Address,
    default_ttl,
    interface_address,
    open_endpoint,
    set_multicast_sender,
    udp_socket,
)

_LOGGER = logging.getLogger(__name__)

STAT_NAMES = (
    "dropped_oversize",
    "dropped_bad_json",
    "dropped_wrong_type",
    "dropped_unknown_cmd",
    "dropped_unexpected_cmd",
    "dropped_unknown_model",
    "dropped_unknown_device",
    "dropped_invalid_value",
    "dropped_foreign_sender",
    "dropped_late_answer",
    "reports",
    "heartbeats",
    "invalid_key_retries",
    "request_timeouts",
)


def new_stats() -> dict[str, int]:
    """A stats dict with every counter at 0."""
    return dict.fromkeys(STAT_NAMES, 0)


class WarnOnce:
    """Log a cause as a warning the first time, then at debug level."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._seen: set[str] = set()

    def __call__(self, cause: str, msg: str, *args: object) -> None:
        if cause in self._seen:
            self._logger.debug(msg, *args)
        else:
            self._seen.add(cause)
            self._logger.warning(msg, *args)


@dataclass(slots=True)
class GatewayInfo:
    """A gateway the client talks to. ``sid`` is normalized, ``wire_sid`` as sent."""

    sid: str
    host: str
    port: int
    model: str
    proto: int
    proto_version: str | None = None
    token: str | None = None
    password: str | None = None
    wire_sid: str = ""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.wire_sid:
            self.wire_sid = self.sid
        self.sid = normalize_sid(self.sid)


Accept = Callable[[Message], bool]


@dataclass(slots=True)
class _Pending:
    host: str
    accept: Accept
    future: asyncio.Future[Message]


class GatewayClient:
    """Talks to gateways over unicast UDP and finds them by multicast ``whois``.

    ``interface`` is the local IPv4 address or interface name to use (None: the system
    default); ``ttl`` defaults to 0 on loopback, else 1.
    """

    def __init__(
        self,
        interface: str | None = None,
        *,
        group: str = "224.0.0.50",
        discovery_port: int = 4321,
        ttl: int | None = None,
        timeout: float = 2.0,
        retries: int = 1,
        stats: MutableMapping[str, int] | None = None,
    ) -> None:
        self.interface = interface_address(interface)
        self.group = group
        self.discovery_port = discovery_port
        self.ttl = default_ttl(self.interface) if ttl is None else ttl
        self.timeout = timeout
        self.retries = retries
        self.stats: MutableMapping[str, int] = stats if stats is not None else new_stats()
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: list[_Pending] = []
        self._iams: list[tuple[Iam, str]] | None = None
        self._warn = WarnOnce(_LOGGER)

    async def open(self) -> None:
        """Bind the command socket (ephemeral port on the interface)."""
        if self._transport is not None:
            return
        sock = udp_socket(self.interface or "0.0.0.0", 0, reuse=False)
        try:
            set_multicast_sender(sock, self.interface, self.ttl)
            self._transport = await open_endpoint(sock, self._datagram)
        except BaseException:
            sock.close()
            raise

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for pending in self._pending:
            if not pending.future.done():
                pending.future.cancel()
        self._pending.clear()

    async def __aenter__(self) -> GatewayClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def address(self) -> Address:
        """The command socket's local address."""
        if self._transport is None:
            raise GatewayError("gateway client is not open")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    # ------------------------------------------------------------------ receiving

    def _count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1

    def _datagram(self, data: bytes, addr: Address) -> None:
        try:
            message = codec.parse_message(data)
        except CodecError as err:
            self._count(f"dropped_{err.kind}")
            self._warn(f"command:{err.kind}", "dropped datagram from %s: %s", addr[0], err)
            return
        for pending in self._pending:
            if pending.host == addr[0] and not pending.future.done() and pending.accept(message):
                pending.future.set_result(message)
                return
        if isinstance(message, Iam) and self._iams is not None:
            self._iams.append((message, addr[0]))
            return
        self._count("dropped_late_answer")
        _LOGGER.debug("unexpected %s from %s", type(message).__name__, addr[0])

    def _send(self, payload: bytes, addr: Address) -> None:
        if self._transport is None:
            raise GatewayError("gateway client is not open")
        self._transport.sendto(payload, addr)

    async def _exchange(self, host: str, port: int, payload: bytes, accept: Accept) -> Message:
        """Send ``payload`` (retrying on timeout) and return the first accepted answer."""
        loop = asyncio.get_running_loop()
        for attempt in range(self.retries + 1):
            pending = _Pending(host, accept, loop.create_future())
            self._pending.append(pending)
            try:
                self._send(payload, (host, port))
                return await asyncio.wait_for(pending.future, self.timeout)
            except TimeoutError:
                self._count("request_timeouts")
                _LOGGER.debug("no answer from %s:%s (try %d)", host, port, attempt + 1)
            finally:
                self._pending.remove(pending)
        raise GatewayError(f"no answer from gateway {host}:{port} after {self.retries + 1} tries")

    async def request(self, gateway: GatewayInfo, payload: bytes, accept: Accept) -> Message:
        """One request to ``gateway``; requests to one gateway never overlap."""
        async with gateway.lock:
            return await self._exchange(gateway.host, gateway.port, payload, accept)

    # ------------------------------------------------------------------ discovery

    async def discover(self, timeout: float = 2.0) -> list[GatewayInfo]:
        """Multicast ``whois`` and collect ``iam`` answers for ``timeout`` seconds.

        The gateway's address is the sender of its ``iam`` (not its ``ip`` field).
        """
        self._iams = []
        try:
            for _ in range(2):
                self._send(codec.build_whois(), (self.group, self.discovery_port))
                await asyncio.sleep(timeout / 2)
            answers = list(self._iams)
        finally:
            self._iams = None
        found: dict[str, GatewayInfo] = {}
        for iam, host in answers:
            info = _info_from_iam(iam, host)
            found.setdefault(info.sid, info)
        return list(found.values())

    async def probe(self, host: str, port: int = 9898) -> GatewayInfo:
        """Find the gateway at ``host`` without multicast.

        Sends ``whois`` to ``host``'s discovery port and ``get_id_list``/``discovery`` to
        its command port; the first answer tells the sid and the protocol generation.
        """

        host = await resolve(host)

        def accept(message: Message) -> bool:
            return isinstance(message, Iam | DeviceList)

        payloads = (
            (codec.build_whois(), (host, self.discovery_port)),
            (codec.build_list_request(1), (host, port)),
            (codec.build_list_request(2), (host, port)),
        )
        loop = asyncio.get_running_loop()
        answer: Message | None = None
        for _ in range(self.retries + 1):
            pending = _Pending(host, accept, loop.create_future())
            self._pending.append(pending)
            try:
                for payload, addr in payloads:
                    self._send(payload, addr)
                answer = await asyncio.wait_for(pending.future, self.timeout)
                break
            except TimeoutError:
                self._count("request_timeouts")
            finally:
                self._pending.remove(pending)
        if answer is None:
            raise GatewayError(f"no answer from gateway {host}:{port}")
        if isinstance(answer, Iam):
            info = _info_from_iam(answer, host)
            return info
        assert isinstance(answer, DeviceList)
        info = GatewayInfo(
            sid=answer.sid, host=host, port=port, model="", proto=answer.proto, token=answer.token
        )
        own = await self.read(info, info.wire_sid)
        info.model = own.model or ""
        version = own.properties.get("proto_version")
        if isinstance(version, str):
            info.proto_version = version
        return info

    # ------------------------------------------------------------------ commands

    async def list_devices(self, gateway: GatewayInfo) -> tuple[DeviceRef, ...]:
        """The gateway's subdevices; also refreshes its token."""
        answer = await self.request(
            gateway,
            codec.build_list_request(gateway.proto),
            lambda m: isinstance(m, DeviceList) and m.proto == gateway.proto,
        )
        assert isinstance(answer, DeviceList)
        if answer.token:
            gateway.token = answer.token
        return answer.devices

    async def read(self, gateway: GatewayInfo, sid: str) -> DeviceMessage:
        """Read every property the gateway keeps for ``sid``."""
        wanted = normalize_sid(sid)
        answer = await self.request(gateway, codec.build_read(sid), _answer_to("read", wanted))
        assert isinstance(answer, DeviceMessage)
        if answer.error is not None:
            raise GatewayError(f"gateway {gateway.sid} cannot read {sid}: {answer.error}")
        return answer

    async def write(
        self,
        gateway: GatewayInfo,
        sid: str,
        properties: dict[str, Any],
        *,
        model: str | None = None,
    ) -> DeviceMessage:
        """Write ``properties`` to ``sid`` with a key from the newest token.

        On ``Invalid key`` the token is refreshed with a device-list request and the write
        is tried once more. Returns the acknowledgement (the device's state when the
        write arrived; the new state follows as a report).
        """
        if not gateway.password:
            raise GatewayError(f"no password configured for gateway {gateway.sid}")
        wanted = normalize_sid(sid)
        for attempt in range(2):
            if gateway.token is None or attempt > 0:
                await self.list_devices(gateway)
            if gateway.token is None:
                raise GatewayError(f"gateway {gateway.sid} sent no token")
            key = write_key(gateway.password, gateway.token)
            payload = codec.build_write(gateway.proto, sid, properties, key, model=model)
            answer = await self.request(gateway, payload, _answer_to("write", wanted))
            assert isinstance(answer, DeviceMessage)
            if answer.error is None:
                return answer
            if "invalid key" not in answer.error.lower():
                raise GatewayError(f"gateway {gateway.sid} refused the write: {answer.error}")
            if attempt == 0:
                self._count("invalid_key_retries")
                _LOGGER.debug("Invalid key from %s: refreshing the token", gateway.sid)
        raise GatewayError(
            f"gateway {gateway.sid} refused the write: Invalid key (is the password right?)"
        )


async def resolve(host: str) -> str:
    """The IPv4 address of ``host`` (answers are matched by sender address)."""
    try:
        ipaddress.IPv4Address(host)
        return host
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    except OSError as err:
        raise GatewayError(f"cannot resolve gateway host {host!r}: {err}") from None
    return str(infos[0][4][0])


def _answer_to(kind: str, sid: str) -> Accept:
    def accept(message: Message) -> bool:
        return (
            isinstance(message, DeviceMessage)
            and message.kind == kind
            and normalize_sid(message.sid) == sid
        )

    return accept


def _info_from_iam(iam: Iam, host: str) -> GatewayInfo:
    return GatewayInfo(
        sid=iam.sid,
        host=host,
        port=iam.port,
        model=iam.model,
        proto=iam.proto,
        proto_version=iam.proto_version,
    )
