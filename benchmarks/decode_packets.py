"""The advertisements the decode benchmarks time, by packet class.

Each class is a list of :class:`Packet` (advertiser MAC, 16-bit service UUID, service data,
bind key) taken from the real captures in ``tests/data/`` and a generated mix made with
:mod:`mihomekit.decoders.build` (seeded, so every run times the same packets):

======================  =========================================================
class                   packets
======================  =========================================================
mibeacon-plain          MiBeacon v2-v5 without encryption (real + mix)
mibeacon-aes-ccm        MiBeacon v4/v5, AES-CCM (real + mix)
mibeacon-legacy         MiBeacon v2/v3, legacy encryption (real + mix: YLKG07YL)
mibeacon-new-mac        plain MiBeacon thermometers, each from an address the decoder
                        has not seen lately (more addresses than its MAC memo holds)
atc-pvvx                ATC1441 and pvvx custom firmware, plain (real + mix)
atc-pvvx-encrypted      ATC1441 and pvvx, encrypted (real + mix)
bthome-plain            BTHome v2 (the specification's examples, captures, mix)
bthome-encrypted        BTHome v2, AES-CCM (captures, mix)
qingping                Qingping 0xFDCD (real + mix)
hhcc                    HHCCJCY10 plant sensor 0xFD50 (mix)
bparasite               b-parasite soil sensor 0x181A (real + mix)
======================  =========================================================

``to_json`` / ``from_json`` carry a packet list to another interpreter (the release guard
times the same packets in the previous release's virtualenv).
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from benchlib import VECTORS_DIR

from mihomekit.decoders import build

CLASSES = (
    "mibeacon-plain",
    "mibeacon-aes-ccm",
    "mibeacon-legacy",
    "mibeacon-new-mac",
    "atc-pvvx",
    "atc-pvvx-encrypted",
    "bthome-plain",
    "bthome-encrypted",
    "qingping",
    "hhcc",
    "bparasite",
)
MIBEACON_CLASSES = ("mibeacon-plain", "mibeacon-aes-ccm", "mibeacon-legacy")


@dataclass(frozen=True, slots=True)
class Packet:
    """One advertisement: what every decoder gets."""

    klass: str
    source: str  # "real" or "mix"
    device: str  # one parser per device for the decoders that keep state
    mac: str
    uuid: int
    data: bytes
    key: bytes | None

    def to_json(self) -> list[Any]:
        return [
            self.klass,
            self.source,
            self.device,
            self.mac,
            self.uuid,
            self.data.hex(),
            self.key.hex() if self.key is not None else None,
        ]

    @classmethod
    def from_json(cls, row: Sequence[Any]) -> Packet:
        klass, source, device, mac, uuid, data, key = row
        return cls(
            klass,
            source,
            device,
            mac,
            uuid,
            bytes.fromhex(data),
            bytes.fromhex(key) if key is not None else None,
        )


def dump(packets: Iterable[Packet], path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([p.to_json() for p in packets], handle)


def load(path: str) -> list[Packet]:
    with open(path, encoding="utf-8") as handle:
        return [Packet.from_json(row) for row in json.load(handle)]


def _vectors(name: str) -> dict[str, Any]:
    with open(VECTORS_DIR / name, encoding="utf-8") as handle:
        doc: dict[str, Any] = json.load(handle)
    return doc


def _key(hex_key: str | None) -> bytes | None:
    return bytes.fromhex(hex_key) if hex_key else None


# ---- MiBeacon ---------------------------------------------------------------------------


def mibeacon_class(encrypted: bool, version: int) -> str:
    if not encrypted:
        return "mibeacon-plain"
    return "mibeacon-aes-ccm" if version >= 4 else "mibeacon-legacy"


def real_mibeacon() -> list[Packet]:
    """The real MiBeacon vectors that decode (xiaomi-ble status ok, empty, no_payload)."""
    out = []
    for vec in _vectors("mibeacon-real.json")["vectors"]:
        if vec["service_uuid"] != "fe95" or vec["status"] not in ("ok", "empty", "no_payload"):
            continue
        header = vec["header"]
        out.append(
            Packet(
                mibeacon_class(bool(header["encrypted"]), int(header["version"])),
                "real",
                f"{vec['mac']}/{vec['bindkey_hex']}",
                vec["mac"],
                0xFE95,
                bytes.fromhex(vec["data_hex"]),
                _key(vec["bindkey_hex"]),
            )
        )
    return out


Objects = list[tuple[int, bytes]]


@dataclass
class SimDevice:
    """A generated MiBeacon device: model, framing and what it sends."""

    name: str
    pid: int
    version: int
    key: bytes | None
    klass: str
    make: Callable[[random.Random, int], Objects]
    mac: str = ""
    counter: int = 0

    def frame(self, rng: random.Random) -> bytes:
        self.counter += 1
        return build.mibeacon_frame(
            self.pid,
            self.counter,
            self.make(rng, self.counter),
            mac=self.mac,
            key=self.key,
            version=self.version,
            ext_counter=self.counter >> 8,
        )


def _temp(rng: random.Random) -> float:
    return round(rng.uniform(15.0, 30.0), 1)


def _th(rng: random.Random, n: int) -> Objects:
    if n % 5 == 0:
        return [build.obj_battery(rng.randint(40, 100))]
    return [build.obj_temp_humidity(_temp(rng), round(rng.uniform(30.0, 70.0), 1))]


def _lywsd03(rng: random.Random, n: int) -> Objects:
    # The stock firmware sends temperature, humidity (whole percent) and battery in turn.
    step = n % 3
    if step == 0:
        return [build.obj_temperature(_temp(rng))]
    if step == 1:
        return [build.obj_humidity(float(rng.randint(30, 70)))]
    return [build.obj_battery(rng.randint(40, 100))]


def _flora(rng: random.Random, n: int) -> Objects:
    step = n % 4
    if step == 0:
        return [build.obj_temperature(_temp(rng))]
    if step == 1:
        return [build.obj_illuminance(rng.randint(0, 20000))]
    if step == 2:
        return [(0x1008, bytes((rng.randint(0, 80),)))]
    return [(0x1009, struct.pack("<H", rng.randint(0, 2000)))]


def _motion(rng: random.Random, n: int) -> Objects:
    step = n % 4
    if step == 0:
        return [build.obj_motion_illuminance(rng.choice((1, 100)))]
    if step == 1:
        return [build.obj_no_motion(rng.choice((60, 120, 300, 600, 1200, 1800)))]
    if step == 2:
        return [build.obj_illuminance(rng.choice((1, 100)))]
    return [build.obj_battery(rng.randint(40, 100))]


def _motion_enc(rng: random.Random, n: int) -> Objects:
    if n % 2 == 0:
        return [build.obj_motion_illuminance(rng.choice((0, 256)))]
    return [(0x101B, struct.pack("<I", rng.choice((60, 120, 300))))]


def _door(rng: random.Random, n: int) -> Objects:
    return [build.obj_door(n % 2 == 0)]


def _leak(rng: random.Random, n: int) -> Objects:
    return [build.obj_leak(n % 2 == 0)]


def _remote(rng: random.Random, n: int) -> Objects:
    return [build.obj_button(rng.randint(0, 5), rng.choice((0, 1, 2)))]


def _dimmer(rng: random.Random, n: int) -> Objects:
    kind = n % 4
    if kind == 0:
        payload = bytes((0, rng.randint(1, 3), 3))  # 1-3 presses
    elif kind == 1:
        payload = bytes((1, rng.randint(1, 5), 3))  # held for 1-5 s
    elif kind == 2:
        steps = rng.randint(1, 5)
        payload = bytes((0, steps if rng.random() < 0.5 else 256 - steps, 4))
    else:
        steps = rng.randint(1, 3)
        payload = bytes((steps if rng.random() < 0.5 else 256 - steps, 0, 4))  # pressed
    return [(0x1001, payload)]


def _mibeacon_devices(rng: random.Random) -> list[SimDevice]:
    spec: list[tuple[int, SimDevice]] = [
        (3, SimDevice("LYWSDCGQ", 0x01AA, 2, None, "mibeacon-plain", _th)),
        (2, SimDevice("HHCCJCY01", 0x0098, 2, None, "mibeacon-plain", _flora)),
        (2, SimDevice("CGG1", 0x0347, 3, None, "mibeacon-plain", _th)),
        (2, SimDevice("YLYK01YL", 0x0153, 3, None, "mibeacon-plain", _remote)),
        (3, SimDevice("MJYD2S", 0x07F6, 4, None, "mibeacon-plain", _motion)),
        (1, SimDevice("CGH1", 0x03D6, 4, None, "mibeacon-plain", _door)),
        (2, SimDevice("LYWSD03MMC", 0x055B, 5, None, "mibeacon-plain", _lywsd03)),
        (8, SimDevice("LYWSD03MMC", 0x055B, 5, b"", "mibeacon-aes-ccm", _lywsd03)),
        (3, SimDevice("MCCGQ02HL", 0x098B, 5, b"", "mibeacon-aes-ccm", _door)),
        (2, SimDevice("SJWS01LM", 0x0863, 5, b"", "mibeacon-aes-ccm", _leak)),
        (2, SimDevice("RTCGQ02LM", 0x0A8D, 5, b"", "mibeacon-aes-ccm", _motion_enc)),
        (2, SimDevice("CGG1-ENCRYPTED", 0x0B48, 5, b"", "mibeacon-aes-ccm", _th)),
        (5, SimDevice("YLKG07YL", 0x03B6, 3, b"", "mibeacon-legacy", _dimmer)),
    ]
    devices = []
    serial = 0
    for count, template in spec:
        for _ in range(count):
            serial += 1
            mac = f"A4:C1:38:{serial >> 8 & 0xFF:02X}:{serial & 0xFF:02X}:{rng.randrange(256):02X}"
            key = None
            if template.key is not None:
                size = 12 if template.klass == "mibeacon-legacy" else 16
                key = rng.randbytes(size)
            devices.append(
                SimDevice(
                    template.name,
                    template.pid,
                    template.version,
                    key,
                    template.klass,
                    template.make,
                    mac=mac,
                    counter=rng.randrange(1000),
                )
            )
    return devices


#: Share of each MiBeacon class in the generated mix (what a bridge of such sensors hears).
MIBEACON_SHARE = {"mibeacon-plain": 0.40, "mibeacon-aes-ccm": 0.45, "mibeacon-legacy": 0.15}


def mibeacon_mix(count: int, seed: int = 20240601) -> list[Packet]:
    """``count`` generated MiBeacon advertisements from 37 devices, in the shares above."""
    rng = random.Random(seed)
    devices = _mibeacon_devices(rng)
    by_class = {c: [d for d in devices if d.klass == c] for c in MIBEACON_CLASSES}
    shares = [MIBEACON_SHARE[c] for c in MIBEACON_CLASSES]
    out = []
    for _ in range(count):
        klass = rng.choices(MIBEACON_CLASSES, shares)[0]
        device = rng.choice(by_class[klass])
        data = device.frame(rng)
        key_hex = device.key.hex() if device.key else None
        out.append(
            Packet(klass, "mix", f"{device.mac}/{key_hex}", device.mac, 0xFE95, data, device.key)
        )
    return out


def new_mac_mix(count: int, rng: random.Random) -> list[Packet]:
    """Plain LYWSDCGQ frames, each from another address: looped, every decode parses its
    advertiser address afresh (``count`` is above the decoders' MAC memo of 1,024)."""
    out = []
    for n in range(count):
        mac = _mac_of("A4:C1:38", 0x10000 + n, rng)
        objects = [build.obj_temp_humidity(_temp(rng), round(rng.uniform(30.0, 70.0), 1))]
        data = build.mibeacon_frame(0x01AA, n & 0xFF, objects, mac=mac, version=2)
        out.append(Packet("mibeacon-new-mac", "mix", mac, mac, 0xFE95, data, None))
    return out


# ---- the other formats --------------------------------------------------------------------

_CUSTOM_CLASS = {
    "atc1441": "atc-pvvx",
    "pvvx_custom": "atc-pvvx",
    "pvvx_custom_encrypted": "atc-pvvx-encrypted",
    "atc1441_encrypted": "atc-pvvx-encrypted",
    "qingping": "qingping",
    "bthome_v2": "bthome-plain",
}


def real_other() -> list[Packet]:
    """The real captures of the other formats (ble_monitor's test packets, the BTHome
    specification's examples and captures, b-parasite captures)."""
    out = []
    for vec in _vectors("custom-formats-real.json")["vectors"]:
        klass = _CUSTOM_CLASS[vec["format"]]
        key = _key(vec["bindkey_hex"])
        if klass == "bthome-plain" and key is not None:
            klass = "bthome-encrypted"
        out.append(
            Packet(
                klass,
                "real",
                f"{vec['mac']}/{vec['bindkey_hex']}",
                vec["mac"],
                int(vec["service_uuid"], 16),
                bytes.fromhex(vec["data_hex"]),
                key,
            )
        )
    doc = _vectors("bthome-spec.json")
    mac = "54:48:E6:8F:80:A5"
    for vec in doc["v2"] + doc["v2_events"] + doc["v2_newer"]:
        out.append(
            Packet("bthome-plain", "real", mac, mac, 0xFCD2, bytes.fromhex(vec["data_hex"]), None)
        )
    for vec in doc["frames"]:
        if vec["service_uuid"] != "fcd2":
            continue  # BTHome v1 frames
        key = _key(vec["bindkey_hex"])
        out.append(
            Packet(
                "bthome-encrypted" if key else "bthome-plain",
                "real",
                f"{vec['mac']}/{vec['bindkey_hex']}",
                vec["mac"],
                0xFCD2,
                bytes.fromhex(vec["data_hex"]),
                key,
            )
        )
    for vec in _vectors("more-formats.json")["bparasite"]:
        out.append(
            Packet(
                "bparasite",
                "real",
                vec["mac"],
                vec["mac"],
                0x181A,
                bytes.fromhex(vec["data_hex"]),
                None,
            )
        )
    return out


def _mac_of(prefix: str, serial: int, rng: random.Random) -> str:
    return f"{prefix}:{serial >> 8 & 0xFF:02X}:{serial & 0xFF:02X}:{rng.randrange(256):02X}"


NEW_MAC_PACKETS = 3000


def custom_mix(count: int, rng: random.Random) -> list[Packet]:
    """ATC1441 / pvvx thermometers, half of each format, a quarter of them encrypted."""
    out = []
    devices = []
    for i in range(24):
        key = rng.randbytes(16) if i % 4 == 3 else None
        devices.append((_mac_of("A4:C1:38", 0x100 + i, rng), key, i % 2 == 0))
    for n in range(count):
        mac, key, atc = rng.choice(devices)
        temp = round(rng.uniform(15.0, 30.0), 1)
        hum = rng.randint(30, 70)
        batt = rng.randint(40, 100)
        if key is None and atc:
            data = build.atc1441_frame(mac, temp, hum, batt, rng.uniform(2.6, 3.1), n)
        elif key is None:
            volt = rng.uniform(2.6, 3.1)
            data = build.pvvx_frame(mac, temp, hum + 0.25, volt, batt, n, rng.randrange(4))
        elif atc:
            data = build.atc1441_encrypted_frame(mac, key, temp, hum, batt, n)
        else:
            data = build.pvvx_encrypted_frame(mac, key, temp, hum, batt, n, rng.randrange(4))
        klass = "atc-pvvx" if key is None else "atc-pvvx-encrypted"
        out.append(Packet(klass, "mix", mac, mac, 0x181A, data, key))
    return out


def bthome_mix(count: int, rng: random.Random) -> list[Packet]:
    """Shelly-like BTHome v2 traffic: 24 devices, half of them encrypted. Every frame of
    a device has the next packet id and the next counter (below 100), so decoders that
    skip repeated frames decode nearly all of them."""
    devices = []
    for i in range(24):
        mac = _mac_of("38:39:8F", i, rng)
        key = rng.randbytes(16) if i % 2 else None
        devices.append([mac, key, i % 3, rng.randrange(256), i % 4 == 0, 0])
    out = []
    for _ in range(count):
        device = rng.choice(devices)
        mac, key, kind, packet, mac_included, counter = device
        device[3] = packet = (packet + 1) & 0xFF
        device[5] = counter = (counter + 1) % 100
        objects: list[tuple[int, bytes]] = [(0x00, bytes((packet,))), (0x01, bytes((90,)))]
        if kind == 0:  # thermometer
            objects += [
                (0x02, struct.pack("<h", rng.randint(1500, 3000))),
                (0x03, struct.pack("<H", rng.randint(3000, 7000))),
            ]
        elif kind == 1:  # button
            objects.append((0x3A, bytes((rng.choice((1, 2, 4)),))))
        else:  # door with illuminance
            objects += [(0x05, rng.randint(0, 100000).to_bytes(3, "little")), (0x2D, b"\x01")]
        data = build.bthome_frame(
            objects, mac=mac, key=key, counter=counter, mac_included=mac_included
        )
        klass = "bthome-encrypted" if key else "bthome-plain"
        out.append(Packet(klass, "mix", mac, mac, 0xFCD2, data, key))
    return out


#: Qingping device types of the mix and what they send.
_QINGPING = ((0x01, "th"), (0x07, "th"), (0x0C, "th"), (0x09, "thp"), (0x12, "motion"))


def qingping_mix(count: int, rng: random.Random) -> list[Packet]:
    """CGG1 / CGD1 thermometers, CGP1W (with pressure), CGPR1 motion and light sensors."""
    devices = [
        (_mac_of("58:2D:34", 0x200 + i, rng), *_QINGPING[i % len(_QINGPING)]) for i in range(15)
    ]
    out = []
    for n in range(count):
        mac, dtype, kind = rng.choice(devices)
        items: list[tuple[int, bytes]] = []
        if kind in ("th", "thp"):
            temp = rng.randint(150, 300)
            items.append((0x01, struct.pack("<hH", temp, rng.randint(300, 700))))
            if kind == "thp":
                items.append((0x07, struct.pack("<H", rng.randint(9800, 10300))))
        elif n % 2:
            items.append(
                (0x08, bytes((rng.randint(0, 1),)) + rng.randint(0, 2000).to_bytes(3, "little"))
            )
        else:
            items.append((0x11, bytes((rng.randint(0, 1),))))
        if n % 5 == 0:
            items.append((0x02, bytes((rng.randint(40, 100),))))
        out.append(
            Packet(
                "qingping", "mix", mac, mac, 0xFDCD, build.qingping_frame(mac, dtype, items), None
            )
        )
    return out


def hhcc_mix(count: int, rng: random.Random) -> list[Packet]:
    """HHCCJCY10 plant sensors (the frame carries no MAC)."""
    macs = [_mac_of("DC:23:4D", 0x300 + i, rng) for i in range(6)]
    out = []
    for _ in range(count):
        mac = rng.choice(macs)
        data = build.hhccjcy10_frame(
            rng.randint(0, 80),
            round(rng.uniform(10, 30), 1),
            rng.randint(0, 50000),
            rng.randint(40, 100),
            rng.randint(0, 2000),
        )
        out.append(Packet("hhcc", "mix", mac, mac, 0xFD50, data, None))
    return out


def bparasite_mix(count: int, rng: random.Random) -> list[Packet]:
    """b-parasite protocol 2 frames, with and without illuminance."""
    devices = [(_mac_of("F0:CA:F0", 0x400 + i, rng), i % 2 == 0) for i in range(6)]
    out = []
    for n in range(count):
        mac, lux = rng.choice(devices)
        body = struct.pack(
            ">BBHhHH",
            0x20 | (0x01 if lux else 0),
            n & 0x0F,
            rng.randint(2600, 3100),
            rng.randint(1000, 3000),
            rng.randint(20000, 50000),
            rng.randint(10000, 60000),
        ) + bytes.fromhex(mac.replace(":", ""))
        if lux:
            body += struct.pack(">H", rng.randint(0, 20000))
        out.append(Packet("bparasite", "mix", mac, mac, 0x181A, body, None))
    return out


def all_packets(mix_size: int = 10_000, seed: int = 20240601) -> list[Packet]:
    """Every class: the real captures, the generated MiBeacon mix of ``mix_size`` and a
    generated mix of the other formats (``mix_size`` // 5 per format)."""
    rng = random.Random(seed + 1)
    other = mix_size // 5
    return [
        *real_mibeacon(),
        *mibeacon_mix(mix_size, seed),
        *new_mac_mix(NEW_MAC_PACKETS, rng),
        *real_other(),
        *custom_mix(other, rng),
        *bthome_mix(other, rng),
        *qingping_mix(other, rng),
        *hhcc_mix(other, rng),
        *bparasite_mix(other, rng),
    ]


def by_class(packets: Iterable[Packet]) -> dict[str, list[Packet]]:
    out: dict[str, list[Packet]] = {c: [] for c in CLASSES}
    for p in packets:
        out[p.klass].append(p)
    return out
