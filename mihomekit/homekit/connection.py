"""One HAP connection: HTTP/1.1 requests (h11), the encrypted session, events, time limits."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import h11
from cryptography.exceptions import InvalidTag

from .limits import ServerLimits
from .pairing import ConnectionPairing
from .session import SecureSession

__all__ = ["Connection", "Response"]

_LOGGER = logging.getLogger(__name__)

#: HAP-python coalesces ordinary events for this long; alerts skip the wait.
EVENT_COALESCE_SECONDS = 0.5
_REASONS = {
    200: b"OK",
    204: b"No Content",
    207: b"Multi-Status",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Payload Too Large",
    422: b"Unprocessable Entity",
    431: b"Request Header Fields Too Large",
    470: b"Connection Authorization Required",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}
TLV_TYPE = "application/pairing+tlv8"
JSON_TYPE = "application/hap+json"


class Response:
    """An HTTP response: status, content type and body."""

    __slots__ = ("body", "content_type", "status")

    def __init__(self, status: int, body: bytes = b"", content_type: str = JSON_TYPE) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type

    @classmethod
    def hap_status(cls, status: int, hap_status: int) -> Response:
        return cls(status, json.dumps({"status": hap_status}).encode())


class ConnectionServer(Protocol):
    """What a connection needs of the server that accepted it
    (:class:`~mihomekit.homekit.server.HapServer`)."""

    @property
    def limits(self) -> ServerLimits: ...

    def connection_made(self, conn: Connection) -> None: ...

    def connection_verified(self, conn: Connection) -> None: ...

    def connection_closed(self, conn: Connection) -> None: ...

    def malformed(self, conn: Connection, reason: str) -> None: ...

    def dispatch(self, conn: Connection, request: h11.Request, body: bytes) -> None: ...


class Connection(asyncio.Protocol):
    """A controller's (or anybody's) TCP connection to the bridge."""

    def __init__(self, server: ConnectionServer) -> None:
        self._server = server
        self._limits = server.limits
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("?", 0)
        self.created = time.monotonic()
        self.pairing = ConnectionPairing(peer="?")
        self.session: SecureSession | None = None
        self.closed = False
        self._http = h11.Connection(h11.SERVER, max_incomplete_event_size=self._limits.max_header)
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._busy = False
        self._request_timer: asyncio.TimerHandle | None = None
        self._unverified_timer: asyncio.TimerHandle | None = None
        self._events: dict[tuple[int, int], dict[str, Any]] = {}
        self._event_timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    @property
    def verified(self) -> bool:
        return self.session is not None

    @property
    def ip(self) -> str:
        return self.peer[0]

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1])) if peer else ("?", 0)
        self.pairing.peer = f"{self.peer[0]}:{self.peer[1]}"
        self.pairing.ip = self.peer[0]
        self._unverified_timer = self._loop.call_later(
            self._limits.unverified_timeout, self._unverified_expired
        )
        self._server.connection_made(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._teardown()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.session is not None:
            try:
                data = self.session.decrypt(data)
            except (InvalidTag, ValueError):
                self._server.malformed(self, "undecryptable frame")
                self.close()
                return
            if not data:
                return
        if self._request_timer is None and not self._busy:
            self._request_timer = self._loop.call_later(
                self._limits.request_timeout, self._request_expired
            )
        try:
            self._http.receive_data(data)
        except h11.RemoteProtocolError:
            self.close()
            return
        if not self._busy:
            self._next_requests()

    def eof_received(self) -> bool | None:
        self.close()
        return None

    # -- requests ----------------------------------------------------------------------------

    def _next_requests(self) -> None:
        """Parse what has arrived; hand a complete request to the server."""
        try:
            while not self._busy and not self.closed:
                event = self._http.next_event()
                if event is h11.NEED_DATA:
                    return
                if event is h11.PAUSED:
                    return
                if isinstance(event, h11.Request):
                    self._request, self._body, self._body_size = event, [], 0
                    head = len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
                    if head > self._limits.max_header:
                        self._fatal(431, f"request head of {head} bytes")
                        return
                    length = _content_length(event)
                    if length is not None and length > self._limits.max_body:
                        self._fatal(413, f"body of {length} bytes declared")
                        return
                elif isinstance(event, h11.Data):
                    self._body_size += len(event.data)
                    if self._body_size > self._limits.max_body:
                        self._fatal(413, "body too large")
                        return
                    self._body.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    self._cancel_request_timer()
                    request, self._request = self._request, None
                    assert request is not None
                    body = b"".join(self._body)
                    self._body = []
                    self._busy = True
                    if self.transport is not None:
                        self.transport.pause_reading()
                    self._server.dispatch(self, request, body)
                elif isinstance(event, h11.ConnectionClosed):
                    self.close()
                    return
        except h11.RemoteProtocolError as err:
            status = err.error_status_hint if err.error_status_hint in (400, 431) else 400
            self._fatal(status, f"bad HTTP: {err}")

    def respond(self, response: Response, after: Callable[[], None] | None = None) -> None:
        """Send the response to the request being handled, then take the next one."""
        if self.closed:
            return
        headers = [("Content-Length", str(len(response.body)))]
        if response.body:
            headers.append(("Content-Type", response.content_type))
        reason = _REASONS.get(response.status, b"")
        try:
            out = self._http.send(
                h11.Response(status_code=response.status, headers=headers, reason=reason)
            )
            out = (out or b"") + (self._http.send(h11.Data(data=response.body)) or b"")
            out += self._http.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            self.close()
            return
        self._write(out)
        if after is not None:
            after()
        self._busy = False
        if self._http.our_state is h11.MUST_CLOSE or self.closed:
            self.close()
            return
        if self.transport is not None:
            self.transport.resume_reading()
        if self._http.our_state is h11.DONE and self._http.their_state is h11.DONE:
            self._http.start_next_cycle()
        if self._events and self._event_timer is None:
            self._send_events()
        if self._http.trailing_data[0]:
            self._request_timer = self._request_timer or self._loop.call_later(
                self._limits.request_timeout, self._request_expired
            )
            self._next_requests()

    def _fatal(self, status: int, reason: str) -> None:
        """Answer ``status`` without reading further, count it, and close."""
        self._server.malformed(self, reason)
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, b'').decode()}\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        self._write(head.encode())
        self.close()

    def start_session(self, secret: bytes) -> None:
        """Pair-verify succeeded: from now on every byte is encrypted."""
        self.session = SecureSession(secret)
        if self._unverified_timer is not None:
            self._unverified_timer.cancel()
            self._unverified_timer = None
        self._server.connection_verified(self)

    # -- events ------------------------------------------------------------------------------

    def queue_event(self, data: dict[str, Any], immediate: bool) -> None:
        self._events[(data["aid"], data["iid"])] = data
        if immediate:
            self._loop.call_soon(self._send_events)
        elif self._event_timer is None:
            self._event_timer = self._loop.call_later(EVENT_COALESCE_SECONDS, self._send_events)

    def _send_events(self) -> None:
        if self._event_timer is not None:
            self._event_timer.cancel()
            self._event_timer = None
        if not self._events or self._busy or self.closed or self.session is None:
            return
        body = json.dumps(
            {"characteristics": list(self._events.values())}, separators=(",", ":")
        ).encode()
        self._events.clear()
        head = (
            f"EVENT/1.0 200 OK\r\nContent-Type: {JSON_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._write(head + body)

    # -- plumbing ----------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.session is not None:
            data = self.session.encrypt(data)
        self.transport.write(data)

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_expired(self) -> None:
        self._request_timer = None
        if not self._busy:
            self._server.malformed(self, "request not complete in time")
            self.close()

    def _unverified_expired(self) -> None:
        self._unverified_timer = None
        if self.session is None:
            _LOGGER.debug("%s: closed, not verified in time", self.pairing.peer)
            self.close()

    def close(self) -> None:
        """Close the connection (safe to call more than once)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self._teardown()

    def _teardown(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._cancel_request_timer()
        for timer in (self._unverified_timer, self._event_timer):
            if timer is not None:
                timer.cancel()
        self._unverified_timer = self._event_timer = None
        self._events.clear()
        self._server.connection_closed(self)


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
