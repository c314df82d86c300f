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
from .result import make_result

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


def _pid(model: str) -> int | None:
    entry = BY_MODEL.get(model)
    return entry.pid if entry is not None else None


#: Device type byte → (model, MiBeacon product id or ``None``).
_MODELS = {dtype: (model, _pid(model)) for dtype, model in DEVICE_TYPES.items()}
_UNKNOWN = (None, None)

_HH = Struct("<hH").unpack_from
_U16 = Struct("<H").unpack_from
_UU = Struct("<HH").unpack_from
_U32 = Struct("<I").unpack_from
_NOT_NEEDED = KeyStatus.NOT_NEEDED


def decode_fdcd(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode a Qingping payload."""
    n = len(data)
    if n < 8:
        return make_result(
            False,
            mac,
            None,
            None,
            {},
            (),
            f"Qingping frame too short ({n} bytes)",
            FORMAT,
            False,
            _NOT_NEEDED,
            None,
        )
    model, pid = _MODELS.get(data[1], _UNKNOWN)
    values: dict[str, Value] = {}
    counter: int | None = None
    pos = 8
    while n - pos >= 2:
        kind = data[pos]
        size = data[pos + 1]
        at = pos + 2  # the item's value
        pos = at + size
        if pos > n:
            if at == 10:
                return make_result(
                    False,
                    mac,
                    pid,
                    model,
                    {},
                    (),
                    f"Qingping item 0x{kind:02X} runs past the end of the frame",
                    FORMAT,
                    False,
                    _NOT_NEEDED,
                    None,
                )
            break
        if kind == 0x01 and size >= 4:
            temp, hum = _HH(data, at)
            values["temperature"] = temp / 10
            values["humidity"] = hum / 10
        elif kind == 0x02 and size >= 1:
            values["battery"] = data[at]
        elif kind == 0x04 and size >= 1:
            values["opening"] = data[at] in (0, 2)
            values["door_left_open"] = data[at] == 2
        elif kind == 0x07 and size >= 2:
            values["pressure"] = _U16(data, at)[0] / 10
        elif kind == 0x08 and size >= 4:
            values["motion"] = data[at] != 0
            values["illuminance"] = data[at + 1] | data[at + 2] << 8 | data[at + 3] << 16
        elif kind == 0x09 and size >= 4:
            values["illuminance"] = _U32(data, at)[0]
        elif kind == 0x0F and size >= 1:
            counter = data[at]
        elif kind == 0x11 and size >= 1:
            values["light"] = data[at] != 0
        elif kind == 0x12 and size >= 4:
            values["pm25"], values["pm10"] = _UU(data, at)
        elif kind == 0x13 and size >= 2:
            values["co2"] = _U16(data, at)[0]
    return make_result(True, mac, pid, model, values, (), None, FORMAT, False, _NOT_NEEDED, counter)
