"""The JSON that remote BLE receivers publish over MQTT, read (and, for relays, written).

Pure functions: no I/O, no clock. Each reader turns one message (topic, payload) into a
:class:`Parsed` result or raises :class:`BadMessage` saying why it is unusable.

* Theengs Gateway, ``home/<gateway>/BTtoMQTT/<MAC>``:
  ``{"id":"A4:C1:38:11:22:33","rssi":-71,"servicedatauuid":"fe95","servicedata":"5020…"}``
  (``servicedatauuid`` also as ``0xfe95`` or the 128-bit form; ``manufacturerdata`` is
  the company id, little-endian, then the data).
* OpenMQTTGateway: the same keys with ``pubadvdata`` on (``servicedatauuid`` ``0xfdcd``).
* mihomekit relays, ``mihomekit/relay/<receiver>/adv/<MAC>``: :func:`relay_payload`.

Both gateways publish decoded values only unless told otherwise; such messages come back
as ``Parsed(kind="no_service_data")`` so that the source can explain the setting once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mihomekit.mi32cfg import normalize_mac
from mihomekit.sources import SENSOR_COMPANY_IDS, SENSOR_SERVICE_UUIDS, Advertisement
from mihomekit.tap import RawAdvertisement, full_uuid
from mihomekit.vocabulary import in_physical_range

#: Bigger messages are dropped unread (a Theengs message is a few hundred bytes).
MAX_PAYLOAD = 4096
#: Relay topics: ``<RELAY_ROOT>/<receiver id>/status`` and ``…/adv/<MAC, 12 hex digits>``.
RELAY_ROOT = "mihomekit/relay"
RELAY_VERSION = 1
_BASE_UUID_TAIL = "-0000-1000-8000-00805f9b34fb"
_WANTED_UUIDS = frozenset(SENSOR_SERVICE_UUIDS)
#: Keys that only a gateway's own decoder adds: their presence without raw data means the
#: raw data was stripped.
_DECODED_KEYS = frozenset(("model", "model_id", "brand", "tempc", "hum", "batt", "type"))
_STATUS_PAYLOADS = frozenset((b"online", b"offline"))

ParsedKind = Literal["advertisement", "ignored", "no_service_data", "status"]
BadKind = Literal["too_large", "bad_json", "wrong_type"]


class BadMessage(ValueError):
    """A message that cannot be used; ``kind`` is what went wrong, the text says how."""

    def __init__(self, kind: BadKind, reason: str) -> None:
        super().__init__(reason)
        self.kind: BadKind = kind


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a message held.

    ``advertisement`` for kind ``"advertisement"``; ``"ignored"``: nothing a sensor
    decoder reads (a phone, a beacon); ``"no_service_data"``: decoded values without the
    raw data; ``"status"``: a receiver's online/offline message (``online`` says which).
    ``raw``: the whole advertisement (for the advertisement tap), when asked for with
    ``whole=True`` and the message carried one.
    """

    kind: ParsedKind
    receiver: str
    advertisement: Advertisement | None = None
    online: bool | None = None
    raw: RawAdvertisement | None = None
    #: Numbers of the message left out for being outside their physical range (``rssi``).
    out_of_range: tuple[str, ...] = ()


def receiver_from_topic(topic: str) -> str:
    """The gateway id in a topic: the level before ``BTtoMQTT`` or ``LWT``
    (``home/<id>/BTtoMQTT/…``), the level after ``relay`` for relays, else the first level."""
    levels = topic.split("/")
    for marker, offset in (("BTtoMQTT", -1), ("LWT", -1), ("relay", 1)):
        if marker in levels:
            index = levels.index(marker) + offset
            if 0 <= index < len(levels) and levels[index]:
                return levels[index]
    return levels[0] or "mqtt"


