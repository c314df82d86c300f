"""Reading Theengs Gateway, OpenMQTTGateway and relay messages (pure functions)."""

from __future__ import annotations

import json

import pytest

from mihomekit.sources import Advertisement
from mihomekit.sources.mqtt_receivers.formats import (
    MAX_PAYLOAD,
    BadMessage,
    parse_gateway_message,
    parse_relay_message,
    parse_uuid16,
    receiver_from_topic,
    relay_payload,
    relay_raw_payload,
    relay_status_topic,
    relay_topic,
)
from mihomekit.tap import RawAdvertisement

# A real LYWSD03MMC MiBeacon v5 frame and a real Qingping frame (tests/helpers/fake_bleak.py).
MAC = "A4:C1:38:B4:94:4C"
FRAME = bytes.fromhex("50305b05034c94b438c1a40d10041001ea01")
QINGPING = bytes.fromhex("080cbf6552342d580104f100ad01020125")


def theengs(**fields: object) -> bytes:
    body = {"id": MAC, "rssi": -71, "name": "LYWSD03MMC", **fields}
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "uuid", ["fe95", "0xfe95", "0xFE95", "0000fe95-0000-1000-8000-00805f9b34fb", "FE95"]
)
def test_theengs_uuid_spellings(uuid: str) -> None:
    parsed = parse_gateway_message(
        "home/TheengsGateway/BTtoMQTT/A4C138B4944C",
        theengs(servicedatauuid=uuid, servicedata=FRAME.hex()),
    )
    assert parsed.kind == "advertisement"
    assert parsed.receiver == "TheengsGateway"
    assert parsed.advertisement == Advertisement(MAC, {0xFE95: FRAME}, -71, "TheengsGateway")


def test_openmqttgateway_with_pubadvdata() -> None:
    payload = json.dumps(
        {
            "id": "58:2d:34:52:65:bf",  # lower case in older firmware
            "mac_type": 0,
            "adv_type": 0,
            "rssi": -93,
            "servicedata": QINGPING.hex(),
            "servicedatauuid": "0xfdcd",
        }
    ).encode()
    parsed = parse_gateway_message("home/OMG_ESP32_BLE/BTtoMQTT/582D345265BF", payload)
    assert parsed.advertisement == Advertisement(
        "58:2D:34:52:65:BF", {0xFDCD: QINGPING}, -93, "OMG_ESP32_BLE"
    )


def test_decoded_only_and_unrelated_messages() -> None:
    decoded = theengs(brand="Xiaomi", model="LYWSD03MMC", model_id="LYWSD03MMC", tempc=21.5)
    assert parse_gateway_message("home/gw/BTtoMQTT/X", decoded).kind == "no_service_data"
    phone = json.dumps({"id": "11:22:33:44:55:66", "rssi": -80, "manufacturerdata": "4c0010"})
    assert parse_gateway_message("home/gw/BTtoMQTT/X", phone.encode()).kind == "ignored"
    other_uuid = theengs(servicedatauuid="fe2c", servicedata="00")
    assert parse_gateway_message("home/gw/BTtoMQTT/X", other_uuid).kind == "ignored"
    vendor = theengs(servicedatauuid="6e400001-b5a3-f393-e0a9-e50e24dcca9e", servicedata="00")
    assert parse_gateway_message("home/gw/BTtoMQTT/X", vendor).kind == "ignored"
    lwt = parse_gateway_message("home/gw/LWT", b"offline")
    assert (lwt.kind, lwt.receiver, lwt.online) == ("status", "gw", False)


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"{not json", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        (b"[" * 100_000 + b"]" * 100_000, "too_large"),
        (b"[" * 2000 + b"]" * 2000, "bad_json"),  # deep nesting: RecursionError
        (b"[1, 2]", "wrong_type"),
        (b'"text"', "wrong_type"),
        (b"{}", "wrong_type"),  # no id
        (json.dumps({"id": 5}).encode(), "wrong_type"),
        (json.dumps({"id": "not a mac"}).encode(), "wrong_type"),
        (theengs(rssi="-70", servicedatauuid="fe95", servicedata="00"), "wrong_type"),
        (theengs(rssi=True), "wrong_type"),
        (theengs(servicedatauuid="fe95", servicedata="zz"), "wrong_type"),
        (theengs(servicedatauuid="fe95", servicedata=["00"]), "wrong_type"),
        (theengs(servicedatauuid=65173, servicedata="00"), "wrong_type"),
        (theengs(manufacturerdata=12), "wrong_type"),
        (b" " * (MAX_PAYLOAD + 1), "too_large"),
    ],
)
def test_unusable_gateway_messages(payload: bytes, kind: str) -> None:
    with pytest.raises(BadMessage) as info:
        parse_gateway_message("home/gw/BTtoMQTT/X", payload)
    assert info.value.kind == kind
    assert str(info.value)


