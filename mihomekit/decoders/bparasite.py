"""b-parasite soil sensors (service data UUID 0x181A, 16 or 18 bytes, big-endian).

Layout: protocol byte (bits 4-7 the protocol version), packet counter, battery mV u16,
temperature s16 (0.01 °C from protocol 2 on, 0.001 °C before), air humidity u16 and soil
moisture u16 (both 1/65536 of 100 %), the device MAC (6, display order), and in the 18-byte
form illuminance u16 (lx). Humidity and moisture are rounded to 2 decimals. The MAC in the
frame becomes ``DecodeResult.mac``; ``counter`` is the packet counter byte.
"""

from __future__ import annotations

from struct import Struct

from ..readings import DecodeResult, KeyStatus, Value
from .address import mac_text, mac_text_cache
from .result import make_result

MODEL = "b-parasite"
FORMAT = "bparasite"

_FRAME = Struct(">BBHhHH6s").unpack_from
_mac_text = mac_text_cache.get

#: Payload lengths of b-parasite frames (without and with illuminance).
LENGTHS = frozenset({16, 18})


def decode_bparasite(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode a b-parasite payload (the caller has checked its length is in LENGTHS)."""
    protocol, counter, millivolts, temp, humidity, moisture, dev_mac = _FRAME(data)
    values: dict[str, Value] = {
        "temperature": temp / (100 if protocol >> 4 >= 2 else 1000),
        # x / 65536 as a percentage to 2 decimals: for every u16 the same float as
        # round(x * 100 / 65536, 2) (both quotients are exact, so both round the same exact
        # value half-even), at half the cost.
        "humidity": round(humidity * 10000 / 65536) / 100,
        "moisture": round(moisture * 10000 / 65536) / 100,
        "voltage": millivolts / 1000,
    }
    if len(data) >= 18:
        values["illuminance"] = data[16] << 8 | data[17]
    return make_result(
        True,
        _mac_text(dev_mac) or mac_text(dev_mac),
        None,
        MODEL,
        values,
        (),
        None,
        FORMAT,
        False,
        KeyStatus.NOT_NEEDED,
        counter,
    )
