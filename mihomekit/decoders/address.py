"""Advertiser addresses: parsing and a small memo of parsed addresses."""

from __future__ import annotations

#: Most advertiser addresses :func:`mac_pair` remembers (then it starts afresh).
MAC_CACHE_SIZE = 1024

#: Address string → (display form, bytes in over-the-air order); read it through ``.get``.
mac_cache: dict[str, tuple[str, bytes]] = {}


def parse_mac(mac: str) -> bytes | None:
    """The 6 bytes (display order) of ``AA:BB:CC:DD:EE:FF``, or ``None`` if it is not a MAC
    address. Any case; ``-``, spaces or no separators are accepted too."""
    try:
        out = bytes.fromhex(mac.replace(":", " "))
    except ValueError:
        try:
            out = bytes.fromhex(mac.replace("-", " "))
        except ValueError:
            return None
    return out if len(out) == 6 else None


def mac_pair(mac: str) -> tuple[str, bytes] | None:
    """``(display form, bytes in over-the-air order)`` of a MAC address, memoised: a bridge
    hears the same few hundred addresses over and over, and parsing costs a tenth of a
    decode. The cache holds nothing but parsed addresses: results never depend on it."""
    pair = mac_cache.get(mac)
    if pair is None:
        mac_bytes = parse_mac(mac)
        if mac_bytes is None:
            return None
        pair = (mac_bytes.hex(":").upper(), mac_bytes[::-1])
        if len(mac_cache) >= MAC_CACHE_SIZE:
            mac_cache.clear()
        mac_cache[mac] = pair
    return pair


#: MAC bytes (display order) → ``AA:BB:CC:DD:EE:FF``; read it through ``.get``.
mac_text_cache: dict[bytes, str] = {}


def mac_text(mac: bytes) -> str:
    """The display form of a MAC carried in a frame, memoised like :func:`mac_pair` (the
    formats that carry the device MAC send the same few hundred over and over)."""
    text = mac_text_cache.get(mac)
    if text is None:
        text = mac.hex(":").upper()
        if len(mac_text_cache) >= MAC_CACHE_SIZE:
            mac_text_cache.clear()
        mac_text_cache[mac] = text
    return text


def checked_args(
    mac: object, data: object, key: object
) -> tuple[tuple[str, bytes], bytes, bytes | None] | str:
    """The address pair, data and key as bytes, or the reason they are unusable."""
    if not isinstance(data, bytes | bytearray | memoryview):
        return f"data must be bytes, not {type(data).__name__}"
    if key is not None and not isinstance(key, bytes | bytearray | memoryview):
        return f"key must be bytes, not {type(key).__name__}"
    if not isinstance(mac, str):
        return f"MAC address must be a string, not {type(mac).__name__}"
    pair = mac_pair(mac)
    if pair is None:
        return f"invalid MAC address {mac[:40]!r}"
    return pair, bytes(data), None if key is None else bytes(key)
