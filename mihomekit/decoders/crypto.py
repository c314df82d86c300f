"""AES-CCM for MiBeacon v4/v5, the legacy v2/v3 scheme, pvvx/ATC and BTHome.

Everything goes through ``cryptography``'s :class:`AESCCM`. Building an ``AESCCM`` object
costs about 0.3 µs, a quarter of a 4-byte-tag decryption (about 1 µs), so the objects used
on every encrypted advertisement are kept in small per-key caches (:func:`ccm4` and
:func:`legacy_cipher`, at most :data:`CACHE_SIZE` keys each, emptied when full). The caches
hold nothing but key schedules: results never depend on them.

Legacy MiBeacon (v2/v3) is CCM with a 13-byte nonce whose 16-byte tag is cut to its first
byte. CCM encrypts in counter mode, independently of the tag length and the associated
data, so the plaintext is the CCM *encryption* of the ciphertext under the same nonce; the
tag byte is then checked by encrypting that plaintext once more (mibeacon.md §3.2).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

#: Associated data of MiBeacon and pvvx frames.
AAD_11 = b"\x11"

#: Inserted after the 6th byte of a 12-byte legacy bind key to make the AES key.
_LEGACY_KEY_FILL = bytes.fromhex("8d3d3c97")


#: Most keys :func:`ccm4` keeps.
CACHE_SIZE = 64

#: The cache behind :func:`ccm4` (key → cipher); read it only through ``.get``.
ccm4_cache: dict[bytes, AESCCM] = {}


def ccm4(key: bytes) -> AESCCM:
    """The AES-CCM (4-byte tag) cipher for a 16-byte ``key``, from a small cache."""
    ccm = ccm4_cache.get(key)
    if ccm is None:
        ccm = AESCCM(key, tag_length=4)
        if len(ccm4_cache) >= CACHE_SIZE:
            ccm4_cache.clear()
        ccm4_cache[key] = ccm
    return ccm


def ccm_decrypt(
    key: bytes, nonce: bytes, ciphertext_and_tag: bytes, aad: bytes | None
) -> bytes | None:
    """Decrypt AES-CCM with a 4-byte tag; ``None`` when the tag does not match."""
    try:
        return ccm4(key).decrypt(nonce, ciphertext_and_tag, aad)
    except InvalidTag:
        return None


def ccm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes | None) -> bytes:
    """Encrypt AES-CCM with a 4-byte tag: ciphertext followed by the tag."""
    return ccm4(key).encrypt(nonce, plaintext, aad)


def legacy_key(key: bytes) -> bytes | None:
    """The AES key for a legacy bind key: 12 bytes are expanded, 16 are used as they are."""
    n = len(key)
    if n == 12:
        return key[:6] + _LEGACY_KEY_FILL + key[6:]
    if n == 16:
        return key
    return None


#: The cache behind :func:`legacy_cipher` (bind key → cipher); read it only through ``.get``.
legacy_cache: dict[bytes, AESCCM] = {}


def legacy_cipher(key: bytes) -> AESCCM | None:
    """The 16-byte-tag cipher of a legacy bind key (see :func:`legacy_key`), from a small
    cache; ``None`` for a key of another length."""
    ccm = legacy_cache.get(key)
    if ccm is None:
        key16 = legacy_key(key)
        if key16 is None:
            return None
        ccm = AESCCM(key16, tag_length=16)
        if len(legacy_cache) >= CACHE_SIZE:
            legacy_cache.clear()
        legacy_cache[key] = ccm
    return ccm


def legacy_decrypt(ccm: AESCCM, nonce: bytes, ciphertext: bytes, tag: int) -> bytes | None:
    """Decrypt a legacy frame's objects with the cipher of :func:`legacy_cipher`; ``None``
    when the 1-byte tag does not match."""
    n = len(ciphertext)
    plaintext = ccm.encrypt(nonce, ciphertext, AAD_11)[:n]
    if ccm.encrypt(nonce, plaintext, AAD_11)[n] != tag:
        return None
    return plaintext


def legacy_encrypt(key16: bytes, nonce: bytes, plaintext: bytes) -> tuple[bytes, int]:
    """Encrypt for a legacy frame: the ciphertext and the 1-byte tag."""
    out = AESCCM(key16, tag_length=16).encrypt(nonce, plaintext, AAD_11)
    n = len(plaintext)
    return out[:n], out[n]
