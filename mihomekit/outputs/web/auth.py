"""Who may change things on the dashboard: password, sessions, CSRF tokens, login limits.

Reading the dashboard is open; every change needs a session from a login with the
password. Without a password (none set in ``[web] password_hash``) changes are accepted
from this host only (loopback addresses).

* The password is stored as ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`` (salt and hash in
  base64): :func:`hash_password`, :func:`verify_password`.
* A login gives a random session token (cookie ``mihomekit_session``, HttpOnly,
  SameSite=Strict), valid for :data:`SESSION_SECONDS`; at most :data:`MAX_SESSIONS` at once.
* CSRF: every page sets a random token cookie (``mihomekit_csrf``); a change must send the
  same token in a form field or the ``X-CSRF-Token`` header, and a request whose
  ``Origin`` names another host is refused.
* Failed logins are limited per client address and overall (:class:`LoginLimiter`).

Nothing here imports the web server: the settings read :func:`password_hash_problem`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "ChangeGuard",
    "LoginLimiter",
    "Sessions",
    "hash_password",
    "is_loopback",
    "password_hash_problem",
    "verify_password",
]

SESSION_COOKIE = "mihomekit_session"
CSRF_COOKIE = "mihomekit_csrf"
#: A login lasts this long (seconds).
SESSION_SECONDS = 12 * 3600.0
#: At most this many sessions at once; the oldest goes first.
MAX_SESSIONS = 32
#: scrypt cost: N = 2**15, r = 8, p = 1 (32 MiB, about 0.1 s on a Raspberry Pi 4).
SCRYPT_LOG2_N = 15
SCRYPT_R = 8
SCRYPT_P = 1
#: Passwords shorter than this are refused by ``mihomekit web-password``.
MIN_PASSWORD_LENGTH = 8
#: Longer passwords are refused before hashing (a hashing cost bound for hostile input).
MAX_PASSWORD_LENGTH = 1024

_HASH = re.compile(
    r"scrypt\$(?P<n>[0-9]{1,2})\$(?P<r>[0-9]{1,2})\$(?P<p>[0-9]{1,2})\$"
    r"(?P<salt>[A-Za-z0-9+/=]{16,88})\$(?P<hash>[A-Za-z0-9+/=]{43,88})"
)


@dataclass(frozen=True, slots=True)
class _Params:
    log2_n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _scrypt(password: str, params: _Params) -> bytes:
    n = 1 << params.log2_n
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=params.salt,
        n=n,
        r=params.r,
        p=params.p,
        maxmem=2 * 128 * params.r * n * params.p + (1 << 20),
        dklen=len(params.digest),
    )


def _parse(text: str) -> _Params | str:
    match = _HASH.fullmatch(text.strip())
    if match is None:
        return "not a password hash of the form scrypt$15$8$1$<salt>$<hash>"
    log2_n, r, p = int(match["n"]), int(match["r"]), int(match["p"])
    if not (10 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4):
        return "scrypt parameters out of range (log2 N 10-20, r 1-16, p 1-4)"
    try:
        salt = base64.b64decode(match["salt"], validate=True)
        digest = base64.b64decode(match["hash"], validate=True)
    except (binascii.Error, ValueError):
        return "the salt or hash is not valid base64"
    if len(salt) < 12 or len(digest) < 32:
        return "the salt or hash is too short"
    return _Params(log2_n, r, p, salt, digest)


def password_hash_problem(text: str) -> str | None:
    """Why ``text`` is not a usable password hash, or None if it is."""
    parsed = _parse(text)
    return parsed if isinstance(parsed, str) else None


def hash_password(password: str) -> str:
    """The stored form of ``password`` (scrypt with a random salt)."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    params = _Params(SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, secrets.token_bytes(16), bytes(32))
    digest = _scrypt(password, params)
    salt = base64.b64encode(params.salt).decode()
    hashed = base64.b64encode(digest).decode()
    return f"scrypt${params.log2_n}${params.r}${params.p}${salt}${hashed}"


def verify_password(stored: str, password: str) -> bool:
    """True if ``password`` matches ``stored`` (constant-time comparison)."""
    params = _parse(stored)
    if isinstance(params, str) or not 0 < len(password) <= MAX_PASSWORD_LENGTH:
        return False
    return hmac.compare_digest(_scrypt(password, params), params.digest)


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


class LoginLimiter:
    """Failed logins: ``per_client`` per ``window`` seconds from one address, ``overall`` in all.

    A client over its limit (or everyone, over the overall limit) waits until its oldest
    counted failure leaves the window. The table of clients is bounded.
    """

    def __init__(
        self,
        *,
        per_client: int = 5,
        overall: int = 30,
        window: float = 300.0,
        max_clients: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = per_client
        self.overall = overall
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()

    def _trim(self, times: deque[float], now: float) -> None:
        while times and now - times[0] >= self.window:
            times.popleft()

    def wait(self, client: str) -> float:
        """Seconds ``client`` must wait before its next try (0: it may try now)."""
        now = self._clock()
        self._trim(self._all, now)
        waits = [0.0]
        if len(self._all) >= self.overall:
            waits.append(self.window - (now - self._all[0]))
        times = self._clients.get(client)
        if times is not None:
            self._trim(times, now)
            if len(times) >= self.per_client:
                waits.append(self.window - (now - times[0]))
        return max(waits)

    def failed(self, client: str) -> None:
        now = self._clock()
        times = self._clients.pop(client, None) or deque()
        times.append(now)
        self._clients[client] = times
        self._all.append(now)
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)


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

    def may_change(self, remote: str | None, cookies: Mapping[str, str]) -> bool:
        """Logged in, or (without a password) a request from this host."""
        if self.password_hash is None:
            return is_loopback(remote)
        return self.logged_in(cookies)

    def refusal(
        self,
        *,
        remote: str | None,
        cookies: Mapping[str, str],
        token: str | None,
        origin: str | None,
        host: str | None,
    ) -> str | None:
        """Why a change request must be refused (None: it may go ahead)."""
        reason = csrf_problem(cookies, token, origin, host)
        if reason is not None:
            return reason
        if self.may_change(remote, cookies):
            return None
        if self.password_hash is None:
            return (
                "changes are accepted from this host only until a password is set "
                "(mihomekit web-password)"
            )
        return "log in with the dashboard password first"

    def login(self, client: str, password: str) -> tuple[str | None, str | None]:
        """``(session token, None)`` on success, else ``(None, reason)``."""
        wait = self.limiter.wait(client)
        if wait > 0:
            return None, f"too many failed logins; try again in {int(wait) + 1} s"
        if self.password_hash is None:
            return None, "no password is set (mihomekit web-password sets one)"
        if not verify_password(self.password_hash, password):
            self.limiter.failed(client)
            return None, "wrong password"
        self.limiter.succeeded(client)
        return self.sessions.create(), None


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
