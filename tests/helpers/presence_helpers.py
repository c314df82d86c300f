"""What tags, iBeacons and phones send, made from the specifications for presence tests."""

from __future__ import annotations

import uuid

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: Apple's company id (iBeacons).
APPLE = 0x004C


def make_rpa(irk: bytes, prand24: int) -> str:
    """A resolvable private address, written from the Core Specification on its own: prand
    with its two top bits 01, hash = the low 24 bits of AES-128(IRK, 0…0 ‖ prand)."""
    prand = ((prand24 & 0x3FFFFF) | 0x400000).to_bytes(3, "big")
    encryptor = Cipher(algorithms.AES(irk), modes.ECB()).encryptor()
    hashed = (encryptor.update(bytes(13) + prand) + encryptor.finalize())[-3:]
    return ":".join(f"{b:02X}" for b in prand + hashed)


def ibeacon_data(beacon_uuid: str, major: int, minor: int, power: int = -59) -> bytes:
    """Apple manufacturer data of an iBeacon (after the company id)."""
    return (
        b"\x02\x15"
        + uuid.UUID(beacon_uuid).bytes
        + major.to_bytes(2, "big")
        + minor.to_bytes(2, "big")
        + (power & 0xFF).to_bytes(1, "big")
    )
