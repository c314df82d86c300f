"""MiBeacon sleep, snoring and bed objects (ZX1 pillow 0x18E3, MJZNZ018H bed sensor
0x20DB): derived frames, each compared as a whole result. The real bed-sensor captures are
checked in test_decode_vectors.py (ble_monitor-007 to -009)."""

from __future__ import annotations

import pytest

from mihomekit import decode_advertisement
from mihomekit.decoders.build import mibeacon_frame
from mihomekit.readings import DecodeResult, Event, KeyStatus, Value

MAC = "CC:B5:D1:D6:37:7B"
KEY = bytes.fromhex("13f072b8c8469f54ac2c333ee746d771")
CASES: list[tuple[int, int, bytes, dict[str, Value], list[Event]]] = [
    (0x18E3, 0x4810, b"\x00", {"asleep": False}, []),
    (0x18E3, 0x4810, b"\x01", {"asleep": True}, []),
    (0x18E3, 0x5010, b"\x02", {}, [Event("double_press", 1)]),
    (0x18E3, 0x4811, b"\x01", {"snoring": True}, []),
    (0x18E3, 0x5011, b"\x00", {"snoring": False}, []),
    (0x20DB, 0x4E16, b"\x01", {"occupancy": True}, []),
    (0x20DB, 0x4E17, b"\x01", {"occupancy": False}, []),
    (0x20DB, 0x4E17, b"\x00", {}, []),
    (0x20DB, 0x5A16, b"\x01", {"occupancy": True}, []),
    (0x20DB, 0x5A16, b"\x02", {"occupancy": False}, []),
    (0x20DB, 0x5A16, b"\x03", {}, [Event("double_press", 1)]),
    (0x20DB, 0x5A16, b"\x07", {}, []),
]


@pytest.mark.parametrize(("pid", "oid", "payload", "values", "events"), CASES)
def test_sleep_and_bed_objects(
    pid: int, oid: int, payload: bytes, values: dict[str, Value], events: list[Event]
) -> None:
    data = mibeacon_frame(pid, 9, [(oid, payload)], mac=MAC, key=KEY, ext_counter=0)
    model = {0x18E3: "ZX1", 0x20DB: "MJZNZ018H"}[pid]
    assert decode_advertisement(MAC, 0xFE95, data, KEY) == DecodeResult(
        True, MAC, pid, model, values, tuple(events), None, "mibeacon", True, KeyStatus.OK, 9
    )


def test_s200_weight_still_reads_its_five_bytes() -> None:
    data = mibeacon_frame(0x45C9, 1, [(0x4E16, bytes.fromhex("0110270000"))], mac=MAC, key=KEY)
    result = decode_advertisement(MAC, 0xFE95, data, KEY)
    assert dict(result.values) == {"mass": 100.0, "profile_id": 1, "stabilized": True}
