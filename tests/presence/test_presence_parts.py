"""The pure parts of presence: the Core Specification's ``ah`` and resolvable private
addresses, iBeacon advertisements, and the room choice with hysteresis."""

from __future__ import annotations

import os

import pytest
from presence_helpers import ibeacon_data, make_rpa

from mihomekit.presence.ibeacon import APPLE, IBeacon, parse_ibeacon, parse_ibeacon_id
from mihomekit.presence.rooms import RoomChooser
from mihomekit.presence.rpa import IrkResolver, ah

#: Core Specification Vol 3, Part H, Appendix D.7 (ah random address hash function).
SPEC_IRK = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")
SPEC_PRAND = bytes.fromhex("708194")
SPEC_HASH = bytes.fromhex("0dfbaa")


def test_ah_gives_the_specification_sample() -> None:
    assert ah(SPEC_IRK, SPEC_PRAND) == SPEC_HASH


def test_addresses_made_with_an_irk_resolve_with_it_only() -> None:
    irk, other = os.urandom(16), os.urandom(16)
    resolver = IrkResolver(irk)
    for seed in (0, 1, 0x123456, 0x3FFFFF):
        rpa = make_rpa(irk, seed)
        assert rpa[0] in "4567"
        assert resolver.resolves(rpa)
        assert resolver.resolves(rpa.lower())
        assert not IrkResolver(other).resolves(rpa)
    rpa = make_rpa(irk, 77)
    # the same hash with other top bits is not a resolvable private address
    assert not resolver.resolves("C" + rpa[1:])
    assert not resolver.resolves("not a mac")
    with pytest.raises(ValueError):
        IrkResolver(b"short")


def test_ibeacons_are_read_and_matched() -> None:
    data = ibeacon_data("FDA50693-A4E2-4FB1-AFCF-C6EB07647825", 10, 7, -62)
    beacon = parse_ibeacon({APPLE: data})
    assert beacon == IBeacon("fda50693-a4e2-4fb1-afcf-c6eb07647825", 10, 7, -62)
    assert beacon.id == "fda50693-a4e2-4fb1-afcf-c6eb07647825:10:7"
    assert parse_ibeacon({APPLE: b"\x10\x05" + data[2:]}) is None  # Apple, not an iBeacon
    assert parse_ibeacon({APPLE: data[:20]}) is None
    assert parse_ibeacon({0x0059: data}) is None
    full = parse_ibeacon_id("fda50693-a4e2-4fb1-afcf-c6eb07647825:10:7")
    assert full.matches(beacon) and str(full) == beacon.id
    assert parse_ibeacon_id("FDA50693-A4E2-4FB1-AFCF-C6EB07647825").matches(beacon)
    assert not parse_ibeacon_id("fda50693-a4e2-4fb1-afcf-c6eb07647825:10:8").matches(beacon)
    for bad in (
        "nope",
        "fda50693-a4e2-4fb1-afcf-c6eb07647825:x",
        "fda50693-a4e2-4fb1-afcf-c6eb07647825:1:70000",
    ):
        with pytest.raises(ValueError):
            parse_ibeacon_id(bad)


def test_the_room_moves_only_for_a_clearly_louder_receiver() -> None:
    rooms = RoomChooser(margin=6.0, window=30.0, smoothing=0.2)
    assert rooms.room is None
    assert rooms.heard("kitchen", -70, 0.0) == "kitchen"
    assert rooms.heard("kitchen", None, 0.5) == "kitchen"  # no RSSI: nothing learnt
    # the hall is a little louder: no flapping
    for t in range(1, 10):
        assert rooms.heard("hall", -68, float(t)) == "kitchen"
        assert rooms.heard("kitchen", -70, float(t)) == "kitchen"
    # one loud advertisement moves the average only part way
    assert rooms.heard("hall", -50, 10.0) == "kitchen"
    # the hall stays clearly louder: it takes over
    for t in range(11, 14):
        rooms.heard("hall", -50, float(t))
    assert rooms.room == "hall"
    # the hall falls silent: after the window the kitchen (still heard) takes over
    assert rooms.heard("kitchen", -80, 50.0) == "kitchen"
