"""Pair-setup SRP with fixed-length encodings, so pairing works the first time.

HAP pair-setup is SRP-6a over the 3072-bit group with SHA-512. Controllers (Apple's, and
aiohomekit) use fixed-length values: A, B and the premaster secret S as 384 bytes, the
session key K as the 64-byte digest. HAP-python's server turns B, S and K into bytes with
leading zero bytes stripped, so whenever one of them starts with a zero byte (about 3 in
256 pair-setups) its proof differs from the controller's and pairing fails as if the
setup code were wrong.

:class:`PaddedSrpServer` keeps every value at full length:

* b is drawn again until B has no leading zero byte, so the B that HAP-python sends (it
  strips zeros on the wire) is the full-length B every controller hashes;
* S is padded to 384 bytes before hashing, and K is the 64-byte digest;
* K is returned as :class:`SessionKey`, which the key conversion of HAP-python's
  pair-setup handler (:func:`install`) turns into all 64 bytes for the M5/M6 keys.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from pyhap import hap_handler
from pyhap.hsrp import Server, bytes_to_long
from pyhap.params import get_srp_context
from pyhap.util import long_to_bytes

SESSION_KEY_BYTES = 64  # SHA-512


class SessionKey(int):
    """The SRP session key K; converted to bytes it keeps all 64 bytes."""


def _key_to_bytes(n: int) -> bytes:
    if isinstance(n, SessionKey):
        return n.to_bytes(SESSION_KEY_BYTES, "big")
    return bytes(long_to_bytes(n))


def install() -> None:
    """Make HAP-python's pair-setup handler keep session keys at full length.

    Only :class:`SessionKey` values are converted differently; everything else goes
    through HAP-python's own conversion unchanged. Safe to call more than once.
    """
    hap_handler.long_to_bytes = _key_to_bytes


class PaddedSrpServer(Server):  # type: ignore[misc]
    """HAP-python's SRP server with fixed-length B, S and K (see the module docstring)."""

    Bb: bytes

    def __init__(
        self,
        ctx: dict[str, Any],
        username: bytes,
        password: bytes,
        *,
        salt: bytes | None = None,
        secret: int | None = None,
    ) -> None:
        super().__init__(ctx, username, password, s=salt, b=secret)
        size = self.N_len // 8
        while len(self.Bb) < size:
            self.b = bytes_to_long(os.urandom(ctx["secret_len"]))
            self.B = self._derive_B()
            self.Bb = long_to_bytes(self.B)

    def set_A(self, bytes_A: bytes) -> None:
        self.A = bytes_to_long(bytes_A)
        self.Ab = self._padN(bytes_A)
        self.S = self._derive_premaster_secret()
        self.Sb = self._padN(long_to_bytes(self.S))
        self.Kb = self._digest(self.Sb)
        self.K = SessionKey(int.from_bytes(self.Kb, "big"))
        self.M = self._get_M()
        self.HAMK = self._get_HAMK()


def pair_setup_server(pincode: bytes) -> PaddedSrpServer:
    """The SRP server for one pair-setup, as HAP prescribes it (3072-bit group, SHA-512)."""
    return PaddedSrpServer(get_srp_context(3072, hashlib.sha512, 16), b"Pair-Setup", pincode)
