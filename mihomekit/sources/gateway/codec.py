"""Gateway LAN protocol messages (v1 and v2): parse, build, and turn into readings.

Pure functions only: no sockets, no clocks. :func:`parse_message` turns one datagram into
a typed message; v1 ``data`` (a JSON string, or an object) and v2 ``params`` (a list of
one-key objects) both become one property dict. :func:`decode_properties` turns such a
dict into mihomekit readings and events for a device model; :func:`encode_command`
does the reverse for writes (both live in :mod:`.properties`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mihomekit.errors import GatewayError
from mihomekit.sources.gateway.properties import (
    Reading,
    battery_percent,
    decode_properties,
    encode_command,
    family_of,
    light_to_rgb,
    rgb_to_light,
)

#: Datagrams larger than this are dropped unread (real ones stay under 2 KiB).
MAX_DATAGRAM = 16 * 1024

__all__ = [
    "CodecError",
    "DeviceKind",
    "DeviceList",
    "DeviceMessage",
    "DeviceRef",
    "Iam",
    "ListRequest",
    "Message",
    "ReadRequest",
    "Reading",
    "Whois",
    "WriteRequest",
    "battery_percent",
    "build_device_message",
    "build_error",
    "build_iam",
    "build_list_answer",
    "build_list_request",
    "build_read",
    "build_whois",
    "build_write",
    "decode_properties",
    "encode_command",
    "family_of",
    "light_to_rgb",
    "normalize_sid",
    "parse_message",
    "parse_object",
    "proto_from_version",
    "rgb_to_light",
]

DeviceKind = Literal["read", "write", "heartbeat", "report"]

_ANSWERS: dict[tuple[str, int], str] = {
    ("read", 1): "read_ack",
    ("read", 2): "read_rsp",
    ("write", 1): "write_ack",
    ("write", 2): "write_rsp",
    ("heartbeat", 1): "heartbeat",
    ("heartbeat", 2): "heartbeat",
    ("report", 1): "report",
    ("report", 2): "report",
}
_DEVICE_CMDS: dict[str, DeviceKind] = {
    "read_ack": "read",
    "read_rsp": "read",
    "write_ack": "write",
    "write_rsp": "write",
    "heartbeat": "heartbeat",
    "report": "report",
}


class CodecError(GatewayError):
    """A datagram that is not a usable LAN protocol message.

    ``kind`` is one of ``oversize``, ``bad_json``, ``wrong_type``, ``unknown_cmd``.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Whois:
    """Discovery request (multicast to port 4321)."""


@dataclass(frozen=True, slots=True)
class Iam:
    """Discovery answer: who the gateway is and where it takes commands."""

    sid: str
    model: str
    port: int
    ip: str | None = None
    proto_version: str | None = None

    @property
    def proto(self) -> int:
        return proto_from_version(self.proto_version)


@dataclass(frozen=True, slots=True)
class ListRequest:
    """``get_id_list`` (v1) or ``discovery`` (v2)."""

    proto: int


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """One subdevice in a device list; v1 lists carry no model."""

    sid: str
    model: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceList:
    """``get_id_list_ack`` (v1) or ``discovery_rsp`` (v2): subdevices and a fresh token."""

    sid: str
    token: str | None
    devices: tuple[DeviceRef, ...]
    proto: int


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """``read`` of one sid."""

    sid: str


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """``write``: properties to set and the write key (v1: inside ``data``)."""

    sid: str
    properties: Mapping[str, Any]
    key: str | None
    proto: int
    model: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """A read/write answer, heartbeat or report about one device (or the gateway).

    ``error`` is the gateway's error text (``"Invalid key"``) when it sent one; it is not
    part of ``properties``.
    """

    kind: DeviceKind
    sid: str
    model: str | None
    properties: Mapping[str, Any]
    proto: int
    short_id: int | None = None
    token: str | None = None
    error: str | None = None


Message = Whois | Iam | ListRequest | DeviceList | ReadRequest | WriteRequest | DeviceMessage


