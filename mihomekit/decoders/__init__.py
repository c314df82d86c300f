"""BLE advertisement decoders: one call per service-data payload, dispatched by its UUID,
and one per manufacturer-data payload, dispatched by its company id.

==========  =====================================================  =====================
UUID        format                                                 module
==========  =====================================================  =====================
0xFE95      Xiaomi MiBeacon v2-v5 (plain, AES-CCM, legacy)         :mod:`.mibeacon`
0x181A      ATC1441 / pvvx custom firmware (plain and encrypted),  :mod:`.custom`,
            b-parasite soil sensors                                :mod:`.bparasite`
0xFDCD      Qingping                                               :mod:`.qingping`
0xFFF9      Qingping (older ClearGrass firmware, same frames)      :mod:`.qingping`
0xFCD2      BTHome v2 (plain and encrypted)                        :mod:`.bthome`
0x181C      BTHome v1 (plain)                                      :mod:`.bthome_v1`
0x181E      BTHome v1 (encrypted)                                  :mod:`.bthome_v1`
0xFD50      HHCCJCY10 plant sensor                                 :mod:`.hhcc`
0x181D      Mi Smart Scale                                         :mod:`.scales`
0x181B      Mi Body Composition Scale                              :mod:`.scales`
==========  =====================================================  =====================

:func:`decode_advertisement` and :func:`decode_manufacturer_data` are pure (no I/O, clock
or state) and never raise: every problem, including a malformed MAC string, comes back as
``ok=False`` with a reason.

Each format decoder is called as ``decoder(mac, mac_le, data, key)``: the advertiser
address in display form and as bytes in over-the-air order (least significant first, as
MiBeacon stores it).
"""

from __future__ import annotations

from ..readings import DecodeResult, failure
from .address import MAC_CACHE_SIZE, checked_args, mac_cache, mac_pair, parse_mac
from .bthome import decode_fcd2
from .bthome_v1 import decode_181c, decode_181e
from .custom import decode_181a
from .hhcc import decode_fd50
from .manufacturer import COMPANY_IDS, Decoder, decode_manufacturer_data
from .mibeacon import decode_mibeacon
from .qingping import decode_fdcd
from .scales import decode_181b, decode_181d

__all__ = [
    "COMPANY_IDS",
    "MAC_CACHE_SIZE",
    "SERVICE_UUIDS",
    "decode_advertisement",
    "decode_manufacturer_data",
    "parse_mac",
]

_DECODERS: dict[int, Decoder] = {
    0xFE95: decode_mibeacon,
    0x181A: decode_181a,
    0xFDCD: decode_fdcd,
    0xFFF9: decode_fdcd,
    0xFCD2: decode_fcd2,
    0x181C: decode_181c,
    0x181E: decode_181e,
    0xFD50: decode_fd50,
    0x181D: decode_181d,
    0x181B: decode_181b,
}

#: The 16-bit service-data UUIDs :func:`decode_advertisement` understands.
SERVICE_UUIDS = frozenset(_DECODERS)

_decoder = _DECODERS.get
_mac_cached = mac_cache.get


def decode_advertisement(
    mac: str, service_uuid: int, data: bytes, key: bytes | None = None
) -> DecodeResult:
    """Decode one service-data payload (the bytes after the 16-bit UUID).

    ``mac`` is the advertiser address (``A4:C1:38:12:34:56``); ``key`` the device's bind key
    (16 bytes; 12 or 16 for legacy MiBeacon v2/v3), if it has one.
    """
    try:
        # Fast path: the usual argument types, a known UUID and a valid address (parsed
        # once, then memoised).
        if (
            type(mac) is str
            and type(data) is bytes
            and type(service_uuid) is int
            and (key is None or type(key) is bytes)
        ):
            decoder = _decoder(service_uuid)
            if decoder is not None:
                pair = _mac_cached(mac) or mac_pair(mac)
                if pair is not None:
                    display, mac_le = pair
                    return decoder(display, mac_le, data, key)
        return _decode_checked(mac, service_uuid, data, key)
    except Exception as err:  # the decoders check lengths; this is the last line of defence
        return failure(f"internal error: {type(err).__name__}: {err}")


def _decode_checked(mac: object, service_uuid: object, data: object, key: object) -> DecodeResult:
    """:func:`decode_advertisement` for arguments that need checking or converting."""
    checked = checked_args(mac, data, key)
    if isinstance(checked, str):
        return failure(checked)
    pair, payload, bind_key = checked
    decoder = _DECODERS.get(service_uuid) if type(service_uuid) is int else None
    if decoder is None:
        if isinstance(service_uuid, int) and not isinstance(service_uuid, bool):
            return failure(f"unsupported service uuid 0x{service_uuid:04x}", mac=pair[0])
        return failure(f"unsupported service uuid {service_uuid!r:.40}", mac=pair[0])
    return decoder(pair[0], pair[1], payload, bind_key)
