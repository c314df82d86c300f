"""Who may change things on the dashboard: password, sessions, CSRF tokens, login limits.

Reading the dashboard is open, but for the setup code and the whole bind keys; those, and
every change, need the owner: a session from a login with the password, or, without a
password (none set in ``[web] password_hash``), a request from this host (a loopback
address, or the address the request came in on).

* The password is stored as a scrypt hash (:mod:`mihomekit.passwords`).
* A login gives a random session token (cookie ``mihomekit_session``, HttpOnly,
  SameSite=Strict), valid for :data:`SESSION_SECONDS`; at most :data:`MAX_SESSIONS` at once.
* CSRF: every page sets a random token cookie (``mihomekit_csrf``); a change must send the
  same token in a form field or the ``X-CSRF-Token`` header, and a request whose
  ``Origin`` names another host is refused.
* Login tries are limited per client address (:class:`LoginLimiter`), counted before the
  password is checked.

"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping

from mihomekit.passwords import verify_password

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "ChangeGuard",
    "LoginLimiter",
    "Sessions",
    "client_key",
    "from_this_host",
    "is_loopback",
]

SESSION_COOKIE = "mihomekit_session"
CSRF_COOKIE = "mihomekit_csrf"
#: A login lasts this long (seconds).
SESSION_SECONDS = 12 * 3600.0
#: At most this many sessions at once; the oldest goes first.
MAX_SESSIONS = 32


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1 (also IPv4-mapped)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def from_this_host(remote: str | None, local: str | None = None) -> bool:
    """True for a client on the bridge's own host: a loopback address, or the very address
    it connected to (a browser on the host opening the dashboard by its LAN address)."""
    if is_loopback(remote):
        return True
    if not remote or not local:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]) == ipaddress.ip_address(
            local.split("%", 1)[0]
        )
    except ValueError:
        return False


class Sessions:
    """Logged-in browsers: random tokens with an expiry, bounded in number."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: OrderedDict[str, float] = OrderedDict()

    def create(self) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self._clock() + SESSION_SECONDS
        while len(self._tokens) > MAX_SESSIONS:
            self._tokens.popitem(last=False)
        return token

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        expiry = self._tokens.get(token)
        if expiry is None:
            return False
        if expiry < self._clock():
            del self._tokens[token]
            return False
        return True

    def end(self, token: str | None) -> None:
        if token:
            self._tokens.pop(token, None)


def client_key(address: str | None) -> str:
    """Whom a login limit counts: an IPv4 address, or an IPv6 /64 (one host may use many
    addresses of its /64)."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginLimiter:
    """Login tries per client (:func:`client_key`): ``per_client`` per ``window`` seconds.

    Failures of one client never lock out another, so the owner's right password works
    from any address that has not failed itself. A try is counted before the password is
    checked (:meth:`begin`), so parallel tries get no more checks than the limit; a
    success forgets the client's failures. The table of clients is bounded.
    """

    def __init__(
        self,
        *,
        per_client: int = 5,
        window: float = 300.0,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = per_client
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, client: str) -> float:
        """Seconds ``client`` must wait before its next try (0: it may try now)."""
        times = self._clients.get(client_key(client))
        if times is None:
            return 0.0
        now = self._clock()
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) < self.per_client:
            return 0.0
        return self.window - (now - times[0])

    def begin(self, client: str) -> float:
        """Count one try of ``client`` now; 0 if it may check its password, else the
        seconds to wait (and nothing is counted)."""
        wait = self.wait(client)
        if wait > 0:
            return wait
        key = client_key(client)
        times = self._clients.pop(key, None) or deque()
        times.append(self._clock())
        self._clients[key] = times
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        return 0.0

    def succeeded(self, client: str) -> None:
        self._clients.pop(client_key(client), None)


class ChangeGuard:
    """Decides whether one request may change something, and why not."""

    def __init__(self, password_hash: str | None) -> None:
        self.password_hash = password_hash
        self.sessions = Sessions()
        self.limiter = LoginLimiter()

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    def logged_in(self, cookies: Mapping[str, str]) -> bool:
        return self.sessions.valid(cookies.get(SESSION_COOKIE))

    def may_change(
        self, remote: str | None, cookies: Mapping[str, str], local: str | None = None
    ) -> bool:
        """The owner: logged in, or (without a password) a request from this host
        (``local``: the address the request came in on)."""
        if self.password_hash is None:
            return from_this_host(remote, local)
        return self.logged_in(cookies)

    def refusal(
        self,
        *,
        remote: str | None,
        cookies: Mapping[str, str],
        token: str | None,
        origin: str | None,
        host: str | None,
        local: str | None = None,
    ) -> str | None:
        """Why a change request must be refused (None: it may go ahead)."""
        reason = csrf_problem(cookies, token, origin, host)
        if reason is not None:
            return reason
        if self.may_change(remote, cookies, local):
            return None
        if self.password_hash is None:
            return (
                "changes are accepted from this host only until a password is set "
                "(mihomekit web-password)"
            )
        return "log in with the dashboard password first"

    def begin_login(self, client: str) -> str | None:
        """Count a login try of ``client``; why it is refused (None: check the password)."""
        if self.password_hash is None:
            return "no password is set (mihomekit web-password sets one)"
        wait = self.limiter.begin(client)
        if wait > 0:
            return f"too many failed logins; try again in {int(wait) + 1} s"
        return None

    def check_password(self, password: str) -> bool:
        """True if ``password`` is right (scrypt: slow, run it in a worker thread)."""
        return self.password_hash is not None and verify_password(self.password_hash, password)

    def end_login(self, client: str, right: bool) -> str | None:
        """A new session token if the password was right (the client's failures are
        forgotten), else None (the try stays counted)."""
        if not right:
            return None
        self.limiter.succeeded(client)
        return self.sessions.create()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_problem(
    cookies: Mapping[str, str], token: str | None, origin: str | None, host: str | None
) -> str | None:
    """Why a change request fails the CSRF checks (None: it passes)."""
    if origin and origin != "null" and host:
        origin_host = origin.split("://", 1)[-1].rstrip("/")
        if origin_host.lower() != host.lower():
            return f"cross-site request refused (Origin {origin[:80]!r} is not this dashboard)"
    expected = cookies.get(CSRF_COOKIE)
    if not expected or not token:
        return "missing CSRF token: reload the page and try again"
    if not hmac.compare_digest(expected.encode(), token.encode()):
        return "wrong CSRF token: reload the page and try again"
    return None
