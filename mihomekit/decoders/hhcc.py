"""HHCCJCY10 "pink" plant sensor (service data UUID 0xFD50, 9 bytes, big-endian).

Layout: moisture u8 %, temperature u16 x0.1 °C, illuminance u24 lx, battery u8 %,
conductivity u16 µS/cm. The frame has no product id: results carry mihomekit's own
(:data:`PID_HHCCJCY10`, the service UUID), the one its mi32cfg entry takes.
"""

from __future__ import annotations

from ..readings import DecodeResult, KeyStatus, Value
from .result import make_result

MODEL = "HHCCJCY10"
PID_HHCCJCY10 = 0xFD50
FORMAT = "hhccjcy10"
_NOT_NEEDED = KeyStatus.NOT_NEEDED


def decode_fd50(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode a HHCCJCY10 payload."""
    if len(data) != 9:
        return DecodeResult(
            False,
            mac,
            PID_HHCCJCY10,
            MODEL,
            {},
            (),
            f"HHCCJCY10 frame must be 9 bytes, got {len(data)}",
            FORMAT,
        )
    values: dict[str, Value] = {
        "moisture": data[0],
        "temperature": (data[1] << 8 | data[2]) / 10,
        "illuminance": data[3] << 16 | data[4] << 8 | data[5],
        "battery": data[6],
        "conductivity": data[7] << 8 | data[8],
    }
    return make_result(
        True, mac, PID_HHCCJCY10, MODEL, values, (), None, FORMAT, False, _NOT_NEEDED, None
    )
