"""UDP socket helpers shared by the gateway client, adapter and simulator.

Multicast always names its interface: the sender sets ``IP_MULTICAST_IF`` (and TTL 0 on
loopback, so nothing leaves the host), listeners join the group on that interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Callable

from mihomekit.errors import GatewayError

Address = tuple[str, int]
DatagramHandler = Callable[[bytes, Address], None]

_SIOCGIFADDR = 0x8915
#: Receive buffer asked for on listening sockets (bursts of reports, floods).
RECEIVE_BUFFER = 1 << 20


def bound_address(transport: asyncio.DatagramTransport | None, fallback: Address) -> Address:
    """The ``(host, port)`` a socket is bound to; ``fallback`` while it is not open."""
    if transport is None:
        return fallback
    host, port = transport.get_extra_info("sockname")[:2]
    return str(host), int(port)


def interface_address(interface: str | None) -> str | None:
    """The IPv4 address of ``interface`` (an address, or a name such as ``eth0``)."""
    if interface is None or not interface.strip():
        return None
    interface = interface.strip()
    try:
        return str(ipaddress.IPv4Address(interface))
    except ValueError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            request = struct.pack("256s", interface.encode()[:15])
            answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
        except OSError as err:
            raise GatewayError(f"interface {interface!r} has no IPv4 address: {err}") from None
    return socket.inet_ntoa(answer[20:24])


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` is in 127.0.0.0/8."""
    if address is None:
        return False
    try:
        return ipaddress.IPv4Address(address).is_loopback
    except ValueError:
        return False


def default_ttl(interface_addr: str | None) -> int:
    """TTL 0 on loopback (local delivery only), else 1 (link-local multicast)."""
    return 0 if is_loopback(interface_addr) else 1


def udp_socket(host: str, port: int, *, reuse: bool = True) -> socket.socket:
    """A non-blocking UDP socket bound to ``host:port`` (port 0 = ephemeral)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # limits vary
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        raise GatewayError(f"cannot bind UDP {host}:{port}: {err.strerror or err}") from None
    return sock


def join_group(sock: socket.socket, group: str, interface_addr: str | None) -> None:
    """Join ``group`` on the interface with ``interface_addr`` (None: the default one)."""
    mreq = socket.inet_aton(group) + socket.inet_aton(interface_addr or "0.0.0.0")
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except OSError as err:
        where = interface_addr or "the default interface"
        raise GatewayError(f"cannot join {group} on {where}: {err.strerror or err}") from None


def set_multicast_sender(sock: socket.socket, interface_addr: str | None, ttl: int) -> None:
    """Send multicast out of ``interface_addr`` with ``ttl``, looping back locally."""
    try:
        if interface_addr is not None:
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface_addr)
            )
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    except OSError as err:
        raise GatewayError(f"cannot send multicast via {interface_addr}: {err}") from None


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, handler: DatagramHandler) -> None:
        self._handler = handler

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._handler(data, addr)

    def error_received(self, exc: Exception) -> None:  # pragma: no cover - ICMP noise
        pass


async def open_endpoint(sock: socket.socket, handler: DatagramHandler) -> asyncio.DatagramTransport:
    """Wrap a bound socket in an asyncio transport that calls ``handler`` per datagram."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(handler), sock=sock)
    return transport
