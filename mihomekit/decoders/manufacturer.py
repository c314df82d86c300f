"""Manufacturer-specific data (AD type 0xFF): the payload after the 16-bit company id.

:func:`decode_manufacturer_data` dispatches by company id to a format decoder with the
same signature as the service-data decoders, ``decoder(mac, mac_le, data, key)``. No
format carried in manufacturer data is decoded yet: :data:`MANUFACTURER_DECODERS` is the
table a new one is added to, and every company id gives a clear failure until then.
"""

from __future__ import annotations

from collections.abc import Callable

from ..readings import DecodeResult, failure
from .address import checked_args, mac_cache

Decoder = Callable[[str, bytes, bytes, "bytes | None"], DecodeResult]

#: Company id → decoder of the manufacturer data it carries.
MANUFACTURER_DECODERS: dict[int, Decoder] = {}

#: The company ids :func:`decode_manufacturer_data` understands.
COMPANY_IDS = frozenset(MANUFACTURER_DECODERS)


def decode_manufacturer_data(
    mac: str, company_id: int, data: bytes, key: bytes | None = None
) -> DecodeResult:
    """Decode one manufacturer-data payload (the bytes after the company id).

    ``mac`` is the advertiser address, ``company_id`` the Bluetooth SIG company identifier
    (``0x038F`` Xiaomi), ``key`` the device's bind key if it has one. Never raises: an
    unknown company id or bad arguments give a failed result that says why.
    """
    try:
        decoder = MANUFACTURER_DECODERS.get(company_id) if type(company_id) is int else None
        if type(mac) is str and type(data) is bytes and (key is None or type(key) is bytes):
            pair = mac_cache.get(mac)
            if pair is not None and decoder is not None:
                return decoder(pair[0], pair[1], data, key)
        checked = checked_args(mac, data, key)
        if isinstance(checked, str):
            return failure(checked)
        pair, payload, bind_key = checked
        if decoder is None:
            if isinstance(company_id, int) and not isinstance(company_id, bool):
                return failure(
                    f"unsupported manufacturer company id 0x{company_id:04x}", mac=pair[0]
                )
            return failure(f"unsupported manufacturer company id {company_id!r:.40}", mac=pair[0])
        return decoder(pair[0], pair[1], payload, bind_key)
    except Exception as err:  # the last line of defence, as for decode_advertisement
        return failure(f"internal error: {type(err).__name__}: {err}")
