"""The demo's advertisements, made with the frame builders.

``frames_for_pass(n)`` gives pass ``n`` of a 120-second scene: thermometers every 10 s with
slowly drifting values, motion, a door opening and closing, a leak, remote buttons and a
plant sensor. Counters grow from pass to pass. Pass 0 is the bundled ``recording.jsonl``;
``python -m mihomekit.demo.frames`` writes it again.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from mihomekit.sources.recording import RecordedAdvertisement, RecordingWriter
from mihomekit.wording import counted

from ..decoders import build

PASS_SECONDS = 120.0

KEY_TH = bytes.fromhex("5a1f4c3b2d6e7f8091a2b3c4d5e6f708")
KEY_MOTION = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
KEY_DOOR = bytes.fromhex("1a2b3c4d5e6f708192a3b4c5d6e7f809")
KEY_LEAK = bytes.fromhex("f9e8d7c6b5a4938271605f4e3d2c1b0a")

MAC_TH = "A4:C1:38:DE:00:01"
MAC_PVVX = "A4:C1:38:DE:00:02"
MAC_ATC = "A4:C1:38:DE:00:03"
MAC_MOTION = "F8:24:41:DE:00:04"
MAC_DOOR = "E4:AA:EC:DE:00:05"
MAC_LEAK = "50:EC:50:DE:00:06"
MAC_REMOTE = "F8:24:41:DE:00:07"
MAC_FLORA = "C4:7C:8D:DE:00:08"

FE95 = 0xFE95
ENV = 0x181A


def _wave(seconds: float, mean: float, amplitude: float, period: float = 1800.0) -> float:
    return mean + amplitude * math.sin(2 * math.pi * seconds / period)


class _Counter:
    """Per-device frame counters that keep growing across passes."""

    def __init__(self, pass_number: int) -> None:
        self.base = pass_number * 64
        self.used: dict[str, int] = {}

    def next(self, mac: str) -> int:
        n = self.used.get(mac, 0)
        self.used[mac] = n + 1
        if n >= 64:
            raise ValueError("more than 64 frames of one device in a pass")
        return self.base + n


def frames_for_pass(pass_number: int) -> list[RecordedAdvertisement]:
    """Pass ``pass_number`` of the demo scene, sorted by time."""
    counters = _Counter(pass_number)
    offset = pass_number * PASS_SECONDS
    out: list[RecordedAdvertisement] = []

    def add(t: float, mac: str, uuid: int, data: bytes, rssi: int) -> None:
        out.append(RecordedAdvertisement(t=t, mac=mac, uuid=uuid, data=data, rssi=rssi))

    def encrypted(pid: int, mac: str, key: bytes, objects: list[tuple[int, bytes]]) -> bytes:
        c = counters.next(mac)
        return build.mibeacon_frame(
            pid, c & 0xFF, objects, mac=mac, key=key, ext_counter=c >> 8, flags=0x0900
        )

    def plain(pid: int, mac: str, version: int, objects: list[tuple[int, bytes]]) -> bytes:
        return build.mibeacon_frame(
            pid, counters.next(mac) & 0xFF, objects, mac=mac, version=version
        )

    # LYWSD03MMC, stock firmware: encrypted MiBeacon v5, one object per frame.
    for i, t in enumerate(range(1, 120, 10)):
        now = offset + t
        kind = i % 3
        if kind == 0:
            obj = build.obj_temperature(round(_wave(now, 21.5, 1.5), 1))
        elif kind == 1:
            obj = build.obj_humidity(round(_wave(now, 48.0, 6.0, 2400.0), 1))
        else:
            obj = build.obj_battery(87)
        add(t + 0.1, MAC_TH, FE95, encrypted(0x055B, MAC_TH, KEY_TH, [obj]), -67)

    # pvvx and ATC1441 custom firmware on 0x181A.
    for t in range(3, 120, 10):
        now = offset + t
        c = counters.next(MAC_PVVX)
        add(
            t + 0.2,
            MAC_PVVX,
            ENV,
            build.pvvx_frame(
                MAC_PVVX,
                round(_wave(now, 19.0, 1.0), 2),
                round(_wave(now, 55.0, 4.0), 2),
                2.95,
                78,
                c,
            ),
            -72,
        )
    for t in range(5, 120, 10):
        now = offset + t
        c = counters.next(MAC_ATC)
        add(
            t + 0.3,
            MAC_ATC,
            ENV,
            build.atc1441_frame(
                MAC_ATC, round(_wave(now, 23.0, 2.0), 1), round(_wave(now, 40.0, 5.0)), 91, 3.01, c
            ),
            -58,
        )

    # MJYD2S night light: motion with illuminance, later "no motion for 60 s".
    for when, objects in (
        (10.0, [build.obj_motion_illuminance(3 + pass_number % 5)]),
        (70.0, [build.obj_no_motion(60)]),
        (95.0, [build.obj_motion_illuminance(120)]),
        (100.0, [build.obj_battery(64)]),
    ):
        add(when, MAC_MOTION, FE95, encrypted(0x07F6, MAC_MOTION, KEY_MOTION, objects), -80)

    # MCCGQ02HL door sensor: open, then closed.
    add(30.0, MAC_DOOR, FE95, encrypted(0x098B, MAC_DOOR, KEY_DOOR, [build.obj_door(True)]), -75)
    add(40.0, MAC_DOOR, FE95, encrypted(0x098B, MAC_DOOR, KEY_DOOR, [build.obj_door(False)]), -75)
    add(41.0, MAC_DOOR, FE95, encrypted(0x098B, MAC_DOOR, KEY_DOOR, [build.obj_battery(95)]), -75)

    # SJWS01LM flood detector: wet, then dry.
    add(90.0, MAC_LEAK, FE95, encrypted(0x0863, MAC_LEAK, KEY_LEAK, [build.obj_leak(True)]), -83)
    add(105.0, MAC_LEAK, FE95, encrypted(0x0863, MAC_LEAK, KEY_LEAK, [build.obj_leak(False)]), -83)
    add(106.0, MAC_LEAK, FE95, encrypted(0x0863, MAC_LEAK, KEY_LEAK, [build.obj_battery(100)]), -83)

    # YLYK01YL remote (plain v3): button 1 press, button 2 long press, button 4 press.
    for when, index, press in ((20.0, 0, 0), (50.0, 1, 2), (80.0, 3, 0)):
        add(
            when,
            MAC_REMOTE,
            FE95,
            plain(0x0153, MAC_REMOTE, 3, [build.obj_button(index, press)]),
            -70,
        )

    # Flower Care (plain v2), one object per frame.
    flora_objects = [
        build.obj_temperature(round(_wave(offset, 22.0, 1.0), 1)),
        build.obj_illuminance(int(_wave(offset, 900, 600))),
        (0x1008, bytes([int(_wave(offset, 35, 5))])),
        (0x1009, int(_wave(offset, 420, 40)).to_bytes(2, "little")),
        build.obj_battery(99),
    ]
    for i, obj in enumerate(flora_objects):
        add(7.0 + 25 * i, MAC_FLORA, FE95, plain(0x0098, MAC_FLORA, 2, [obj]), -85)

    out.sort(key=lambda r: r.t)
    return out


def write_recording(path: Path) -> int:
    with RecordingWriter(path) as writer:
        for record in frames_for_pass(0):
            writer.write(record.mac, record.uuid, record.data, record.rssi, record.t)
        return writer.count


if __name__ == "__main__":  # pragma: no cover - regenerates the bundled file
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("recording.jsonl")
    print(f"{counted(write_recording(target), 'advertisement')} written to {target}")