def proto_from_version(version: object) -> int:
    """2 for a ``proto_version`` starting with "2", else 1 (absent → 1)."""
    return 2 if isinstance(version, str) and version.strip().startswith("2") else 1


def normalize_sid(sid: str) -> str:
    """Lower-case sid, padded to 12 characters (gateways drop a leading zero)."""
    sid = sid.strip().lower()
    return sid.rjust(12, "0") if len(sid) < 12 else sid


# --------------------------------------------------------------------------- parsing


def _wrong(reason: str) -> CodecError:
    return CodecError("wrong_type", reason)


def _str(obj: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _wrong(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def _sid(obj: Mapping[str, Any]) -> str:
    sid = _str(obj, "sid")
    assert sid is not None
    if not sid or len(sid) > 64:
        raise _wrong("'sid' is empty or too long")
    return sid.lower()


def _short_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _properties(obj: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """The merged property dict and the protocol generation it came in."""
    if "params" in obj:
        params = obj["params"]
        if not isinstance(params, list):
            raise _wrong("'params' must be a list")
        merged: dict[str, Any] = {}
        for item in params:
            if not isinstance(item, dict):
                raise _wrong("'params' items must be objects")
            merged.update(item)
        return merged, 2
    data = obj.get("data")
    if data is None:
        return {}, 1
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as err:
            raise CodecError("bad_json", f"'data' is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise _wrong("'data' must hold an object")
    return data, 1


def _port(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise _wrong("'port' must be a port number")
    return value


def _id_list(data: object) -> tuple[DeviceRef, ...]:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as err:
            raise CodecError("bad_json", f"'data' is not JSON: {err}") from None
    if data is None:
        return ()
    if not isinstance(data, list) or not all(isinstance(s, str) for s in data):
        raise _wrong("'data' must be a list of sids")
    return tuple(DeviceRef(sid=s.lower()) for s in data if s)


def _dev_list(data: object) -> tuple[DeviceRef, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise _wrong("'dev_list' must be a list")
    refs = []
    for item in data:
        if not isinstance(item, dict):
            raise _wrong("'dev_list' items must be objects")
        sid = _sid(item)
        refs.append(DeviceRef(sid=sid, model=_str(item, "model", required=False)))
    return tuple(refs)


def parse_message(datagram: bytes) -> Message:
    """Parse one datagram; raises :class:`CodecError` for anything unusable."""
    if len(datagram) > MAX_DATAGRAM:
        raise CodecError("oversize", f"datagram of {len(datagram)} bytes")
    try:
        obj = json.loads(datagram.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise CodecError("bad_json", f"not JSON: {err}") from None
    if not isinstance(obj, dict):
        raise _wrong("message is not a JSON object")
    return parse_object(obj)


def parse_object(obj: Mapping[str, Any]) -> Message:
    """Parse an already decoded JSON object (see :func:`parse_message`)."""
    cmd = obj.get("cmd")
    if not isinstance(cmd, str):
        raise _wrong("'cmd' must be a string")
    if cmd == "whois":
        return Whois()
    if cmd == "iam":
        model = _str(obj, "model", required=False) or ""
        return Iam(
            sid=_sid(obj),
            model=model,
            port=_port(obj.get("port", 9898)),
            ip=_str(obj, "ip", required=False),
            proto_version=_str(obj, "proto_version", required=False),
        )
    if cmd in ("get_id_list", "discovery"):
        return ListRequest(proto=1 if cmd == "get_id_list" else 2)
    if cmd == "get_id_list_ack":
        return DeviceList(
            sid=_sid(obj),
            token=_str(obj, "token", required=False),
            devices=_id_list(obj.get("data")),
            proto=1,
        )
    if cmd == "discovery_rsp":
        return DeviceList(
            sid=_sid(obj),
            token=_str(obj, "token", required=False),
            devices=_dev_list(obj.get("dev_list")),
            proto=2,
        )
    if cmd == "read":
        return ReadRequest(sid=_sid(obj))
    if cmd == "write":
        props, proto = _properties(obj)
        props = dict(props)
        key = props.pop("key", None) if proto == 1 else obj.get("key")
        if proto == 1 and key is None:
            key = obj.get("key")
        return WriteRequest(
            sid=_sid(obj),
            properties=props,
            key=key if isinstance(key, str) else None,
            proto=proto,
            model=_str(obj, "model", required=False),
        )
    kind = _DEVICE_CMDS.get(cmd)
    if kind is None:
        raise CodecError("unknown_cmd", f"unknown cmd {cmd[:40]!r}")
    props, proto = _properties(obj)
    error = props.pop("error", None) if "error" in props else None
    return DeviceMessage(
        kind=kind,
        sid=_sid(obj),
        model=_str(obj, "model", required=False),
        properties=props,
        proto=proto,
        short_id=_short_id(obj.get("short_id")),
        token=_str(obj, "token", required=False) if kind == "heartbeat" else None,
        error=str(error) if error is not None else None,
    )


# --------------------------------------------------------------------------- building


def _encode(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _with_properties(
    obj: dict[str, Any], proto: int, props: Mapping[str, Any], *, data_as_string: bool = True
) -> dict[str, Any]:
    if proto == 2:
        obj["params"] = [{k: v} for k, v in props.items()]
    else:
        obj["data"] = _encode(props).decode() if data_as_string else dict(props)
    return obj


def build_whois() -> bytes:
    return _encode({"cmd": "whois"})


def build_iam(sid: str, model: str, ip: str, port: int, proto_version: str) -> bytes:
    obj: dict[str, Any] = {"cmd": "iam"}
    if proto_from_version(proto_version) == 2:
        obj["protocal"] = "UDP"  # sic, as in the vendor doc
    obj.update(port=str(port), sid=sid, model=model, proto_version=proto_version, ip=ip)
    return _encode(obj)


def build_list_request(proto: int) -> bytes:
    return _encode({"cmd": "get_id_list" if proto == 1 else "discovery"})


def build_list_answer(proto: int, sid: str, token: str, devices: Sequence[DeviceRef]) -> bytes:
    if proto == 1:
        data = _encode([d.sid for d in devices]).decode()
        return _encode({"cmd": "get_id_list_ack", "sid": sid, "token": token, "data": data})
    dev_list = [{"sid": d.sid, "model": d.model or ""} for d in devices]
    return _encode({"cmd": "discovery_rsp", "sid": sid, "token": token, "dev_list": dev_list})


def build_read(sid: str) -> bytes:
    return _encode({"cmd": "read", "sid": sid})


def build_write(
    proto: int,
    sid: str,
    props: Mapping[str, Any],
    key: str | None,
    *,
    model: str | None = None,
    data_as_string: bool = True,
) -> bytes:
    """A write; v1 puts the key inside ``data``, v2 next to ``params``."""
    obj: dict[str, Any] = {"cmd": "write"}
    if model:
        obj["model"] = model
    obj["sid"] = sid
    if proto == 1:
        data = dict(props)
        if key is not None:
            data["key"] = key
        return _encode(_with_properties(obj, 1, data, data_as_string=data_as_string))
    if key is not None:
        obj["key"] = key
    return _encode(_with_properties(obj, 2, props))


def build_device_message(
    kind: DeviceKind,
    proto: int,
    sid: str,
    model: str | None,
    props: Mapping[str, Any],
    *,
    short_id: int | str | None = None,
    token: str | None = None,
) -> bytes:
    """A read/write answer, heartbeat or report (``short_id`` only in v1)."""
    obj: dict[str, Any] = {"cmd": _ANSWERS[(kind, proto)]}
    if model is not None:
        obj["model"] = model
    obj["sid"] = sid
    if proto == 1 and short_id is not None:
        obj["short_id"] = short_id
    if token is not None:
        obj["token"] = token
    return _encode(_with_properties(obj, proto, props))


def build_error(kind: DeviceKind, proto: int, sid: str, error: str) -> bytes:
    """An error answer: v1 ``data`` ``{"error":…}``, v2 ``params`` ``[{"error":…}]``."""
    obj: dict[str, Any] = {"cmd": _ANSWERS[(kind, proto)], "sid": sid}
    return _encode(_with_properties(obj, proto, {"error": error}))
