"""Who may change things on the dashboard: password, sessions, CSRF tokens, login limits.

Reading the dashboard is open, but for the setup code and the whole bind keys; those, and
every change, need the owner: a session from a login with the password, or, without a
password (none set in ``[web] password_hash``), a request from this host (a loopback
address, or the address the request came in on).

* The password is stored as ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`` (salt and hash in
  base64): :func:`hash_password`, :func:`verify_password`.
* A login gives a random session token (cookie ``mihomekit_session``, HttpOnly,
  SameSite=Strict), valid for :data:`SESSION_SECONDS`; at most :data:`MAX_SESSIONS` at once.
* CSRF: every page sets a random token cookie (``mihomekit_csrf``); a change must send the
  same token in a form field or the ``X-CSRF-Token`` header, and a request whose
  ``Origin`` names another host is refused.
* Login tries are limited per client address (:class:`LoginLimiter`), counted before the
  password is checked.

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
    "client_key",
    "from_this_host",
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
