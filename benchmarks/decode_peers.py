"""The other Python BLE decoders, called as their users call them, and their results in
our vocabulary.

=============  ==========================================================================
peer           one decode (per advertisement, state kept per device as its users do)
=============  ==========================================================================
xiaomi-ble     ``XiaomiBluetoothDeviceData(bindkey).update(BluetoothServiceInfo)``: one
               parser per device (Home Assistant's ``xiaomi_ble``); MiBeacon only
bthome-ble     ``BTHomeBluetoothDeviceData(bindkey).update(BluetoothServiceInfoBleak)``: one
               parser per device (Home Assistant's ``bthome``); BTHome only
bleparser      ``BleParser(aeskeys=...).parse_advertisement(mac, rssi,
               service_data_list=[AD structure])``: one parser for all devices, duplicates
               not filtered (ble_monitor's parser)
Theengs        ``TheengsDecoder.decodeBLE(json)`` with ``{"id", "servicedata",
               "servicedatauuid"}`` (the C++ decoder of Theengs Gateway and OpenMQTTGateway);
               no decryption, no generic BTHome
=============  ==========================================================================

The inputs each peer needs (service-info objects, AD structures, JSON strings) are built
before timing: only the call is timed, and its output is left as the peer gives it (a
dict, a ``SensorUpdate``, a JSON string that a user still has to parse).

:meth:`Peer.values` decodes one packet with fresh state and maps what the peer reports to
our names (:data:`COMPARED`); ``None`` when it decodes nothing from the packet.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

from decode_packets import Packet

#: The values compared between decoders (our names).
COMPARED = (
    "temperature",
    "humidity",
    "battery",
    "voltage",
    "illuminance",
    "moisture",
    "conductivity",
    "pressure",
    "motion",
    "opening",
    "leak",
    "low_battery",
    "light",
    "reed_switch",
    "trigger_output",
)

Normal = dict[str, Any]


def _long_uuid(uuid: int) -> str:
    return f"0000{uuid:04x}-0000-1000-8000-00805f9b34fb"


def _mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


class Peer:
    """One peer decoder."""

    name = ""
    dist = ""  # the PyPI distribution, for its version
    #: Numbers agree when they differ by at most this much (the peers round differently).
    tolerance = 0.005
    #: Names the peer reports that ours reports only for some models (by choice): compared
    #: only when ours reports them too.
    optional: frozenset[str] = frozenset()

    def supports(self, packet: Packet) -> bool:
        raise NotImplementedError

    def prepare(self, packets: Sequence[Packet]) -> list[Any]:
        """What :meth:`run` loops over, with the peer's per-device state created."""
        raise NotImplementedError

    def run(self, items: Sequence[Any]) -> None:
        raise NotImplementedError

    def values(self, packet: Packet) -> Normal | None:
        raise NotImplementedError

    def events(self, packet: Packet) -> tuple[Any, ...] | None:
        """Events in the comparison form of :func:`our_events`; ``None``: not compared."""
        return None

    def documented(self, packet: Packet, ours: Normal, theirs: Normal) -> str | None:
        """Why ours differs from the peer on this packet, if it is a documented choice."""
        return None


# ---- xiaomi-ble -----------------------------------------------------------------------------

_XIAOMI_BINARY = {
    "motion": "motion",
    "opening": "opening",
    "moisture": "leak",
    "light": "light",
}
_REMOTE_BUTTONS = {"on": 1, "off": 2, "brightness": 3, "plus": 4, "M": 5, "min": 6}
_BY_COUNT = {1: "press", 2: "double_press", 3: "triple_press"}


def _plain_key(key: Any) -> str:
    return str(getattr(key, "value", key))


class DeviceParserPeer(Peer):
    """A Home Assistant library: one parser per device (made with its bind key) whose
    ``update(service_info)`` decodes one advertisement."""

    _parser: Any

    def _service_info(self, p: Packet) -> Any:
        raise NotImplementedError

    def prepare(self, packets: Sequence[Packet]) -> list[Any]:
        parsers: dict[str, Any] = {}
        out = []
        for p in packets:
            parser = parsers.get(p.device)
            if parser is None:
                parser = parsers[p.device] = self._parser(p.key)
            out.append((parser, self._service_info(p)))
        return out

    def run(self, items: Sequence[Any]) -> None:
        for parser, info in items:
            parser.update(info)


