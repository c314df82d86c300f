"""The HAP server: accepts connections within limits and routes requests.

It replaces HAP-python's server (the driver's ``http_server``). Unverified connections
(anyone on the LAN) share a capped number of slots, a few per address; the oldest gives
way to a new one. Paired controllers' verified connections are never closed to make room.
Malformed requests are counted and logged at most once a minute per address.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs

import h11

from mihomekit.logthrottle import LogThrottle

from .attempts import PairingAttempts
from .connection import JSON_TYPE, TLV_TYPE, Connection, Response
from .hap_python import HapDriver
from .limits import ServerLimits, fit_to_descriptors
from .pairing import MalformedRequest, Pairing, Reply
from .window import PairingWindow

__all__ = ["HapServer", "ServerStats"]

_LOGGER = logging.getLogger(__name__)

INSUFFICIENT_PRIVILEGES = -70401
RESOURCE_DOES_NOT_EXIST = -70409
INVALID_VALUE = -70410
_CHAR_ID = re.compile(r"^[0-9]{1,20}\.[0-9]{1,20}$")
_MALFORMED_LOG_INTERVAL = 60.0
_MAX_LOGGED_PEERS = 1024

#: path → (methods, needs a verified session)
_ROUTES: dict[str, tuple[frozenset[str], bool]] = {
    "/pair-setup": (frozenset({"POST"}), False),
    "/pair-verify": (frozenset({"POST"}), False),
    "/identify": (frozenset({"POST"}), False),
    "/pairings": (frozenset({"POST"}), True),
    "/accessories": (frozenset({"GET"}), True),
    "/characteristics": (frozenset({"GET", "PUT"}), True),
    "/prepare": (frozenset({"PUT"}), True),
    "/resource": (frozenset({"POST"}), True),
}


@dataclass
class ServerStats:
    """Counters of the server, for logs and diagnostics."""

    connections: int = 0
    evicted: int = 0
    malformed: int = 0


class ServedDriver(HapDriver, Protocol):
    """What the server needs of the bridge's driver
    (:class:`~mihomekit.homekit.driver.BridgeDriver`): HAP-python's driver, its pairing
    window and attempt limit, and a save that raises when the state cannot be written."""

    @property
    def pairing_window(self) -> PairingWindow: ...

    @property
    def pairing_attempts(self) -> PairingAttempts: ...

    async def async_save(self) -> None: ...


class HapServer:
    """Serves one bridge's HAP on its port."""

    def __init__(
        self, driver: ServedDriver, host: str | list[str] | None, port: int, limits: ServerLimits
    ) -> None:
        self._driver = driver
        self._host = host
        self._port = port
        self.limits = limits
        self.connections: dict[tuple[str, int], Connection] = {}
        self.stats = ServerStats()
        self.pairing = Pairing(driver, driver.pairing_attempts, limits, driver.async_save)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._malformed_log = LogThrottle(
            _LOGGER, interval=_MALFORMED_LOG_INTERVAL, max_keys=_MAX_LOGGED_PEERS
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def async_start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Listen (HAP-python's driver calls this from ``async_start``)."""
        self.limits = fit_to_descriptors(self.limits)
        self._server = await loop.create_server(
            lambda: Connection(self), self._host, self._port, backlog=self.limits.backlog
        )

    def async_stop(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self.connections.values()):
            conn.close()
        for task in list(self._tasks):
            task.cancel()

    # -- connections ---------------------------------------------------------------------------

    def connection_made(self, conn: Connection) -> None:
        self.stats.connections += 1
        old = self.connections.get(conn.peer)
        if old is not None:
            old.close()
        self.connections[conn.peer] = conn
        limits = self.limits
        unverified = [c for c in self.connections.values() if not c.verified]
        same_peer = [c for c in unverified if c.ip == conn.ip]
        if len(same_peer) > limits.max_unverified_per_peer:
            self._evict(same_peer, conn)
            unverified = [c for c in self.connections.values() if not c.verified]
        crowded = len(unverified) > limits.max_unverified
        full = len(self.connections) > limits.max_connections
        if (crowded or full) and not self._evict(unverified, conn):
            conn.close()

    def _evict(self, candidates: list[Connection], newcomer: Connection) -> bool:
        """Close the oldest unverified connection; one mid pair-setup or pair-verify (a
        controller proving itself) only when no other is left."""
        others = [c for c in candidates if c is not newcomer and not c.closed]
        if not others:
            return False
        idle = [c for c in others if c.pairing.setup is None and c.pairing.verify is None]
        victim = min(idle or others, key=lambda c: c.created)
        self.stats.evicted += 1
        _LOGGER.debug("closing %s to make room for %s", victim.pairing.peer, newcomer.pairing.peer)
        victim.close()
        return True

    def connection_verified(self, conn: Connection) -> None:
        _LOGGER.debug("%s verified as controller %s", conn.pairing.peer, conn.pairing.controller)

    def connection_closed(self, conn: Connection) -> None:
        if self.connections.get(conn.peer) is conn:
            del self.connections[conn.peer]
        self.pairing.connection_closed(conn.pairing)
        self._driver.connection_lost(conn.peer)

    def push_event(
        self, data: dict[str, Any], client_addr: tuple[str, int], immediate: bool = False
    ) -> bool:
        """Queue an event for a subscribed controller (called by HAP-python's driver)."""
        conn = self.connections.get(client_addr)
        if conn is None or conn.closed:
            return False
        conn.queue_event(data, immediate)
        return True

    def malformed(self, conn: Connection, reason: str) -> None:
        """Count a malformed request; log it at most once a minute per address."""
        self.stats.malformed += 1
        self._malformed_log.warning(
            f"malformed:{conn.ip}",
            "%s: malformed request (%s); %d so far, further ones from this address are "
            "not logged for a minute",
            conn.ip,
            reason[:120],
            self.stats.malformed,
        )

    # -- requests ------------------------------------------------------------------------------

    def dispatch(self, conn: Connection, request: h11.Request, body: bytes) -> None:
        method = request.method.decode("ascii", "replace")
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        route = _ROUTES.get(path)
        if route is None:
            self.malformed(conn, f"unknown path {path[:64]!r}")
            conn.respond(Response.hap_status(404, RESOURCE_DOES_NOT_EXIST))
            return
        methods, protected = route
        if method not in methods:
            self.malformed(conn, f"{method[:8]} {path}")
            conn.respond(Response(405))
            return
        if protected and not conn.verified:
            conn.respond(Response.hap_status(470, INSUFFICIENT_PRIVILEGES))
            return
        if path == "/pair-setup":
            self._run(conn, self.pairing.pair_setup(conn.pairing, body))
        elif path == "/pair-verify":
            self._run(conn, self.pairing.pair_verify(conn.pairing, body))
        elif path == "/pairings":
            self._run(conn, self.pairing.pairings(conn.pairing, body))
        elif path == "/identify":
            conn.respond(self._identify())
        elif path == "/accessories":
            conn.respond(self._json(200, self._driver.get_accessories()))
        elif path == "/characteristics" and method == "GET":
            conn.respond(self._get_characteristics(query))
        elif path == "/characteristics":
            conn.respond(self._put_characteristics(conn, body))
        elif path == "/prepare":
            conn.respond(self._prepare(conn, body))
        else:  # /resource: the bridge has no cameras
            conn.respond(Response.hap_status(404, RESOURCE_DOES_NOT_EXIST))

    def _run(self, conn: Connection, handler: Awaitable[Reply]) -> None:
        task = asyncio.get_running_loop().create_task(self._pairing_request(conn, handler))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pairing_request(self, conn: Connection, handler: Awaitable[Reply]) -> None:
        try:
            reply = await handler
        except MalformedRequest as err:
            self.malformed(conn, str(err))
            conn.respond(Response(200, err.reply, TLV_TYPE))
            return
        after: Callable[[], None] | None = None
        if reply.session_secret is not None:
            secret = reply.session_secret

            def after() -> None:
                conn.start_session(secret)

        elif reply.pairings_changed:
            after = self._pairings_changed
        conn.respond(Response(200, reply.body, TLV_TYPE), after)

    def _pairings_changed(self) -> None:
        """After the answer is sent: close removed controllers' sessions, update mDNS."""
        paired = self._driver.state.paired_clients
        for conn in list(self.connections.values()):
            controller = conn.pairing.controller
            if controller is not None and controller not in paired:
                conn.close()
        self._driver.async_update_advertisement()

    def _identify(self) -> Response:
        if self._driver.state.paired:
            return Response.hap_status(400, INSUFFICIENT_PRIVILEGES)
        _LOGGER.info("identify requested")
        return Response(204)

    @staticmethod
    def _json(status: int, data: Any) -> Response:
        return Response(status, json.dumps(data, separators=(",", ":")).encode(), JSON_TYPE)

    def _get_characteristics(self, query: str) -> Response:
        ids = parse_qs(query).get("id", [""])[0].split(",")
        if not ids or not all(_CHAR_ID.match(i) for i in ids):
            return Response.hap_status(400, INVALID_VALUE)
        result = self._driver.get_characteristics(ids)
        chars = result["characteristics"]
        if all(c.get("status", 0) == 0 for c in chars):
            for c in chars:
                c.pop("status", None)
            return self._json(200, result)
        return self._json(207, result)

    @staticmethod
    def _json_body(body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None

    def _put_characteristics(self, conn: Connection, body: bytes) -> Response:
        data = self._json_body(body)
        chars = data.get("characteristics") if isinstance(data, dict) else None
        if not isinstance(chars, list) or not all(
            isinstance(c, dict) and _is_int(c.get("aid")) and _is_int(c.get("iid")) for c in chars
        ):
            self.malformed(conn, "bad characteristics write")
            return Response.hap_status(400, INVALID_VALUE)
        result = self._driver.set_characteristics(data, conn.peer)
        if result is None:
            return Response(204)
        return self._json(207, result)

    def _prepare(self, conn: Connection, body: bytes) -> Response:
        data = self._json_body(body)
        if not (isinstance(data, dict) and _is_int(data.get("ttl")) and _is_int(data.get("pid"))):
            self.malformed(conn, "bad prepare")
            return Response.hap_status(400, INVALID_VALUE)
        return self._json(200, self._driver.prepare(data, conn.peer))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
