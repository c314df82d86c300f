"""Qingping / ClearGrass sensors (service data UUID 0xFDCD, and 0xFFF9 on older ClearGrass
firmware: the same frames).

Layout: frame control (1), device type (1), MAC reversed (6; not always the advertiser's,
so the advertiser address is used), then TLVs ``type (1) | length (1) | value``
(mibeacon.md §9). Models with a MiBeacon product id (CGG1, CGD1, CGPR1) get it as
``pid``; the others have ``pid`` ``None``. ``counter`` is the packet id (TLV 0x0F) when
present. Unknown TLV types are skipped. The CGH1 door sensor's contact TLV 0x04 is 0 open,
1 closed, 2 left open (``opening`` and ``door_left_open``).
"""

from __future__ import annotations

from struct import Struct

from .._catalog_table import BY_MODEL
from ..readings import DecodeResult, KeyStatus, Value

FORMAT = "qingping"

#: Device type byte → model.
DEVICE_TYPES = {
    0x01: "CGG1",
    0x04: "CGH1",
    0x07: "CGG1",
    0x09: "CGP1W",
    0x0C: "CGD1",
    0x0E: "CGDN1",
    0x12: "CGPR1",
    0x18: "CGP23W",
    0x24: "CGDN1",
    0x33: "CGP22C",
    0x5D: "CGP22C",
}

_HH = Struct("<hH")
_U16 = Struct("<H")
_UU = Struct("<HH")
_U32 = Struct("<I")


def decode_fdcd(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode a Qingping payload."""
    n = len(data)
    if n < 8:
        return DecodeResult(
            False, mac, None, None, {}, (), f"Qingping frame too short ({n} bytes)", FORMAT
        )
    model = DEVICE_TYPES.get(data[1])
    entry = BY_MODEL.get(model) if model is not None else None
    pid = entry.pid if entry is not None else None
    values: dict[str, Value] = {}
    counter: int | None = None
    pos = 8
    while n - pos >= 2:
        kind = data[pos]
        nxt = pos + 2 + data[pos + 1]
        if nxt > n:
            if pos == 8:
                return DecodeResult(
                    False,
                    mac,
                    pid,
                    model,
                    {},
                    (),
                    f"Qingping item 0x{kind:02X} runs past the end of the frame",
                    FORMAT,
                )
            break
        v = data[pos + 2 : nxt]
        size = nxt - pos - 2
        if kind == 0x01 and size >= 4:
            temp, hum = _HH.unpack_from(v)
            values["temperature"] = temp / 10
            values["humidity"] = hum / 10
        elif kind == 0x02 and size >= 1:
            values["battery"] = v[0]
        elif kind == 0x04 and size >= 1:
            values["opening"] = v[0] in (0, 2)
            values["door_left_open"] = v[0] == 2
        elif kind == 0x07 and size >= 2:
            values["pressure"] = _U16.unpack_from(v)[0] / 10
        elif kind == 0x08 and size >= 4:
            values["motion"] = v[0] != 0
            values["illuminance"] = v[1] | v[2] << 8 | v[3] << 16
        elif kind == 0x09 and size >= 4:
            values["illuminance"] = _U32.unpack_from(v)[0]
        elif kind == 0x0F and size >= 1:
            counter = v[0]
        elif kind == 0x11 and size >= 1:
            values["light"] = v[0] != 0
        elif kind == 0x12 and size >= 4:
            values["pm25"], values["pm10"] = _UU.unpack_from(v)
        elif kind == 0x13 and size >= 2:
            values["co2"] = _U16.unpack_from(v)[0]
        pos = nxt
    return DecodeResult(
        True, mac, pid, model, values, (), None, FORMAT, False, KeyStatus.NOT_NEEDED, counter
    )