class XiaomiBle(DeviceParserPeer):
    name = "xiaomi-ble"
    dist = "xiaomi-ble"

    def __init__(self) -> None:
        from habluetooth import BluetoothServiceInfo
        from xiaomi_ble import XiaomiBluetoothDeviceData  # type: ignore[import-untyped,unused-ignore]

        self._info = BluetoothServiceInfo
        self._parser = XiaomiBluetoothDeviceData

    def _service_info(self, p: Packet) -> Any:
        uuid = _long_uuid(p.uuid)
        return self._info("", p.mac, -60, {}, {uuid: p.data}, [uuid], "local")

    def supports(self, packet: Packet) -> bool:
        return packet.uuid == 0xFE95

    def _update(self, p: Packet) -> Any:
        return self._parser(p.key).update(self._service_info(p))

    def values(self, packet: Packet) -> Normal | None:
        update = self._update(packet)
        out: Normal = {}
        for dkey, sval in update.entity_values.items():
            name = _plain_key(dkey.key)
            if name in COMPARED and name != "voltage":  # made up from the battery %
                out[name] = sval.native_value
        for dkey, bval in update.binary_entity_values.items():
            name = _plain_key(dkey.key)
            if name in _XIAOMI_BINARY:
                out[_XIAOMI_BINARY[name]] = bval.native_value
        return out if out or update.events else None

    def events(self, packet: Packet) -> tuple[Any, ...] | None:
        if packet.source != "mix":
            # The real captures' events are compared, with the name mapping they need, by
            # tests/decoders/test_decode_vectors.py.
            return None
        out = []
        for dkey, event in self._update(packet).events.items():
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
            out.append((button, kind, props.get("steps"), props.get("duration"), pressed))
        return tuple(sorted(out))

    def documented(self, packet: Packet, ours: Normal, theirs: Normal) -> str | None:
        hum = ours.get("humidity")
        if isinstance(hum, float) and theirs.get("humidity") == int(hum):
            return "xiaomi-ble truncates the humidity of LYWSD03MMC and MHO-C401"
        return None


def our_events(result: Any) -> tuple[Any, ...]:
    """Our events in xiaomi-ble's comparison form."""
    out = []
    for ev in result.events:
        props = dict(ev.properties)
        out.append(
            (
                ev.button,
                ev.event,
                props.get("steps"),
                props.get("duration"),
                bool(props.get("pressed", False)),
            )
        )
    return tuple(sorted(out))


# ---- bthome-ble -----------------------------------------------------------------------------

_BTHOME_NAMES = {
    "temperature": "temperature",
    "humidity": "humidity",
    "battery": "battery",
    "voltage": "voltage",
    "illuminance": "illuminance",
    "moisture": "moisture",
    "pressure": "pressure",
    "motion": "motion",
    "opening": "opening",
    "window": "opening",
    "door": "opening",
    "light": "light",
}


_BTHOME_BINARY = {
    "motion": "motion",
    "opening": "opening",
    "window": "opening",
    "door": "opening",
    "light": "light",
    "moisture": "leak",
    "battery": "low_battery",
}


class BTHomeBle(DeviceParserPeer):
    name = "bthome-ble"
    dist = "bthome-ble"

    def __init__(self) -> None:
        from bthome_ble import BTHomeBluetoothDeviceData  # type: ignore[import-untyped,unused-ignore]
        from habluetooth import BluetoothServiceInfoBleak

        self._info = BluetoothServiceInfoBleak
        self._parser = BTHomeBluetoothDeviceData

    def _service_info(self, p: Packet) -> Any:
        uuid = _long_uuid(p.uuid)
        return self._info(
            name="bench",
            address=p.mac,
            rssi=-60,
            manufacturer_data={},
            service_data={uuid: p.data},
            service_uuids=[uuid],
            source="local",
            device=None,
            advertisement=None,
            connectable=False,
            time=0.0,
            tx_power=None,
        )

    def supports(self, packet: Packet) -> bool:
        return packet.klass in ("bthome-plain", "bthome-encrypted")

    def values(self, packet: Packet) -> Normal | None:
        update = self._parser(packet.key).update(self._service_info(packet))
        out: Normal = {}
        decoded = False
        for dkey, sval in update.entity_values.items():
            decoded = True
            name = _BTHOME_NAMES.get(_plain_key(dkey.key))
            if name is not None and dkey.device_id is None:
                out[name] = sval.native_value
        for dkey, bval in update.binary_entity_values.items():
            decoded = True
            name = _BTHOME_BINARY.get(_plain_key(dkey.key))
            if name is not None and dkey.device_id is None:
                out[name] = bval.native_value
        return out if decoded or update.events else None


# ---- bleparser ------------------------------------------------------------------------------

_BLEPARSER_NAMES = {
    "temperature": "temperature",
    "humidity": "humidity",
    "battery": "battery",
    "voltage": "voltage",
    "illuminance": "illuminance",
    "moisture": "moisture",
    "conductivity": "conductivity",
    "pressure": "pressure",
    "motion": "motion",
    "opening": "opening",
    "light": "light",
    "moisture detected": "leak",
}
#: Values bleparser makes up and we do not (a voltage from the battery percentage).
_BLEPARSER_SKIP = {
    "mibeacon-plain": {"voltage"},
    "mibeacon-aes-ccm": {"voltage"},
    "atc-pvvx-encrypted": {"voltage"},
}
#: bleparser's names for the pvvx flag bits (its "opening" is the reed-switch input).
_BLEPARSER_CUSTOM = {"opening": "reed_switch", "switch": "trigger_output"}
_BLEPARSER_META = {"rssi", "mac", "type", "packet", "firmware", "data", "status"}


