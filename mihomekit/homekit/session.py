"""HAP's encrypted control channel, used after pair-verify (ChaCha20-Poly1305 frames)."""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["MAX_FRAME", "SecureSession", "hkdf_sha512", "nonce"]

#: Largest plaintext of one frame.
MAX_FRAME = 1024
_TAG = 16
_LENGTH = struct.Struct("<H")


def hkdf_sha512(key: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA512 to 32 bytes, as every HAP key derivation uses it."""
    return HKDF(algorithm=hashes.SHA512(), length=32, salt=salt, info=info).derive(key)


def nonce(label: bytes | int) -> bytes:
    """A 12-byte ChaCha20 nonce: a pairing message label or a frame counter."""
    if isinstance(label, int):
        return b"\x00\x00\x00\x00" + label.to_bytes(8, "little")
    return label.rjust(12, b"\x00")


class SecureSession:
    """Frames of one verified connection: decrypts what arrives, encrypts what is sent.

    A frame is a 2-byte little-endian length (also the AAD), the ciphertext and a 16-byte
    tag; each direction has its own key and counter. A frame that fails authentication
    raises :class:`cryptography.exceptions.InvalidTag`; the connection must then close.
    """

    def __init__(self, shared_secret: bytes) -> None:
        self._decryptor = ChaCha20Poly1305(
            hkdf_sha512(shared_secret, b"Control-Salt", b"Control-Write-Encryption-Key")
        )
        self._encryptor = ChaCha20Poly1305(
            hkdf_sha512(shared_secret, b"Control-Salt", b"Control-Read-Encryption-Key")
        )
        self._in_count = 0
        self._out_count = 0
        self._buffer = bytearray()

    def decrypt(self, data: bytes) -> bytes:
        """Plaintext of every whole frame received so far; a partial frame waits."""
        self._buffer += data
        out = bytearray()
        while len(self._buffer) >= 2:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME}")
            end = 2 + length + _TAG
            if len(self._buffer) < end:
                break
            aad = bytes(self._buffer[:2])
            sealed = bytes(self._buffer[2:end])
            out += self._decryptor.decrypt(nonce(self._in_count), sealed, aad)
            self._in_count += 1
            del self._buffer[:end]
        return bytes(out)

    def encrypt(self, data: bytes) -> bytes:
        """``data`` as one or more frames."""
        out = bytearray()
        for start in range(0, len(data), MAX_FRAME):
            chunk = data[start : start + MAX_FRAME]
            aad = _LENGTH.pack(len(chunk))
            out += aad
            out += self._encryptor.encrypt(nonce(self._out_count), chunk, aad)
            self._out_count += 1
        return bytes(out)
