"""Hostile advertisements through the whole path: registry → accessories, never a crash."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from homekit_helpers import driver_args
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mihomekit.accessories import AccessoryOptions, DeviceAccessory
from mihomekit.decoders import build
from mihomekit.homekit import BridgeDriver
from mihomekit.mi32cfg import DeviceEntry
from mihomekit.registry import Registry

KEY = bytes.fromhex("0123456789abcdef0123456789abcdef")
ENTRIES = [
    DeviceEntry(mac="A4C138000001", pid=0x055B, key=KEY),  # encrypted thermometer
    DeviceEntry(mac="F82441000002", pid=0x07F6, key=None),  # motion, plain
    DeviceEntry(mac="F82441000003", pid=0x0153, key=None),  # remote
    DeviceEntry(mac="A4C138000004", pid=0x944A, key=None),  # pvvx
]
MACS = [e.display_mac for e in ENTRIES]
UUIDS = [0xFE95, 0x181A, 0xFDCD, 0xFCD2, 0x1234]


def _bridge(tmp_path: Path) -> tuple[Registry, list[DeviceAccessory]]:
    driver = BridgeDriver(loop=asyncio.new_event_loop(), **driver_args(tmp_path))
    registry = Registry()
    accessories = []
    for aid, entry in enumerate(ENTRIES, start=2):
        device = registry.add_entry(entry)
        accessories.append(DeviceAccessory(driver, device, aid=aid, options=AccessoryOptions()))
    return registry, accessories


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mac=st.sampled_from(MACS),
    uuid=st.sampled_from(UUIDS),
    data=st.binary(max_size=64),
)
def test_random_bytes_never_crash(tmp_path_factory: Any, mac: str, uuid: int, data: bytes) -> None:
    registry, _ = _bridge(tmp_path_factory.mktemp("h"))
    registry.handle_advertisement(mac, uuid, data, -50)
    assert registry.stats["listener_errors"] == 0
    # Random bytes never pass the AES-CCM tag: the encrypted device stays without values.
    assert registry.get("A4C138000001").values == {}  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(flip=st.integers(min_value=16, max_value=8 * 23 - 1), cut=st.integers(0, 22))
def test_bit_flipped_and_truncated_frames(tmp_path_factory: Any, flip: int, cut: int) -> None:
    registry, accessories = _bridge(tmp_path_factory.mktemp("f"))
    good = build.mibeacon_frame(
        0x055B, 1, [build.obj_temperature(21.5)], mac=MACS[0], key=KEY, ext_counter=1
    )
    # Bits from byte 2 on: product id, counter and MAC are in the nonce, the rest is
    # ciphertext, extended counter and MIC. (The frame control bytes are not covered by
    # the MIC: flipping a reserved bit there is undetectable by design.)
    assert len(good) == 23
    broken = bytearray(good)
    broken[flip // 8] ^= 1 << (flip % 8)
    registry.handle_advertisement(MACS[0], 0xFE95, bytes(broken))
    registry.handle_advertisement(MACS[0], 0xFE95, good[: len(good) - 1 - cut])
    assert registry.get(ENTRIES[0].mac).values == {}  # type: ignore[union-attr]
    # The intact frame still works afterwards.
    registry.handle_advertisement(MACS[0], 0xFE95, good)
    temp = accessories[0].get_service("TemperatureSensor").get_characteristic("CurrentTemperature")
    assert temp.value == 21.5
    assert registry.stats["listener_errors"] == 0
