"""The advertisement tap: interests, their union, who gets what, and watchers that fail;
and the passive-scanning patterns and AD parsing that feed it."""

from __future__ import annotations

import logging

import pytest

from mihomekit.sources.ble import FLAGS_VALUES, OR_PATTERNS, patterns_for
from mihomekit.sources.esphome.ad import build_ad, parse_fields
from mihomekit.sources.mqtt_receivers.formats import parse_gateway_message, parse_relay_message
from mihomekit.tap import EVERYTHING, AdvertisementTap, Interest, RawAdvertisement, full_uuid

TILE = "0000feed-0000-1000-8000-00805f9b34fb"


def test_full_uuid_forms() -> None:
    for form in (0xFEED, "feed", "0xFEED", "0000feed", TILE.upper()):
        assert full_uuid(form) == TILE
    assert (
        full_uuid("6E400001-B5A3-F393-E0A9-E50E24DCCA9E") == "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
    )
    for bad in ("fee", "xyz1", -1):
        with pytest.raises(ValueError):
            full_uuid(bad)


def test_interests_match_and_join() -> None:
    tag = RawAdvertisement("C8:FD:19:12:34:56", -60, service_uuids=(TILE,))
    apple = RawAdvertisement("D0:11:22:33:44:55", manufacturer_data={0x004C: b"\x02\x15"})
    phone = RawAdvertisement("5A:11:22:33:44:55")
    by_mac = Interest.of(addresses=["c8-fd-19-12-34-56"])
    by_uuid = Interest.of(service_uuids=[0xFEED])
    by_company = Interest.of(company_ids=[0x004C])
    private = Interest(private_addresses=True)
    assert [i.matches(tag) for i in (by_mac, by_uuid, by_company, private)] == [1, 1, 0, 0]
    assert [i.matches(apple) for i in (by_mac, by_uuid, by_company, private)] == [0, 0, 1, 0]
    assert [i.matches(phone) for i in (by_mac, by_uuid, by_company, private)] == [0, 0, 0, 1]
    union = by_uuid | by_company
    assert union.matches(tag) and union.matches(apple) and not union.matches(phone)
    assert not union.needs_any_advertisement and (union | by_mac).needs_any_advertisement
    assert Interest().empty and not by_mac.empty and EVERYTHING.matches(phone)
    with pytest.raises(ValueError):
        Interest.of(addresses=["nope"])


def test_the_tap_calls_the_watchers_that_want_it(caplog: pytest.LogCaptureFixture) -> None:
    tap = AdvertisementTap()
    assert tap.for_sources() is None  # nobody watches: radios get no tap
    got: list[str] = []
    stop = tap.watch(lambda adv: got.append(adv.mac), Interest.of(addresses=["AA:AA:AA:AA:AA:AA"]))

    def broken(adv: RawAdvertisement) -> None:
        raise RuntimeError("broken watcher")

    tap.watch(broken, EVERYTHING, name="broken")
    assert tap.for_sources() is tap and tap.interest.everything
    caplog.set_level(logging.DEBUG)
    for mac in ("AA:AA:AA:AA:AA:AA", "BB:BB:BB:BB:BB:BB", "AA:AA:AA:AA:AA:AA"):
        tap.feed(RawAdvertisement(mac))
    assert got == ["AA:AA:AA:AA:AA:AA"] * 2
    assert tap.fed == 3 and tap.errors == 3
    logged = [r for r in caplog.records if "broken" in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.ERROR, logging.DEBUG, logging.DEBUG]
    stop()
    assert tap.interest == EVERYTHING
    tap.feed(RawAdvertisement("AA:AA:AA:AA:AA:AA"))
    assert len(got) == 2


def test_passive_patterns_for_what_is_watched() -> None:
    assert patterns_for(Interest()) == ()
    flags = patterns_for(Interest.of(addresses=["C8:FD:19:12:34:56"]))
    assert [(p.start_position, int(p.ad_data_type), p.content_of_pattern) for p in flags] == [
        (0, 0x01, bytes((value,))) for value in FLAGS_VALUES
    ]
    apple = patterns_for(Interest.of(company_ids=[0x004C], service_uuids=[0xFEED]))
    seen = {(int(p.ad_data_type), p.content_of_pattern) for p in apple}
    assert seen == {
        (0xFF, b"\x4c\x00"),
        (0x16, b"\xed\xfe"),
        (0x03, b"\xed\xfe"),
        (0x02, b"\xed\xfe"),
    }
    long = patterns_for(Interest.of(service_uuids=["6e400001-b5a3-f393-e0a9-e50e24dcca9e"]))
    assert {int(p.ad_data_type) for p in long} == {0x21, 0x07, 0x06}
    assert all(len(p.content_of_pattern) == 16 for p in long)
    assert len(OR_PATTERNS) >= 10  # the sensors' patterns stay as they are


def test_ad_fields_for_the_tap() -> None:
    data = build_ad({0xFEED: b"\x01"}, manufacturer_data={0x004C: b"\x02\x15"}, name="Tile")
    data += bytes([3, 0x03, 0xED, 0xFE]) + bytes([2, 0x0A, 0xF4]) + bytes([9, 0xFF])  # cut off
    fields = parse_fields(data)
    assert fields.name == "Tile" and fields.service_uuids == (TILE,)
    assert fields.service_data == {TILE: b"\x01"}
    assert fields.manufacturer_data == {0x004C: b"\x02\x15"}
    assert parse_fields(b"") == parse_fields(bytes(2000))
    assert parse_fields(bytes([0, 0, 2, 0x09, 0xFF])).name == "\ufffd"


def test_mqtt_messages_whole_for_the_tap() -> None:
    message = (
        b'{"id": "C8:FD:19:12:34:56", "rssi": -70, "name": "Tile", "manufacturerdata": "4c000215"}'
    )
    parsed = parse_gateway_message("home/kitchen/BTtoMQTT/C8FD19123456", message, whole=True)
    assert parsed.kind == "ignored" and parsed.raw is not None
    assert parsed.raw.receiver == "kitchen" and parsed.raw.name == "Tile"
    assert parsed.raw.manufacturer_data == {0x004C: b"\x02\x15"} and parsed.raw.rssi == -70
    assert parse_gateway_message("home/k/BTtoMQTT/x", message).raw is None
    relay = b'{"mac": "C8:FD:19:12:34:56", "service_data": {"feed": "01"}, "manufacturer_data": {}}'
    parsed = parse_relay_message("mihomekit/relay/hall/adv/C8FD19123456", relay, whole=True)
    assert parsed.raw is not None and parsed.raw.service_data == {TILE: b"\x01"}
