"""BLE advertisement decoders: one call, dispatched by the service-data UUID.

==========  =====================================================  =====================
UUID        format                                                 module
==========  =====================================================  =====================
0xFE95      Xiaomi MiBeacon v2-v5 (plain, AES-CCM, legacy)         :mod:`.mibeacon`
0x181A      ATC1441 / pvvx custom firmware (plain and encrypted)   :mod:`.custom`
0xFDCD      Qingping                                               :mod:`.qingping`
0xFCD2      BTHome v2 (plain and encrypted)                        :mod:`.bthome`
0xFD50      HHCCJCY10 plant sensor                                 :mod:`.hhcc`
0x181D      Mi Smart Scale                                         :mod:`.scales`
0x181B      Mi Body Composition Scale                              :mod:`.scales`
==========  =====================================================  =====================

:func:`decode_advertisement` is pure (no I/O, clock or state) and never raises: every
problem, including a malformed MAC string, comes back as ``ok=False`` with a reason.

Each format decoder is called as ``decoder(mac, mac_le, data, key)``: the advertiser
address in display form and as bytes in over-the-air order (least significant first, as
MiBeacon stores it).
"""

from __future__ import annotations

from collections.abc import Callable

from ..readings import DecodeResult, failure
from .bthome import decode_fcd2
from .custom import decode_181a
from .hhcc import decode_fd50
from .mibeacon import decode_mibeacon
from .qingping import decode_fdcd
from .scales import decode_181b, decode_181d

__all__ = ["SERVICE_UUIDS", "decode_advertisement", "parse_mac"]

Decoder = Callable[[str, bytes, bytes, "bytes | None"], DecodeResult]

_DECODERS: dict[int, Decoder] = {
    0xFE95: decode_mibeacon,
    0x181A: decode_181a,
    0xFDCD: decode_fdcd,
    0xFCD2: decode_fcd2,
    0xFD50: decode_fd50,
    0x181D: decode_181d,
    0x181B: decode_181b,
}

#: The 16-bit service-data UUIDs :func:`decode_advertisement` understands.
SERVICE_UUIDS = frozenset(_DECODERS)

_BYTES_LIKE = (bytes, bytearray, memoryview)

#: Most advertiser addresses :func:`_mac_pair` remembers (then it starts afresh).
MAC_CACHE_SIZE = 1024
_mac_cache: dict[str, tuple[str, bytes]] = {}


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


def _mac_pair(mac: str) -> tuple[str, bytes] | None:
    """``(display form, bytes in over-the-air order)`` of a MAC address, memoised: a bridge
    hears the same few hundred addresses over and over, and parsing costs a tenth of a
    decode. The cache holds nothing but parsed addresses: results never depend on it."""
    pair = _mac_cache.get(mac)
    if pair is None:
        mac_bytes = parse_mac(mac)
        if mac_bytes is None:
            return None
        pair = (mac_bytes.hex(":").upper(), mac_bytes[::-1])
        if len(_mac_cache) >= MAC_CACHE_SIZE:
            _mac_cache.clear()
        _mac_cache[mac] = pair
    return pair


def decode_advertisement(
    mac: str, service_uuid: int, data: bytes, key: bytes | None = None
) -> DecodeResult:
    """Decode one service-data payload (the bytes after the 16-bit UUID).

    ``mac`` is the advertiser address (``A4:C1:38:12:34:56``); ``key`` the device's bind key
    (16 bytes; 12 or 16 for legacy MiBeacon v2/v3), if it has one.
    """
    try:
        # Fast path: the usual argument types and an address seen before.
        if (
            type(mac) is str
            and type(data) is bytes
            and type(service_uuid) is int
            and (key is None or type(key) is bytes)
        ):
            pair = _mac_cache.get(mac)
            decoder = _DECODERS.get(service_uuid)
            if pair is not None and decoder is not None:
                return decoder(pair[0], pair[1], data, key)
        return _decode_checked(mac, service_uuid, data, key)
    except Exception as err:  # the decoders check lengths; this is the last line of defence
        return failure(f"internal error: {type(err).__name__}: {err}")


def _decode_checked(mac: object, service_uuid: object, data: object, key: object) -> DecodeResult:
    """:func:`decode_advertisement` for arguments that need checking or converting."""
    if not isinstance(data, _BYTES_LIKE):
        return failure(f"data must be bytes, not {type(data).__name__}")
    if key is not None and not isinstance(key, _BYTES_LIKE):
        return failure(f"key must be bytes, not {type(key).__name__}")
    if not isinstance(mac, str):
        return failure(f"MAC address must be a string, not {type(mac).__name__}")
    pair = _mac_pair(mac)
    if pair is None:
        return failure(f"invalid MAC address {mac[:40]!r}")
    decoder = _DECODERS.get(service_uuid) if type(service_uuid) is int else None
    if decoder is None:
        if isinstance(service_uuid, int) and not isinstance(service_uuid, bool):
            return failure(f"unsupported service uuid 0x{service_uuid:04x}", mac=pair[0])
        return failure(f"unsupported service uuid {service_uuid!r:.40}", mac=pair[0])
    return decoder(pair[0], pair[1], bytes(data), None if key is None else bytes(key))
