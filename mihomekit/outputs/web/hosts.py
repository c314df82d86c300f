"""The dashboard answers only requests that name it: a guard against DNS rebinding.

A web page on any site can make a browser on the LAN send requests to the bridge under a
name of the attacker's (``evil.example`` resolving to the bridge's address), and read the
answers as if they were its own. Such a request carries the attacker's name in its
``Host`` header, so a request is answered only if its ``Host`` names the bridge: the
address the client connected to, the configured address, the host name (as it is, its
first label and ``<first label>.local``), ``localhost`` and loopback addresses, and the
names given in ``[web] host_names`` (a name a router's DNS gives the host: no name is
looked up, so a start without a network is not delayed). Anything else gets 421
(Misdirected Request). A request without a ``Host`` header (no browser sends one) is
answered.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

__all__ = ["HostCheck", "host_name", "local_address"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_LOCAL = ("localhost", "localhost.localdomain", "127.0.0.1", "::1")


def host_name(header: str) -> str:
    """The name in a ``Host`` header: without the port and brackets, lower case, no
    trailing dot (``"[::1]:8089"`` → ``"::1"``)."""
    text = header.strip().lower()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".")


def local_address(request: web.Request) -> str | None:
    """The address a request came in on (the dashboard's side of the connection)."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    return str(sockname[0]) if sockname else None


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name.split("%", 1)[0]))
    except ValueError:
        return name


def _own_names() -> set[str]:
    names = set()
    host = socket.gethostname().lower().rstrip(".")
    if host:
        short = host.split(".", 1)[0]
        names |= {host, short, f"{short}.local"}
    return names


class HostCheck:
    """aiohttp middleware refusing requests whose ``Host`` does not name the dashboard."""

    def __init__(self, addresses: Iterable[str | None], names: Iterable[str] = ()) -> None:
        self.allowed = {_canonical(a.lower()) for a in addresses if a}
        self.allowed |= set(_LOCAL) | _own_names() | {n.lower().rstrip(".") for n in names}
        self.refused = 0

    def allows(self, header: str | None, local_address: str | None) -> bool:
        """True if the ``Host`` header names this dashboard (or there is none)."""
        if header is None:
            return True
        name = _canonical(host_name(header))
        if name in self.allowed:
            return True
        if local_address is not None and name == _canonical(local_address.lower()):
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.allows(request.headers.get("Host"), local_address(request)):
            return await handler(request)
        self.refused += 1
        return web.Response(
            status=421,
            text=(
                "421 Misdirected Request: this dashboard answers only to its own addresses "
                "and names. Use its address, or add the name you use to [web] host_names.\n"
            ),
            headers={"Cache-Control": "no-store"},
        )
