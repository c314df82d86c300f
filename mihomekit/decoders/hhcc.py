"""HHCCJCY10 "pink" plant sensor (service data UUID 0xFD50, 9 bytes, big-endian).

Layout: moisture u8 %, temperature u16 x0.1 °C, illuminance u24 lx, battery u8 %,
conductivity u16 µS/cm.
"""

from __future__ import annotations

from ..readings import DecodeResult, KeyStatus, Value

MODEL = "HHCCJCY10"
FORMAT = "hhccjcy10"


def decode_fd50(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode a HHCCJCY10 payload."""
    if len(data) != 9:
        return DecodeResult(
            False,
            mac,
            None,
            MODEL,
            {},
            (),
            f"HHCCJCY10 frame must be 9 bytes, got {len(data)}",
            FORMAT,
        )
    values: dict[str, Value] = {
        "moisture": data[0],
        "temperature": int.from_bytes(data[1:3], "big") / 10,
        "illuminance": int.from_bytes(data[3:6], "big"),
        "battery": data[6],
        "conductivity": int.from_bytes(data[7:9], "big"),
    }
    return DecodeResult(
        True, mac, None, MODEL, values, (), None, FORMAT, False, KeyStatus.NOT_NEEDED
    )
