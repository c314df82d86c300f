"""miIO binary packets (UDP 54321): framing, checksum, encryption, JSON payloads.

Pure functions. A packet is a 32-byte big-endian header (magic ``0x2131``, length,
unknown, device id, stamp, checksum) and an encrypted payload. checksum = MD5(header
bytes 0-15 ‖ token ‖ payload); payload = AES-128-CBC(key = MD5(token),
iv = MD5(key ‖ token)) of the JSON text plus one NUL, PKCS#7 padded.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mihomekit.errors import MiioError

MAGIC = 0x2131
HEADER_SIZE = 32
#: The hello (handshake / discovery) request.
HELLO = struct.pack(">HHII", MAGIC, HEADER_SIZE, 0xFFFFFFFF, 0xFFFFFFFF) + b"\xff" * 20
_HEADER = struct.Struct(">HHIII16s")


@dataclass(frozen=True, slots=True)
class Packet:
    """One parsed packet; ``payload`` is still encrypted (empty for a hello)."""

    did: int
    stamp: int
    checksum: bytes
    payload: bytes
    unknown: int = 0

    @property
    def is_hello(self) -> bool:
        return not self.payload

    @property
    def revealed_token(self) -> bytes | None:
        """The token a hello reply reveals, or None (all ``ff`` or all ``00``)."""
        if self.checksum in (b"\xff" * 16, b"\x00" * 16):
            return None
        return self.checksum


def parse_token(token: str | bytes) -> bytes:
    """A 16-byte token from 32 hex characters (or 16 raw bytes)."""
    if isinstance(token, bytes):
        raw = token
    else:
        try:
            raw = bytes.fromhex(token.strip())
        except ValueError:
            raise MiioError("token must be 32 hex characters") from None
    if len(raw) != 16:
        raise MiioError(f"token must be 16 bytes (32 hex characters), got {len(raw)}")
    return raw


def _cipher(token: bytes) -> Cipher[modes.CBC]:
    key = hashlib.md5(token, usedforsecurity=False).digest()
    iv = hashlib.md5(key + token, usedforsecurity=False).digest()
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def encrypt(token: bytes, plaintext: bytes) -> bytes:
    """AES-128-CBC with PKCS#7 padding, key and IV derived from ``token``."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = _cipher(token).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def decrypt(token: bytes, ciphertext: bytes) -> bytes:
    """Reverse of :func:`encrypt`; raises :class:`MiioError` if it does not decrypt."""
    if not ciphertext or len(ciphertext) % 16:
        raise MiioError("cannot decrypt the payload: bad length (wrong token?)")
    decryptor = _cipher(token).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise MiioError("cannot decrypt the payload: bad padding (wrong token?)") from None


def checksum(header16: bytes, token: bytes, payload: bytes) -> bytes:
    """MD5(header bytes 0-15 ‖ token ‖ encrypted payload)."""
    return hashlib.md5(header16 + token + payload, usedforsecurity=False).digest()


def build_hello_reply(did: int, stamp: int, token: bytes | None = None) -> bytes:
    """A device's hello answer; ``token`` None sends 16 ``ff`` bytes (not revealed)."""
    slot = token if token is not None else b"\xff" * 16
    return _HEADER.pack(MAGIC, HEADER_SIZE, 0, did, stamp, slot)


def build_packet(token: bytes, did: int, stamp: int, plaintext: bytes) -> bytes:
    """An encrypted packet carrying ``plaintext``."""
    payload = encrypt(token, plaintext)
    head = struct.pack(">HHIII", MAGIC, HEADER_SIZE + len(payload), 0, did, stamp)
    return head + checksum(head, token, payload) + payload


def parse_packet(data: bytes) -> Packet:
    """Split a datagram into header fields and the (encrypted) payload."""
    if len(data) < HEADER_SIZE:
        raise MiioError(f"packet too short ({len(data)} bytes)")
    magic, length, unknown, did, stamp, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise MiioError(f"not a miIO packet (magic {magic:#06x})")
    if length != len(data):
        raise MiioError(f"packet length field {length} but {len(data)} bytes received")
    return Packet(
        did=did, stamp=stamp, checksum=digest, payload=data[HEADER_SIZE:], unknown=unknown
    )


def verify(packet: Packet, data: bytes, token: bytes) -> None:
    """Raise :class:`MiioError` unless the packet's checksum matches ``token``."""
    if checksum(data[:16], token, packet.payload) != packet.checksum:
        raise MiioError("checksum mismatch: wrong token?")


def open_packet(data: bytes, token: bytes) -> tuple[Packet, bytes]:
    """Parse, verify and decrypt a datagram; returns the packet and the plaintext."""
    packet = parse_packet(data)
    if packet.is_hello:
        return packet, b""
    verify(packet, data, token)
    return packet, decrypt(token, packet.payload)


def encode_payload(message: dict[str, Any]) -> bytes:
    """JSON text followed by one NUL (as python-miio sends it)."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\x00"


def decode_payload(plaintext: bytes) -> dict[str, Any]:
    """JSON object from a decrypted payload; trailing NULs are ignored."""
    text = plaintext.rstrip(b"\x00")
    try:
        message = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise MiioError(f"reply is not JSON: {err}") from None
    if not isinstance(message, dict):
        raise MiioError("reply is not a JSON object")
    return message
