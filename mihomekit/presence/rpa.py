"""Resolvable private addresses: the ``ah`` function of the Bluetooth Core Specification.

A phone or a watch changes its address every few minutes. Each address is made from its
Identity Resolving Key (IRK, 16 bytes): the top three bytes are ``prand`` (24 bits whose
two highest are ``01``), the low three ``hash = ah(IRK, prand)``, where ``ah`` is the
least significant 24 bits of AES-128 with the IRK as key over ``prand`` padded with
zeros to 128 bits (Core Specification Vol 3, Part H, 2.2.2). Whoever knows the IRK can
tell that an address is that device's; nobody else can.

The IRK is written most significant byte first, as the specification does (and as 32
hex digits). Pure: no I/O.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["IrkResolver", "address_bytes", "ah", "is_resolvable"]


def ah(irk: bytes, prand: bytes) -> bytes:
    """The 3-byte hash of ``prand`` (3 bytes) under ``irk`` (16 bytes), MSB first."""
    if len(irk) != 16 or len(prand) != 3:
        raise ValueError("ah takes a 16-byte IRK and a 3-byte prand")
    encryptor = Cipher(algorithms.AES(irk), modes.ECB()).encryptor()
    block = encryptor.update(bytes(13) + prand) + encryptor.finalize()
    return block[13:]


def address_bytes(mac: str) -> bytes | None:
    """``"4A:..."`` → its 6 bytes (most significant first), None if it is not a MAC."""
    text = mac.replace(":", "").replace("-", "")
    if len(text) != 12:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def is_resolvable(address: bytes) -> bool:
    """True if the address's two highest bits are ``01`` (a resolvable private address)."""
    return len(address) == 6 and address[0] & 0xC0 == 0x40


class IrkResolver:
    """Tells whether addresses belong to one IRK (one AES block per address tried)."""

    def __init__(self, irk: bytes) -> None:
        if len(irk) != 16:
            raise ValueError(f"an IRK has 16 bytes, got {len(irk)}")
        self._cipher = Cipher(algorithms.AES(irk), modes.ECB())

    def resolves(self, mac: str) -> bool:
        """True if ``mac`` is a resolvable private address made with this IRK."""
        address = address_bytes(mac)
        if address is None or not is_resolvable(address):
            return False
        encryptor = self._cipher.encryptor()
        block = encryptor.update(bytes(13) + address[:3]) + encryptor.finalize()
        return block[13:] == address[3:]