def test_relay_round_trip() -> None:
    adv = Advertisement(MAC, {0xFE95: FRAME, 0xFDCD: QINGPING}, -64, "garage", 12.5)
    topic = relay_topic("garage", MAC)
    assert topic == "mihomekit/relay/garage/adv/A4C138B4944C"
    assert relay_status_topic("garage") == "mihomekit/relay/garage/status"
    payload = relay_payload(adv, "garage", 1764412345.1234)
    assert json.loads(payload) == {
        "v": 1,
        "receiver": "garage",
        "mac": MAC,
        "rssi": -64,
        "time": 1764412345.123,
        "service_data": {"fe95": FRAME.hex(), "fdcd": QINGPING.hex()},
        "manufacturer_data": {},
    }
    parsed = parse_relay_message(topic, payload)
    assert parsed.kind == "advertisement"
    assert parsed.advertisement == Advertisement(
        MAC, {0xFE95: FRAME, 0xFDCD: QINGPING}, -64, "garage"
    )
    status = parse_relay_message("mihomekit/relay/garage/status", b"online")
    assert (status.kind, status.receiver, status.online) == ("status", "garage", True)


def test_relay_whole_advertisement_round_trip() -> None:
    """What a relay forwards for ``[[presence]]``: every service data (a vendor's 128-bit
    UUID in full) and every manufacturer's data come back whole on the bridge."""
    vendor = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
    ibeacon = bytes.fromhex("0215fda50693a4e24fb1afcfc6eb0764782500010002c5")
    adv = RawAdvertisement(
        "4A:11:22:33:44:55",
        -58,
        "hall",
        3.0,
        service_data={"0000feaa-0000-1000-8000-00805f9b34fb": b"\x10", vendor: b"\x01\x02"},
        manufacturer_data={0x004C: ibeacon, 0x0059: b"\x01"},
    )
    payload = relay_raw_payload(adv, "hall", 1764412345.5)
    body = json.loads(payload)
    assert body["service_data"] == {"feaa": "10", vendor: "0102"}
    assert body["manufacturer_data"] == {"004c": ibeacon.hex(), "0059": "01"}
    parsed = parse_relay_message(relay_topic("hall", adv.mac), payload, whole=True)
    assert parsed.kind == "ignored"  # no sensor data: for the advertisement tap only
    assert parsed.raw is not None
    assert (parsed.raw.mac, parsed.raw.rssi, parsed.raw.receiver) == (adv.mac, -58, "hall")
    assert dict(parsed.raw.service_data) == dict(adv.service_data)
    assert dict(parsed.raw.manufacturer_data) == dict(adv.manufacturer_data)


@pytest.mark.parametrize(
    "body",
    [
        {"mac": MAC, "service_data": []},
        {"mac": MAC, "service_data": {"fe95": 5}},
        {"mac": MAC, "receiver": 7, "service_data": {}},
        {"mac": MAC, "receiver": "", "service_data": {}},
        {"mac": MAC, "manufacturer_data": {"xyz": "00"}},
        {"mac": MAC, "manufacturer_data": {"zzzz": "00"}},
        {"rssi": -50},
    ],
)
def test_unusable_relay_messages(body: dict[str, object]) -> None:
    with pytest.raises(BadMessage):
        parse_relay_message("mihomekit/relay/x/adv/A", json.dumps(body).encode())


def test_helpers() -> None:
    assert receiver_from_topic("home/gw1/BTtoMQTT/A4C138B4944C") == "gw1"
    assert receiver_from_topic("mihomekit/relay/pi2/adv/A4C138B4944C") == "pi2"
    assert receiver_from_topic("ble/A4C138B4944C") == "ble"
    assert parse_uuid16("0x181a") == 0x181A
    assert parse_uuid16("fe9") is None
    assert parse_uuid16("wxyz") is None
