"""Shortcuts the decoders take for speed give exactly the values of the plain formula."""

from __future__ import annotations

import struct

from mihomekit.decoders import decode_advertisement


def test_bparasite_percentages_equal_the_rounded_quotient_for_every_u16() -> None:
    mac = "F0:CA:F0:CA:02:01"
    differ = []
    for raw in range(65536):
        frame = struct.pack(">BBHhHH", 0x20, 1, 3000, 2000, raw, 65535 - raw)
        values = decode_advertisement(mac, 0x181A, frame + bytes.fromhex("f0caf0ca0201")).values
        if values["humidity"] != round(raw * 100 / 65536, 2) or values["moisture"] != round(
            (65535 - raw) * 100 / 65536, 2
        ):
            differ.append(raw)
    assert differ == []
