"""The accessory side of HAP's SRP-6a (pair-setup), with fixed-length values and every check.

HAP pair-setup is SRP-6a over RFC 5054's 3072-bit group (g = 5) with SHA-512, user name
``Pair-Setup`` and the setup code ``XXX-XX-XXX`` as the password. Controllers (Apple's and
aiohomekit) encode A, B and the premaster secret S as 384 bytes and the session key K as
the 64-byte digest; so does this server, for every value. (HAP-python's server strips
leading zero bytes, which makes about 1 pair-setup in 100 fail with a correct code.)

The server refuses what RFC 5054 and HAP require it to refuse: a client key A longer than
the group, and A ≡ 0 (mod N), which would make S = 0 and the session key public.
Proofs are compared in constant time.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

__all__ = ["GROUP_BYTES", "SESSION_KEY_BYTES", "SrpError", "SrpServer"]

#: RFC 5054, appendix A: the 3072-bit group.
N = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64"
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226"
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)
G = 5
GROUP_BYTES = 384
SESSION_KEY_BYTES = 64
SALT_BYTES = 16
SECRET_BYTES = 32
USERNAME = b"Pair-Setup"


def _h(*parts: bytes) -> bytes:
    return hashlib.sha512(b"".join(parts)).digest()


def _pad(value: int) -> bytes:
    return value.to_bytes(GROUP_BYTES, "big")


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


_K = _int(_h(_pad(N), _pad(G)))
_H_GROUP = bytes(
    a ^ b for a, b in zip(_h(N.to_bytes(GROUP_BYTES, "big")), _h(bytes([G])), strict=True)
)
_H_USER = _h(USERNAME)


@functools.lru_cache(maxsize=4)
def _verifier(salt: bytes, setup_code: bytes) -> int:
    """v = g^x for the salt and code (cached: a controller may retry with the same salt)."""
    x = _int(_h(salt, _h(USERNAME + b":" + setup_code)))
    return pow(G, x, N)


class SrpError(ValueError):
    """The client's public key is not acceptable (too long, or ≡ 0 mod N)."""


class SrpServer:
    """One pair-setup's SRP state: challenge (M2), proof check (M4), session key (M5/M6)."""

    def __init__(
        self, setup_code: bytes, *, salt: bytes | None = None, secret: int | None = None
    ) -> None:
        self.salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
        self._v = _verifier(self.salt, setup_code)
        self._b = secret if secret is not None else _int(secrets.token_bytes(SECRET_BYTES))
        self._B = (_K * self._v + pow(G, self._b, N)) % N
        self.public_key = _pad(self._B)
        self.session_key: bytes | None = None
        self._expected_proof: bytes | None = None
        self._server_proof: bytes | None = None

    def set_client_public_key(self, data: bytes) -> None:
        """Take A from M3 and derive S, K and the proofs; refuses unsafe values."""
        if len(data) > GROUP_BYTES:
            raise SrpError(f"client public key is {len(data)} bytes, longer than the group")
        a_value = _int(data)
        if a_value % N == 0:
            raise SrpError("client public key is 0 mod N")
        padded_a = _pad(a_value)
        u = _int(_h(padded_a, self.public_key))
        if u == 0:
            raise SrpError("scrambling parameter is 0")
        premaster = pow(a_value * pow(self._v, u, N), self._b, N)
        key = _h(_pad(premaster))
        proof = _h(_H_GROUP, _H_USER, self.salt, padded_a, self.public_key, key)
        self.session_key = key
        self._expected_proof = proof
        self._server_proof = _h(padded_a, proof, key)

    def verify(self, client_proof: bytes) -> bytes | None:
        """The server's proof (for M4) if the client's proof is right, else None."""
        if self._expected_proof is None or self._server_proof is None:
            return None
        if not hmac.compare_digest(self._expected_proof, client_proof):
            return None
        return self._server_proof
