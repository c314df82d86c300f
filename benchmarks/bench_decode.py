"""Decode throughput: mihomekit's decoder against xiaomi-ble (the Home Assistant parser),
and on BTHome packets against bthome-ble (Home Assistant's BTHome parser).

Two packet sets, both MiBeacon (service data UUID 0xFE95):

* **real**: the vectors of ``mibeacon-real.json`` that xiaomi-ble decodes (status ``ok``,
  ``empty`` or ``no_payload``), looped to about ``--packets``/2 decodes per category;
* **mix**: ``--packets`` generated advertisements from 37 devices: plain v2-v5
  thermometers, plant sensors, motion, door and remote buttons; AES-CCM v5 thermometers,
  door, leak and motion sensors; legacy v3 YLKG07YL dimmers with 12-byte keys. They are
  made with :mod:`mihomekit.decoders.build`, and every one of them is also decoded by
  xiaomi-ble on a fresh parser to check that both decoders read the same values.

The comparison is what a bridge does per advertisement: on our side one
``decode_advertisement(mac, uuid, data, key)`` call; on the xiaomi-ble side one
``XiaomiBluetoothDeviceData.update(service_info)`` call on that device's parser, created
once per device with its bind key and reused across packets, as Home Assistant does. The
``BluetoothServiceInfo`` objects are built before timing (Home Assistant builds them once
for all integrations), so they cost xiaomi-ble nothing here.

Each measurement alternates ours and xiaomi-ble, ``--reps`` times, after a warm-up pass;
the median (and best) wall time per packet is reported (``time.perf_counter_ns``).
Memory: ``tracemalloc`` in a fresh child process per decoder: the peak while decoding the
mix the first time (parser state, caches), what stays allocated afterwards, and the peak
of a second (warm) pass.

BTHome: the frames of ``tests/data/bthome-spec.json`` (the specification's examples, the
issue's captures, v1 and encrypted frames) plus a generated mix of Shelly-like devices
(plain and encrypted thermometers, buttons, door sensors, some with the MAC in the frame),
decoded by ours and by bthome-ble (one ``BTHomeBluetoothDeviceData(bindkey)`` per device,
reused) in the same run, alternating, as above. bthome-ble skips a frame whose packet id
it has just seen, and an encrypted frame whose counter went down (unless below 100); the
mix gives every frame of a device the next packet id and the next counter (below 100), so
it parses nearly all of them (the first frame of a device in each repetition can count as
a repeat).

Target: ours at least 4x faster than xiaomi-ble (and bthome-ble) overall and in each
category. A category
below target (or within 10 % of it) gets a cProfile (top 15 by own time) of our decoder.

    .venv/bin/python benchmarks/bench_decode.py            # about 20 s
    .venv/bin/python benchmarks/bench_decode.py --packets 50000 --reps 11
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import logging
import math
import pstats
import random
import statistics
import struct
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchlib import VECTORS_DIR, table, write_result
from bthome_ble import BTHomeBluetoothDeviceData  # type: ignore[import-untyped,unused-ignore]
from habluetooth import BluetoothServiceInfo, BluetoothServiceInfoBleak
from xiaomi_ble import XiaomiBluetoothDeviceData  # type: ignore[import-untyped,unused-ignore]

from mihomekit.decoders import build, crypto, decode_advertisement
from mihomekit.readings import DecodeResult

NAME = "decode"
TARGET_RATIO = 4.0
#: Categories under TARGET_RATIO * MARGIN are profiled too (a warning, not a failure).
MARGIN = 1.1
UUID_FE95 = 0xFE95
UUID_FE95_LONG = "0000fe95-0000-1000-8000-00805f9b34fb"
CATEGORIES = ("plain", "aes-ccm", "legacy")

# ---- packets --------------------------------------------------------------------------


@dataclass(slots=True)
class Packet:
    """One advertisement as both decoders get it."""

    category: str
    device: str  # MAC + key: the xiaomi-ble parser it goes to
    mac: str
    data: bytes
    key: bytes | None
    info: BluetoothServiceInfo = field(init=False)

    def __post_init__(self) -> None:
        self.info = BluetoothServiceInfo(
            "", self.mac, -60, {}, {UUID_FE95_LONG: self.data}, [UUID_FE95_LONG], "local"
        )


def category_of(encrypted: bool, version: int) -> str:
    if not encrypted:
        return "plain"
    return "aes-ccm" if version >= 4 else "legacy"


def real_packets() -> list[Packet]:
    """The real MiBeacon vectors that xiaomi-ble decodes."""
    with open(VECTORS_DIR / "mibeacon-real.json", encoding="utf-8") as handle:
        doc = json.load(handle)
    out = []
    for vec in doc["vectors"]:
        if vec["service_uuid"] != "fe95" or vec["status"] not in ("ok", "empty", "no_payload"):
            continue
        header = vec["header"]
        key = bytes.fromhex(vec["bindkey_hex"]) if vec["bindkey_hex"] else None
        out.append(
            Packet(
                category_of(bool(header["encrypted"]), int(header["version"])),
                f"{vec['mac']}/{vec['bindkey_hex']}",
                vec["mac"],
                bytes.fromhex(vec["data_hex"]),
                key,
            )
        )
    return out


Objects = list[tuple[int, bytes]]


@dataclass
class SimDevice:
    """A generated device: model, framing and what it sends."""

    name: str
    pid: int
    version: int
    key: bytes | None
    category: str
    make: Callable[[random.Random, int], Objects]
    mac: str = ""
    counter: int = 0

    def frame(self, rng: random.Random) -> bytes:
        self.counter += 1
        objects = self.make(rng, self.counter)
        return build.mibeacon_frame(
            self.pid,
            self.counter,
            objects,
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


def _devices(rng: random.Random) -> list[SimDevice]:
    def key16() -> bytes:
        return rng.randbytes(16)

    spec: list[tuple[int, SimDevice]] = [
        (3, SimDevice("LYWSDCGQ", 0x01AA, 2, None, "plain", _th)),
        (2, SimDevice("HHCCJCY01", 0x0098, 2, None, "plain", _flora)),
        (2, SimDevice("CGG1", 0x0347, 3, None, "plain", _th)),
        (2, SimDevice("YLYK01YL", 0x0153, 3, None, "plain", _remote)),
        (3, SimDevice("MJYD2S", 0x07F6, 4, None, "plain", _motion)),
        (1, SimDevice("CGH1", 0x03D6, 4, None, "plain", _door)),
        (2, SimDevice("LYWSD03MMC", 0x055B, 5, None, "plain", _lywsd03)),
        (8, SimDevice("LYWSD03MMC", 0x055B, 5, b"", "aes-ccm", _lywsd03)),
        (3, SimDevice("MCCGQ02HL", 0x098B, 5, b"", "aes-ccm", _door)),
        (2, SimDevice("SJWS01LM", 0x0863, 5, b"", "aes-ccm", _leak)),
        (2, SimDevice("RTCGQ02LM", 0x0A8D, 5, b"", "aes-ccm", _motion_enc)),
        (2, SimDevice("CGG1-ENCRYPTED", 0x0B48, 5, b"", "aes-ccm", _th)),
        (5, SimDevice("YLKG07YL", 0x03B6, 3, b"", "legacy", _dimmer)),
    ]
    devices = []
    serial = 0
    for count, template in spec:
        for _ in range(count):
            serial += 1
            mac = f"A4:C1:38:{serial >> 8 & 0xFF:02X}:{serial & 0xFF:02X}:{rng.randrange(256):02X}"
            key = None
            if template.key is not None:
                key = rng.randbytes(12) if template.category == "legacy" else key16()
            devices.append(
                SimDevice(
                    template.name,
                    template.pid,
                    template.version,
                    key,
                    template.category,
                    template.make,
                    mac=mac,
                    counter=rng.randrange(1000),
                )
            )
    return devices


#: Share of each category in the generated mix.
MIX_SHARE = {"plain": 0.40, "aes-ccm": 0.45, "legacy": 0.15}


def generated_mix(count: int, seed: int = 20240601) -> list[Packet]:
    rng = random.Random(seed)
    devices = _devices(rng)
    by_category = {c: [d for d in devices if d.category == c] for c in CATEGORIES}
    shares = [MIX_SHARE[c] for c in CATEGORIES]
    out = []
    for _ in range(count):
        category = rng.choices(CATEGORIES, shares)[0]
        device = rng.choice(by_category[category])
        data = device.frame(rng)
        key_hex = device.key.hex() if device.key else None
        out.append(Packet(category, f"{device.mac}/{key_hex}", device.mac, data, device.key))
    return out


# ---- agreement ------------------------------------------------------------------------

_NUMERIC = ("temperature", "humidity", "battery", "illuminance", "moisture", "conductivity")
_BINARY = {
    "motion": "motion",
    "opening": "opening",
    "moisture": "leak",
    "light": "light",
    "power": "power",
}
_REMOTE_BUTTONS = {"on": 1, "off": 2, "brightness": 3, "plus": 4, "M": 5, "min": 6}
_BY_COUNT = {1: "press", 2: "double_press", 3: "triple_press"}

Normal = tuple[tuple[tuple[str, Any], ...], tuple[tuple[Any, ...], ...]]


def _plain_key(key: Any) -> str:
    return str(getattr(key, "value", key))


def normalise_ours(result: DecodeResult) -> Normal:
    values = {k: v for k, v in result.values.items() if k in _NUMERIC or k in _BINARY.values()}
    events = []
    for ev in result.events:
        props = dict(ev.properties)
        events.append(
            (
                ev.button,
                ev.event,
                props.get("steps"),
                props.get("duration"),
                bool(props.get("pressed", False)),
            )
        )
    return tuple(sorted(values.items())), tuple(sorted(events))


def normalise_xiaomi(update: Any) -> Normal:
    values: dict[str, Any] = {}
    for dkey, sval in update.entity_values.items():
        name = _plain_key(dkey.key)
        if name in _NUMERIC:
            values[name] = sval.native_value
    for dkey, bval in update.binary_entity_values.items():
        name = _plain_key(dkey.key)
        if name in _BINARY:
            values[_BINARY[name]] = bval.native_value
    events = []
    for dkey, event in update.events.items():
        name = _plain_key(dkey.key)
        button = 1
        if name.startswith("button_"):
            button = _REMOTE_BUTTONS.get(name[len("button_") :], 0)
        kind = str(event.event_type)
        props = dict(event.event_properties or {})
        pressed = kind.endswith("_pressed")
        if pressed:
            kind = kind[: -len("_pressed")]
        if kind == "press" and "number_of_presses" in props:
            kind = _BY_COUNT.get(int(props["number_of_presses"]), kind)
        events.append((button, kind, props.get("steps"), props.get("duration"), pressed))
    return tuple(sorted(values.items())), tuple(sorted(events))


def agreement(packets: Sequence[Packet]) -> dict[str, Any]:
    """Decode every packet with ours and with a fresh xiaomi-ble parser; compare.

    A packet agrees when every value xiaomi-ble reports is reported by ours with the same
    value and the events are the same. Values only ours reports (documented differences,
    e.g. ``illuminance`` from 0x000F on every model) are counted apart, per model.
    """
    agree = Counter[str]()
    total = Counter[str]()
    extra = Counter[str]()
    examples: list[dict[str, Any]] = []
    for p in packets:
        result = decode_advertisement(p.mac, UUID_FE95, p.data, p.key)
        ours_values, ours_events = normalise_ours(result)
        their_values, their_events = normalise_xiaomi(
            XiaomiBluetoothDeviceData(p.key).update(p.info)
        )
        total[p.category] += 1
        ours_map, their_map = dict(ours_values), dict(their_values)
        for name in ours_map.keys() - their_map.keys():
            extra[f"{result.model}: {name}"] += 1
        same = all(ours_map.get(k, _ABSENT) == v for k, v in their_map.items())
        if same and ours_events == their_events:
            agree[p.category] += 1
        elif len(examples) < 10:
            examples.append(
                {
                    "category": p.category,
                    "model": result.model,
                    "mac": p.mac,
                    "data": p.data.hex(),
                    "ours": repr((ours_values, ours_events)),
                    "xiaomi_ble": repr((their_values, their_events)),
                }
            )
    return {
        "checked": sum(total.values()),
        "agree": sum(agree.values()),
        "by_category": {c: {"checked": total[c], "agree": agree[c]} for c in CATEGORIES},
        "values_only_ours_reports": dict(sorted(extra.items())),
        "disagreements": examples,
    }


_ABSENT = object()


# ---- timing ---------------------------------------------------------------------------


def _ours_items(packets: Sequence[Packet]) -> list[tuple[str, int, bytes, bytes | None]]:
    return [(p.mac, UUID_FE95, p.data, p.key) for p in packets]


def _xiaomi_items(
    packets: Sequence[Packet], parsers: dict[str, Any]
) -> list[tuple[Any, BluetoothServiceInfo]]:
    out = []
    for p in packets:
        parser = parsers.get(p.device)
        if parser is None:
            parser = parsers[p.device] = XiaomiBluetoothDeviceData(p.key)
        out.append((parser, p.info))
    return out


def time_ours(items: Sequence[tuple[str, int, bytes, bytes | None]]) -> int:
    decode = decode_advertisement
    start = time.perf_counter_ns()
    for mac, uuid, data, key in items:
        decode(mac, uuid, data, key)
    return time.perf_counter_ns() - start


def time_xiaomi(items: Sequence[tuple[Any, BluetoothServiceInfo]]) -> int:
    start = time.perf_counter_ns()
    for parser, info in items:
        parser.update(info)
    return time.perf_counter_ns() - start


def measure(packets: Sequence[Packet], reps: int) -> dict[str, Any]:
    """Median and best ns per packet for both decoders, alternating, after a warm-up."""
    ours_items = _ours_items(packets)
    xi_items = _xiaomi_items(packets, {})
    time_ours(ours_items)
    time_xiaomi(xi_items)
    ours_ns: list[float] = []
    xi_ns: list[float] = []
    n = len(packets)
    for _ in range(reps):
        gc.collect()
        ours_ns.append(time_ours(ours_items) / n)
        gc.collect()
        xi_ns.append(time_xiaomi(xi_items) / n)
    ours_med = statistics.median(ours_ns)
    xi_med = statistics.median(xi_ns)
    return {
        "packets": n,
        "ours_us_median": ours_med / 1000,
        "ours_us_best": min(ours_ns) / 1000,
        "xiaomi_us_median": xi_med / 1000,
        "xiaomi_us_best": min(xi_ns) / 1000,
        "ours_pps": 1e9 / ours_med,
        "xiaomi_pps": 1e9 / xi_med,
        "ratio_median": xi_med / ours_med,
        "ratio_best": min(xi_ns) / min(ours_ns),
    }


def _ccm_parts(p: Packet) -> tuple[bytes, bytes, bytes] | None:
    """(key, nonce, ciphertext+tag) of a v4/v5 encrypted frame with objects, else None."""
    data = p.data
    fc = data[0] | data[1] << 8
    if not fc & 0x0008 or fc >> 12 < 4 or not fc & 0x0040 or p.key is None:
        return None
    i = 5 + (6 if fc & 0x0010 else 0)
    if fc & 0x0020:
        i += 2 if data[i] & 0x20 else 1
    mac_le = bytes.fromhex(p.mac.replace(":", ""))[::-1]
    return p.key, mac_le + data[2:5] + data[-7:-4], data[i:-7] + data[-4:]


def decrypt_floor_us(packets: Sequence[Packet], reps: int) -> float | None:
    """µs per packet of the AES-CCM decryption alone (one cached cipher per key): the part
    of an encrypted decode that no Python code can remove."""
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    ciphers: dict[bytes, AESCCM] = {}
    items = []
    for p in packets:
        parts = _ccm_parts(p)
        if parts is None:
            continue
        key, nonce, sealed = parts
        cipher = ciphers.get(key)
        if cipher is None:
            cipher = ciphers[key] = AESCCM(key, tag_length=4)
        items.append((cipher, nonce, sealed))
    if not items:
        return None
    best: list[float] = []
    for _ in range(reps):
        start = time.perf_counter_ns()
        for cipher, nonce, sealed in items:
            cipher.decrypt(nonce, sealed, b"\x11")
        best.append((time.perf_counter_ns() - start) / len(items))
    return statistics.median(best) / 1000


def profile_ours(packets: Sequence[Packet], decodes: int = 50_000) -> str:
    items = _ours_items(packets)
    loops = max(1, decodes // max(1, len(items)))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(loops):
        time_ours(items)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def _repeat(packets: Sequence[Packet], at_least: int) -> list[Packet]:
    if not packets:
        return []
    return list(packets) * max(1, math.ceil(at_least / len(packets)))


# ---- BTHome against bthome-ble ------------------------------------------------------------

BTHOME_CATEGORIES = ("plain", "encrypted")


@dataclass(slots=True)
class BTHomePacket:
    """One BTHome advertisement as both decoders get it."""

    category: str
    device: str
    mac: str
    uuid: int
    data: bytes
    key: bytes | None
    info: BluetoothServiceInfoBleak = field(init=False)

    def __post_init__(self) -> None:
        long_uuid = f"0000{self.uuid:04x}-0000-1000-8000-00805f9b34fb"
        self.info = BluetoothServiceInfoBleak(
            name="bench",
            address=self.mac,
            rssi=-60,
            manufacturer_data={},
            service_data={long_uuid: self.data},
            service_uuids=[long_uuid],
            source="local",
            device=None,
            advertisement=None,
            connectable=False,
            time=0.0,
            tx_power=None,
        )


def bthome_spec_packets() -> list[BTHomePacket]:
    """Every frame of bthome-spec.json (v2 examples with MAC 54:48:E6:8F:80:A5)."""
    with open(VECTORS_DIR / "bthome-spec.json", encoding="utf-8") as handle:
        doc = json.load(handle)
    out = []
    mac = "54:48:E6:8F:80:A5"
    for vec in doc["v2"] + doc["v2_events"] + doc["v2_newer"]:
        out.append(BTHomePacket("plain", mac, mac, 0xFCD2, bytes.fromhex(vec["data_hex"]), None))
    for vec in doc["frames"]:
        key = bytes.fromhex(vec["bindkey_hex"]) if vec["bindkey_hex"] else None
        out.append(
            BTHomePacket(
                "encrypted" if key else "plain",
                f"{vec['mac']}/{vec['service_uuid']}",
                vec["mac"],
                int(vec["service_uuid"], 16),
                bytes.fromhex(vec["data_hex"]),
                key,
            )
        )
    return out


def bthome_mix(count: int, seed: int = 20240601) -> list[BTHomePacket]:
    """Generated Shelly-like BTHome v2 traffic: 24 devices, half of them encrypted."""
    rng = random.Random(seed)
    devices = []
    for i in range(24):
        mac = f"38:39:8F:{i >> 8 & 0xFF:02X}:{i & 0xFF:02X}:{rng.randrange(256):02X}"
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
        out.append(
            BTHomePacket("encrypted" if key else "plain", f"{mac}/{key!r}", mac, 0xFCD2, data, key)
        )
    return out


def measure_bthome(packets: Sequence[BTHomePacket], reps: int) -> dict[str, Any]:
    """Median and best ns per packet for ours and bthome-ble, alternating, after a warm-up."""
    ours_items = [(p.mac, p.uuid, p.data, p.key) for p in packets]
    parsers: dict[str, Any] = {}
    theirs_items = []
    for p in packets:
        parser = parsers.get(p.device)
        if parser is None:
            parser = parsers[p.device] = BTHomeBluetoothDeviceData(p.key)
        theirs_items.append((parser, p.info))
    time_ours(ours_items)
    time_xiaomi(theirs_items)  # the same loop: parser.update(info)
    ours_ns: list[float] = []
    theirs_ns: list[float] = []
    n = len(packets)
    for _ in range(reps):
        gc.collect()
        ours_ns.append(time_ours(ours_items) / n)
        gc.collect()
        theirs_ns.append(time_xiaomi(theirs_items) / n)
    ours_med = statistics.median(ours_ns)
    theirs_med = statistics.median(theirs_ns)
    return {
        "packets": n,
        "distinct_packets": len({(p.mac, p.data) for p in packets}),
        "ours_us_median": ours_med / 1000,
        "bthome_ble_us_median": theirs_med / 1000,
        "ours_pps": 1e9 / ours_med,
        "bthome_ble_pps": 1e9 / theirs_med,
        "ratio_median": theirs_med / ours_med,
        "ratio_best": min(theirs_ns) / min(ours_ns),
    }


def bthome_section(count: int, reps: int, seed: int) -> dict[str, dict[str, Any]]:
    """Throughput rows for the BTHome packet sets, printed as a table."""
    from importlib.metadata import version

    results: dict[str, dict[str, Any]] = {}
    for set_name, packets in (("spec", bthome_spec_packets()), ("mix", bthome_mix(count, seed))):
        for group in ("all", *BTHOME_CATEGORIES):
            subset = [p for p in packets if group in ("all", p.category)]
            if subset:
                results[f"bthome-{set_name}/{group}"] = measure_bthome(
                    _repeat(subset, max(2000, count // 2)), reps
                )
    rows = [
        [
            name,
            r["distinct_packets"],
            r["packets"],
            r["ours_us_median"],
            r["bthome_ble_us_median"],
            f"x{r['ratio_median']:.1f}",
            f"x{r['ratio_best']:.1f}",
            "yes" if r["ratio_median"] >= TARGET_RATIO else "NO",
        ]
        for name, r in results.items()
    ]
    print(f"\nBTHome against bthome-ble {version('bthome-ble')}")
    print(
        table(
            [
                "set/category",
                "distinct",
                "decodes",
                "ours us/pkt",
                "bthome-ble us/pkt",
                "ratio(med)",
                "ratio(best)",
                ">=x4",
            ],
            rows,
        )
    )
    return results


# ---- memory (child process) -----------------------------------------------------------


def memory_child(which: str, count: int) -> dict[str, int]:
    """Run in a fresh interpreter: tracemalloc figures for one decoder on the mix."""
    packets = generated_mix(count)
    crypto.ccm4_cache.clear()  # the frame builders filled it; start cold
    ours_items = _ours_items(packets)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    if which == "ours":
        time_ours(ours_items)
    else:
        xi_items = _xiaomi_items(packets, {})  # one parser per device, created here
        time_xiaomi(xi_items)
    gc.collect()
    current, first_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    warm_base = tracemalloc.get_traced_memory()[0]
    if which == "ours":
        time_ours(ours_items)
    else:
        time_xiaomi(xi_items)
    warm_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "first_pass_peak": first_peak - base,
        "retained_after_first_pass": current - base,
        "warm_pass_peak": warm_peak - warm_base,
    }


def memory(count: int) -> dict[str, dict[str, int]]:
    out = {}
    for which in ("ours", "xiaomi"):
        proc = subprocess.run(
            [sys.executable, __file__, "--memory-child", which, "--packets", str(count)],
            check=True,
            capture_output=True,
            text=True,
        )
        out[which] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# ---- main -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=10_000, help="size of the generated mix")
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions per measurement")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--profile", action="store_true", help="profile every category")
    parser.add_argument("--memory-child", choices=("ours", "xiaomi"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bthome_ble").setLevel(logging.ERROR)  # replay warnings of the loops
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.packets)))
        return 0

    started = time.monotonic()
    real = real_packets()
    mix = generated_mix(args.packets, args.seed)
    print(
        f"real vectors: {len(real)} ({dict(Counter(p.category for p in real))}); "
        f"generated mix: {len(mix)} ({dict(Counter(p.category for p in mix))})"
    )

    agree = agreement(mix)
    for label, ag in (("the generated mix", agree),):
        print(
            f"agreement with xiaomi-ble on {label}: {ag['agree']}/{ag['checked']} ("
            + ", ".join(f"{c} {v['agree']}/{v['checked']}" for c, v in ag["by_category"].items())
            + ")"
        )
        for ex in ag["disagreements"]:
            print("  differs:", ex)
        if ag["values_only_ours_reports"]:
            print(
                "  values only ours reports (not counted as disagreement): "
                + ", ".join(f"{k} x{n}" for k, n in ag["values_only_ours_reports"].items())
            )

    results: dict[str, dict[str, Any]] = {}
    sets = [("real", real), ("mix", mix)]
    for set_name, packets in sets:
        groups = [("all", list(packets))] + [
            (c, [p for p in packets if p.category == c]) for c in CATEGORIES
        ]
        for group, subset in groups:
            if not subset:
                continue
            if set_name == "real":
                subset = _repeat(subset, max(2000, args.packets // 2))
            results[f"{set_name}/{group}"] = measure(subset, args.reps)
            if group == "aes-ccm":
                results[f"{set_name}/{group}"]["decrypt_only_us"] = decrypt_floor_us(
                    subset, args.reps
                )
            results[f"{set_name}/{group}"]["distinct_packets"] = len(
                {(p.mac, p.data) for p in subset}
            )

    rows = []
    for name, r in results.items():
        rows.append(
            [
                name,
                r["distinct_packets"],
                r["packets"],
                r["ours_us_median"],
                r["ours_pps"],
                r["xiaomi_us_median"],
                r["xiaomi_pps"],
                f"x{r['ratio_median']:.1f}",
                f"x{r['ratio_best']:.1f}",
                "yes" if r["ratio_median"] >= TARGET_RATIO else "NO",
            ]
        )
    print()
    print(
        table(
            [
                "set/category",
                "distinct",
                "decodes",
                "ours us/pkt",
                "ours pkt/s",
                "xiaomi us/pkt",
                "xiaomi pkt/s",
                "ratio(med)",
                "ratio(best)",
                ">=x4",
            ],
            rows,
        )
    )

    bthome = bthome_section(args.packets, args.reps, args.seed)
    mem = memory(args.packets)
    mem_rows = [
        [
            kind,
            mem["ours"][kind],
            mem["xiaomi"][kind],
            f"x{mem['xiaomi'][kind] / max(1, mem['ours'][kind]):.1f}",
        ]
        for kind in ("first_pass_peak", "retained_after_first_pass", "warm_pass_peak")
    ]
    print()
    print(f"tracemalloc over one decode of the {len(mix)}-packet mix (bytes; fresh process each)")
    print(table(["", "ours", "xiaomi-ble", "xiaomi/ours"], mem_rows))

    below = [name for name, r in (results | bthome).items() if r["ratio_median"] < TARGET_RATIO]
    marginal = [
        name
        for name, r in results.items()
        if TARGET_RATIO <= r["ratio_median"] < TARGET_RATIO * MARGIN
    ]
    profiles: dict[str, str] = {}
    targets = list(results) if args.profile else below + marginal
    for name in [t for t in targets if t in results]:
        set_name, group = name.split("/")
        packets = real if set_name == "real" else mix
        subset = packets if group == "all" else [p for p in packets if p.category == group]
        profiles[name] = profile_ours(subset)
    print()
    if below:
        print(
            f"BELOW TARGET (x{TARGET_RATIO:g}): "
            + ", ".join(f"{n} x{(results | bthome)[n]['ratio_median']:.2f}" for n in below)
        )
    else:
        print(f"all categories at or above the x{TARGET_RATIO:g} target")
    if marginal:
        print(
            f"within {MARGIN - 1:.0%} of the target (profiled below): "
            + ", ".join(f"{n} x{results[n]['ratio_median']:.2f}" for n in marginal)
        )
    for name, text in profiles.items():
        print(f"\ncProfile of our decoder, {name} (top 15 by own time):\n{text}")
    for name, r in results.items():
        if r.get("decrypt_only_us"):
            print(
                f"{name}: AES-CCM decrypt alone {r['decrypt_only_us']:.2f} us/packet of "
                f"ours {r['ours_us_median']:.2f} / xiaomi-ble {r['xiaomi_us_median']:.2f}"
            )

    path = write_result(
        NAME,
        {
            "params": {
                "packets": args.packets,
                "reps": args.reps,
                "seed": args.seed,
                "mix_share": MIX_SHARE,
            },
            "target_ratio": TARGET_RATIO,
            "agreement": agree,
            "throughput": results,
            "bthome_throughput": bthome,
            "memory_bytes": mem,
            "below_target": below,
            "marginal": marginal,
            "profiles": profiles,
            "elapsed_s": round(time.monotonic() - started, 1),
        },
    )
    print(f"\nwrote {path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