class BleParserPeer(Peer):
    name = "bleparser"
    dist = "bleparser"
    #: Its 0x1007 (lux) gives "light" on every MiBeacon model; ours on MJYD02YL and
    #: MCCGQ02HL only (mihomekit/decoders/objects.py).
    optional = frozenset({"light"})

    def __init__(self) -> None:
        from bleparser import BleParser

        self._parser = BleParser
        # Its HHCCJCY10 parser prints every packet id: that print is part of its cost.
        self._devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115

    @staticmethod
    def _ad(p: Packet) -> bytes:
        return bytes((len(p.data) + 3, 0x16, p.uuid & 0xFF, p.uuid >> 8)) + p.data

    def _new(self, packets: Iterable[Packet]) -> Any:
        keys = {_mac_bytes(p.mac): p.key for p in packets if p.key is not None}
        return self._parser(aeskeys=keys, filter_duplicates=False)

    def supports(self, packet: Packet) -> bool:
        return True

    def prepare(self, packets: Sequence[Packet]) -> list[Any]:
        parser = self._new(packets)
        return [(parser, _mac_bytes(p.mac), [self._ad(p)]) for p in packets]

    def run(self, items: Sequence[Any]) -> None:
        with contextlib.redirect_stdout(self._devnull):
            for parser, mac, service_data in items:
                parser.parse_advertisement(mac, -60, service_data_list=service_data)

    def values(self, packet: Packet) -> Normal | None:
        with contextlib.redirect_stdout(self._devnull):
            got, _ = self._new([packet]).parse_advertisement(
                _mac_bytes(packet.mac), -60, service_data_list=[self._ad(packet)]
            )
        if not got or not got.get("data", True):
            return None
        skip = _BLEPARSER_SKIP.get(packet.klass, set())
        custom = packet.klass.startswith("atc-pvvx")
        out: Normal = {}
        for key, value in got.items():
            name = (_BLEPARSER_CUSTOM.get(key) if custom else None) or _BLEPARSER_NAMES.get(key)
            if name is not None and name not in skip:
                out[name] = bool(value) if name in _BOOLEANS else value
        # Binary "moisture" (a leak) and "battery" (battery low) share their names with the
        # numbers: the BTHome flags 0x20 / 0x15 and the MiBeacon leak object 0x1014.
        for name, flag in (("moisture", "leak"), ("battery", "low_battery")):
            if name in out and _is_flag_object(packet, got, name):
                out[flag] = bool(out.pop(name))
        if not out and not (got.keys() - _BLEPARSER_META):
            return None
        return out


_BOOLEANS = {"motion", "opening", "leak", "light", "reed_switch", "trigger_output"}


def _is_flag_object(packet: Packet, got: dict[str, Any], name: str) -> bool:
    """Whether bleparser's ``name`` came from the binary object of that name."""
    if packet.klass.startswith("bthome"):
        flag_id = 0x20 if name == "moisture" else 0x15
        return _bthome_has(packet, flag_id)
    return name == "moisture" and got.get("type") in ("SJWS01LM", "SJWS01LM-ENCRYPTED")


def _bthome_has(packet: Packet, object_id: int) -> bool:
    from mihomekit.decoders import decode_advertisement

    result = decode_advertisement(packet.mac, packet.uuid, packet.data, packet.key)
    wanted = "leak" if object_id == 0x20 else "low_battery"
    return wanted in result.values


# ---- Theengs --------------------------------------------------------------------------------

_THEENGS_NAMES = {
    "tempc": "temperature",
    "hum": "humidity",
    "batt": "battery",
    "volt": "voltage",
    "lux": "illuminance",
    "moi": "moisture",
    "fer": "conductivity",
    "pres": "pressure",
}


class Theengs(Peer):
    name = "Theengs"
    dist = "theengsdecoder"
    #: It divides b-parasite humidity and moisture by 65535, ours (and ble_monitor) by 65536.
    tolerance = 0.01

    def __init__(self) -> None:
        import TheengsDecoder  # type: ignore[import-untyped,unused-ignore]

        self._decode = TheengsDecoder.decodeBLE

    @staticmethod
    def _json(p: Packet) -> str:
        return json.dumps(
            {"id": p.mac, "servicedata": p.data.hex(), "servicedatauuid": f"0x{p.uuid:04x}"}
        )

    def supports(self, packet: Packet) -> bool:
        return packet.key is None  # it decrypts nothing

    def prepare(self, packets: Sequence[Packet]) -> list[Any]:
        return [self._json(p) for p in packets]

    def run(self, items: Sequence[Any]) -> None:
        decode = self._decode
        for text in items:
            decode(text)

    def values(self, packet: Packet) -> Normal | None:
        got = self._decode(self._json(packet))
        if not got:
            return None
        doc = json.loads(got)
        out = {name: doc[key] for key, name in _THEENGS_NAMES.items() if key in doc}
        return out or None


def available() -> list[Peer]:
    """Every peer whose package is installed (the ``bench`` extra has them all)."""
    peers: list[Peer] = []
    for make in (XiaomiBle, BTHomeBle, BleParserPeer, Theengs):
        try:
            peers.append(make())
        except ImportError as err:
            print(f"peer {make.name} not installed ({err}); left out")
    return peers