def parse_uuid16(value: Any) -> int | None:
    """A 16-bit service UUID from ``"fe95"``, ``"0xfe95"``, ``"0000fe95-0000-1000-8000-
    00805f9b34fb"`` (any case); None for anything else (a vendor's own 128-bit UUID)."""
    if not isinstance(value, str):
        raise BadMessage("wrong_type", f"servicedatauuid must be a string, got {_kind(value)}")
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if len(text) == 36 and text.startswith("0000") and text.endswith(_BASE_UUID_TAIL):
        text = text[4:8]
    if len(text) != 4:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def parse_gateway_message(topic: str, payload: bytes, *, whole: bool = False) -> Parsed:
    """One Theengs Gateway or OpenMQTTGateway message (they share their keys); ``whole``:
    also the whole advertisement (:attr:`Parsed.raw`)."""
    receiver = receiver_from_topic(topic)
    status = _status(topic, payload, receiver)
    if status is not None:
        return status
    data = _object(payload)
    mac = _mac(data.get("id"), "id")
    rssi, dropped = _rssi(data.get("rssi"))
    service_data: dict[int, bytes] = {}
    raw = data.get("servicedata")
    if raw is not None:
        uuid = parse_uuid16(data.get("servicedatauuid"))
        frame = _hex(raw, "servicedata")
        if uuid is not None and uuid in _WANTED_UUIDS:
            service_data[uuid] = frame
    all_makers = _all_manufacturer(data.get("manufacturerdata"))
    manufacturer = {k: v for k, v in all_makers.items() if k in SENSOR_COMPANY_IDS}
    whole_adv = None
    if whole:
        uuid_text = _full_uuid(data.get("servicedatauuid")) if raw is not None else None
        name = data.get("name")
        whole_adv = RawAdvertisement(
            mac,
            rssi,
            receiver,
            name=name if isinstance(name, str) and name else None,
            service_data={uuid_text: _hex(raw, "servicedata")} if uuid_text else {},
            manufacturer_data=all_makers,
        )
    if service_data or manufacturer:
        return Parsed(
            "advertisement",
            receiver,
            Advertisement(mac, service_data, rssi, receiver, 0.0, manufacturer),
            raw=whole_adv,
            out_of_range=dropped,
        )
    if raw is None and "manufacturerdata" not in data and not _DECODED_KEYS.isdisjoint(data):
        return Parsed("no_service_data", receiver)
    return Parsed("ignored", receiver, raw=whole_adv)


def parse_relay_message(topic: str, payload: bytes, *, whole: bool = False) -> Parsed:
    """One message of a ``mihomekit relay`` (see :func:`relay_payload`); ``whole``: also
    the whole advertisement (:attr:`Parsed.raw`)."""
    status = _status(topic, payload, receiver_from_topic(topic))
    if status is not None:
        return status
    data = _object(payload)
    receiver = data.get("receiver", receiver_from_topic(topic))
    if not isinstance(receiver, str) or not receiver or len(receiver) > 64:
        raise BadMessage("wrong_type", "receiver must be a short non-empty string")
    mac = _mac(data.get("mac"), "mac")
    rssi, dropped = _rssi(data.get("rssi"))
    service_data: dict[int, bytes] = {}
    all_service: dict[str, bytes] = {}
    for key, value in _mapping(data.get("service_data", {}), "service_data").items():
        uuid = parse_uuid16(key)
        frame = _hex(value, f"service_data.{key}")
        if uuid is not None and uuid in _WANTED_UUIDS:
            service_data[uuid] = frame
        uuid_text = _full_uuid(key)
        if uuid_text is not None:
            all_service[uuid_text] = frame
    manufacturer: dict[int, bytes] = {}
    all_makers: dict[int, bytes] = {}
    for key, value in _mapping(data.get("manufacturer_data", {}), "manufacturer_data").items():
        company = _company(key)
        frame = _hex(value, f"manufacturer_data.{key}")
        all_makers[company] = frame
        if company in SENSOR_COMPANY_IDS:
            manufacturer[company] = frame
    whole_adv = (
        RawAdvertisement(
            mac, rssi, receiver, service_data=all_service, manufacturer_data=all_makers
        )
        if whole
        else None
    )
    if not service_data and not manufacturer:
        return Parsed("ignored", receiver, raw=whole_adv)
    return Parsed(
        "advertisement",
        receiver,
        Advertisement(mac, service_data, rssi, receiver, 0.0, manufacturer),
        raw=whole_adv,
        out_of_range=dropped,
    )


def relay_topic(receiver: str, mac: str) -> str:
    """``mihomekit/relay/<receiver>/adv/<MAC as 12 hex digits>``."""
    return f"{RELAY_ROOT}/{receiver}/adv/{mac.replace(':', '').upper()}"


def relay_status_topic(receiver: str) -> str:
    """``mihomekit/relay/<receiver>/status``: retained ``online`` / ``offline`` (the will)."""
    return f"{RELAY_ROOT}/{receiver}/status"


