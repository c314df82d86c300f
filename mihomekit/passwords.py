"""The dashboard's password as stored in ``[web] password_hash``: scrypt, checked and made.

The form is ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`` (salt and hash in base64). The
settings check a stored hash with :func:`password_hash_problem`; ``mihomekit web-password``
makes one with :func:`hash_password`; the dashboard checks a login with
:func:`verify_password` (constant time).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "hash_password",
    "password_hash_problem",
    "verify_password",
]

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
