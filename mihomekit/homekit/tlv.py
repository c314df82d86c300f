"""TLV8, the encoding of HAP's pairing messages (strict: malformed input is a TlvError)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Tag", "TlvError", "decode", "encode", "encode_items"]


class TlvError(ValueError):
    """A TLV8 body that cannot be decoded, or lacks a required item."""


class Tag:
    """HAP pairing TLV types."""

    METHOD = 0x00
    IDENTIFIER = 0x01
    SALT = 0x02
    PUBLIC_KEY = 0x03
    PROOF = 0x04
    ENCRYPTED_DATA = 0x05
    STATE = 0x06
    ERROR = 0x07
    SIGNATURE = 0x0A
    PERMISSIONS = 0x0B
    SEPARATOR = 0xFF


def encode(*items: tuple[int, bytes]) -> bytes:
    """Encode ``(tag, value)`` pairs; values over 255 bytes are split into fragments."""
    return encode_items(items)


def encode_items(items: Iterable[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for tag, value in items:
        if not value:
            out += bytes((tag, 0))
            continue
        for start in range(0, len(value), 255):
            chunk = value[start : start + 255]
            out += bytes((tag, len(chunk)))
            out += chunk
    return bytes(out)


def decode(data: bytes) -> dict[int, bytes]:
    """Decode a TLV8 body into ``{tag: value}``; fragments of one item are joined.

    Two separate items with the same tag (not adjacent fragments) keep the first: only
    list-pairings responses repeat tags, and the bridge never parses those.
    """
    items: dict[int, bytes] = {}
    pos = 0
    previous: int | None = None
    size = len(data)
    while pos < size:
        if pos + 2 > size:
            raise TlvError(f"truncated item at offset {pos}")
        tag = data[pos]
        length = data[pos + 1]
        end = pos + 2 + length
        if end > size:
            raise TlvError(f"item 0x{tag:02x} at offset {pos} runs past the end")
        value = data[pos + 2 : end]
        if tag == previous and tag in items:
            items[tag] += value
        elif tag not in items:
            items[tag] = value
        previous = tag if length == 255 else None
        pos = end
    return items