def relay_payload(advertisement: Advertisement, receiver: str, wall_time: float) -> bytes:
    """The JSON a relay publishes for one advertisement::

        {"v": 1, "receiver": "garage", "mac": "A4:C1:38:11:22:33", "rssi": -71,
         "time": 1764412345.123, "service_data": {"fe95": "5020aa01…"},
         "manufacturer_data": {}}

    ``service_data`` keys are 16-bit UUIDs as 4 hex digits; ``manufacturer_data`` keys are
    company ids as 4 hex digits (the numeric id, not its little-endian bytes); values are
    lowercase hex; ``time`` is the relay's clock (Unix seconds).
    """
    service = {f"{u:04x}": d.hex() for u, d in advertisement.service_data.items()}
    return _relay_json(advertisement, service, receiver, wall_time)


def relay_raw_payload(advertisement: RawAdvertisement, receiver: str, wall_time: float) -> bytes:
    """The same JSON for a whole advertisement (what a relay forwards for ``[[presence]]``):
    all its service data, a UUID of the Bluetooth base as 4 hex digits and any other in
    its 128-bit form, and all its manufacturer data."""
    service: dict[str, str] = {}
    for uuid, data in advertisement.service_data.items():
        short = parse_uuid16(uuid)
        service[f"{short:04x}" if short is not None else uuid] = data.hex()
    return _relay_json(advertisement, service, receiver, wall_time)


def _relay_json(
    adv: Advertisement | RawAdvertisement,
    service: Mapping[str, str],
    receiver: str,
    wall_time: float,
) -> bytes:
    body = {
        "v": RELAY_VERSION,
        "receiver": receiver,
        "mac": adv.mac,
        "rssi": adv.rssi,
        "time": round(wall_time, 3),
        "service_data": service,
        "manufacturer_data": {f"{c:04x}": d.hex() for c, d in adv.manufacturer_data.items()},
    }
    return json.dumps(body, separators=(",", ":")).encode()


# -- checks ----------------------------------------------------------------------------


def _status(topic: str, payload: bytes, receiver: str) -> Parsed | None:
    last = topic.rsplit("/", 1)[-1]
    if last in ("status", "LWT") and payload.strip().lower() in _STATUS_PAYLOADS:
        return Parsed("status", receiver, online=payload.strip().lower() == b"online")
    return None


def _object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise BadMessage("too_large", f"{len(payload)} bytes (at most {MAX_PAYLOAD})")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as err:
        raise BadMessage("bad_json", f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadMessage("wrong_type", f"expected a JSON object, got {_kind(data)}")
    return data


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadMessage("wrong_type", f"{key} must be an object, got {_kind(value)}")
    return value


def _mac(value: Any, key: str) -> str:
    if value is None:
        raise BadMessage("wrong_type", f"no {key!r} (the sensor's MAC address)")
    try:
        hexmac = normalize_mac(value)
    except ValueError as err:
        raise BadMessage("wrong_type", f"{key}: {err}") from None
    return ":".join(hexmac[i : i + 2] for i in range(0, 12, 2))


def _rssi(value: Any) -> tuple[int | None, tuple[str, ...]]:
    """The RSSI, and ``("rssi",)`` if one outside the physical range was left out."""
    if value is None:
        return None, ()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadMessage("wrong_type", f"rssi must be a number, got {_kind(value)}")
    if not in_physical_range("rssi", float(value)):
        return None, ("rssi",)
    return int(value), ()


def _hex(value: Any, key: str) -> bytes:
    if not isinstance(value, str):
        raise BadMessage("wrong_type", f"{key} must be a hex string, got {_kind(value)}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise BadMessage("wrong_type", f"{key} is not hex: {value[:40]!r}") from None


def _company(value: str) -> int:
    text = value.lower().removeprefix("0x")
    if len(text) != 4:
        raise BadMessage("wrong_type", f"a company id has 4 hex digits, got {value[:20]!r}")
    try:
        return int(text, 16)
    except ValueError:
        raise BadMessage("wrong_type", f"a company id has 4 hex digits, got {value!r}") from None


def _all_manufacturer(value: Any) -> dict[int, bytes]:
    """Gateway ``manufacturerdata``: company id (little-endian) then the data."""
    if value is None:
        return {}
    raw = _hex(value, "manufacturerdata")
    if len(raw) < 2:
        return {}
    return {int.from_bytes(raw[:2], "little"): raw[2:]}


def _full_uuid(value: Any) -> str | None:
    """A service UUID in any form a receiver writes, as 128-bit text; None if it is not."""
    if not isinstance(value, str):
        return None
    try:
        return full_uuid(value)
    except ValueError:
        return None


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
