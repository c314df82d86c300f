"""Frame builders: make advertisements that :func:`~mihomekit.decoders.decode_advertisement`
understands, for tests, the demo and benchmarks.

Every builder returns the service-data bytes (after the 16-bit UUID). MACs are given in
display order (``"A4:C1:38:12:34:56"``). Object helpers (``obj_*``) return the
``(object id, payload)`` pairs that :func:`mibeacon_frame` takes::

    data = mibeacon_frame(0x055B, 7, [obj_temp_humidity(21.5, 48.2)], mac=mac, key=key)
    decode_advertisement(mac, 0xFE95, data, key)
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ..errors import MihomekitError
from .crypto import AAD_11, ccm_encrypt, legacy_encrypt, legacy_key
from .mibeacon import FC_CAPABILITY, FC_ENCRYPTED, FC_MAC, FC_OBJECTS

__all__ = [
    "atc1441_encrypted_frame",
    "atc1441_frame",
    "bthome_frame",
    "bthome_v1_frame",
    "hhccjcy10_frame",
    "legacy_frame",
    "mibeacon_frame",
    "obj_battery",
    "obj_button",
    "obj_door",
    "obj_float",
    "obj_humidity",
    "obj_illuminance",
    "obj_leak",
    "obj_motion_illuminance",
    "obj_no_motion",
    "obj_temp_humidity",
    "obj_temperature",
    "pvvx_encrypted_frame",
    "pvvx_frame",
    "qingping_frame",
]

Objects = Sequence[tuple[int, bytes]]


def _mac(mac: str) -> bytes:
    raw = mac.replace(":", "").replace("-", "")
    try:
        out = bytes.fromhex(raw)
    except ValueError:
        out = b""
    if len(out) != 6:
        raise MihomekitError(f"invalid MAC address {mac!r}")
    return out


def _millivolts(voltage: float) -> int:
    mv = round(voltage * 1000)
    if not 0 <= mv <= 0xFFFF:
        raise MihomekitError(f"battery voltage {voltage} V out of range (give volts, e.g. 2.95)")
    return mv


def _tlvs(objects: Objects) -> bytes:
    return b"".join(struct.pack("<HB", oid, len(p)) + p for oid, p in objects)


# ---- MiBeacon object helpers ------------------------------------------------------------


def obj_temperature(celsius: float) -> tuple[int, bytes]:
    """0x1004 temperature (0.1 °C)."""
    return 0x1004, struct.pack("<h", round(celsius * 10))


def obj_humidity(percent: float) -> tuple[int, bytes]:
    """0x1006 humidity (0.1 %)."""
    return 0x1006, struct.pack("<H", round(percent * 10))


def obj_temp_humidity(celsius: float, percent: float) -> tuple[int, bytes]:
    """0x100D temperature and humidity (0.1 units)."""
    return 0x100D, struct.pack("<hH", round(celsius * 10), round(percent * 10))


def obj_battery(percent: int) -> tuple[int, bytes]:
    """0x100A battery %."""
    return 0x100A, bytes((percent,))


def obj_illuminance(lux: int) -> tuple[int, bytes]:
    """0x1007 illuminance (u24 lux)."""
    return 0x1007, lux.to_bytes(3, "little")


def obj_motion_illuminance(lux: int) -> tuple[int, bytes]:
    """0x000F motion with illuminance (u24 lux)."""
    return 0x000F, lux.to_bytes(3, "little")


def obj_no_motion(seconds: int) -> tuple[int, bytes]:
    """0x1017 time without motion (u32 s)."""
    return 0x1017, struct.pack("<I", seconds)


def obj_door(is_open: bool) -> tuple[int, bytes]:
    """0x1019 door/window: 0 open, 1 closed."""
    return 0x1019, b"\x00" if is_open else b"\x01"


def obj_leak(wet: bool) -> tuple[int, bytes]:
    """0x1014 water leak."""
    return 0x1014, b"\x01" if wet else b"\x00"


def obj_button(index: int, press_type: int, value: int = 0) -> tuple[int, bytes]:
    """0x1001 button event ``[index, value, type]`` (type 0 press, 1 double, 2 long)."""
    return 0x1001, bytes((index, value, press_type))


def obj_float(object_id: int, value: float) -> tuple[int, bytes]:
    """A float32 MIoT object (0x4801 temperature, 0x4808 humidity, 0x4805 lux ...)."""
    return object_id, struct.pack("<f", value)


# ---- MiBeacon frames --------------------------------------------------------------------


def _header(
    fc: int, pid: int, counter: int, mac_le: bytes, include_mac: bool, capability: int | None
) -> bytes:
    out = struct.pack("<HHB", fc, pid, counter & 0xFF)
    if include_mac:
        out += mac_le
    if capability is not None:
        out += bytes((capability & 0xDF,))  # no I/O capability byte
    return out


def _frame_control(
    version: int,
    objects: Objects,
    encrypted: bool,
    include_mac: bool,
    capability: int | None,
    flags: int,
) -> int:
    fc = (version & 0x0F) << 12 | (flags & 0x0F07)
    if objects:
        fc |= FC_OBJECTS
    if encrypted:
        fc |= FC_ENCRYPTED
    if include_mac:
        fc |= FC_MAC
    if capability is not None:
        fc |= FC_CAPABILITY
    return fc


def mibeacon_frame(
    pid: int,
    counter: int,
    objects: Objects,
    *,
    mac: str,
    key: bytes | None = None,
    version: int = 5,
    ext_counter: int = 0,
    include_mac: bool = True,
    capability: int | None = None,
    flags: int = 0,
) -> bytes:
    """A MiBeacon frame: plain, or AES-CCM encrypted (v4/v5) when ``key`` is given.

    ``counter`` is the 8-bit frame counter, ``ext_counter`` the 24-bit extension sent with
    encrypted frames. An empty ``objects`` list gives a frame without the object flag.
    ``flags`` adds frame-control bits (e.g. 0x0100 registered, 0x0800 auth mode 2).
    With ``version`` 2 or 3 and a key, the legacy scheme is used (see :func:`legacy_frame`).
    """
    if key is not None and version < 4:
        return legacy_frame(
            pid,
            counter,
            objects,
            mac=mac,
            key=key,
            version=version,
            ext_counter=ext_counter,
            include_mac=include_mac,
            capability=capability,
            flags=flags,
        )
    mac_le = _mac(mac)[::-1]
    encrypted = key is not None and bool(objects)
    fc = _frame_control(version, objects, encrypted, include_mac, capability, flags)
    header = _header(fc, pid, counter, mac_le, include_mac, capability)
    body = _tlvs(objects)
    if not encrypted or key is None:
        return header + body
    if len(key) != 16:
        raise MihomekitError("MiBeacon v4/v5 keys are 16 bytes")
    ext = (ext_counter & 0xFFFFFF).to_bytes(3, "little")
    nonce = mac_le + struct.pack("<HB", pid, counter & 0xFF) + ext
    sealed = ccm_encrypt(key, nonce, body, AAD_11)
    return header + sealed[:-4] + ext + sealed[-4:]


def legacy_frame(
    pid: int,
    counter: int,
    objects: Objects,
    *,
    mac: str,
    key: bytes,
    version: int = 3,
    ext_counter: int = 0,
    include_mac: bool = True,
    capability: int | None = None,
    flags: int = 0,
) -> bytes:
    """A legacy (v2/v3) encrypted MiBeacon frame, with its correct 1-byte tag.

    ``key`` is the 12-byte bind key (or its 16-byte expansion).
    """
    key16 = legacy_key(key)
    if key16 is None:
        raise MihomekitError("legacy MiBeacon keys are 12 (or expanded 16) bytes")
    mac_le = _mac(mac)[::-1]
    fc = _frame_control(version, objects, True, include_mac, capability, flags)
    header = _header(fc, pid, counter, mac_le, include_mac, capability)
    ext = (ext_counter & 0xFFFFFF).to_bytes(3, "little")
    nonce = header[:5] + ext + mac_le[:5]
    ciphertext, tag = legacy_encrypt(key16, nonce, _tlvs(objects))
    return header + ciphertext + ext + bytes((tag,))


# ---- ATC1441 / pvvx (0x181A) ------------------------------------------------------------


def atc1441_frame(
    mac: str, temperature: float, humidity: int, battery: int, voltage: float, counter: int
) -> bytes:
    """The 13-byte ATC1441 format (big-endian, MAC in display order); ``voltage`` in V."""
    return _mac(mac) + struct.pack(
        ">hBBHB",
        round(temperature * 10),
        humidity,
        battery,
        _millivolts(voltage),
        counter & 0xFF,
    )


def pvvx_frame(
    mac: str,
    temperature: float,
    humidity: float,
    voltage: float,
    battery: int,
    counter: int,
    flags: int = 0,
) -> bytes:
    """The 15-byte pvvx "custom" format (little-endian, MAC reversed); ``voltage`` in V."""
    return _mac(mac)[::-1] + struct.pack(
        "<hHHBBB",
        round(temperature * 100),
        round(humidity * 100),
        _millivolts(voltage),
        battery,
        counter & 0xFF,
        flags,
    )


def _custom_encrypted(mac: str, key: bytes, counter: int, plaintext: bytes) -> bytes:
    size = 1 + len(plaintext) + 4
    nonce = _mac(mac)[::-1] + bytes((size + 3, 0x16, 0x1A, 0x18, counter & 0xFF))
    return bytes((counter & 0xFF,)) + ccm_encrypt(key, nonce, plaintext, AAD_11)


def pvvx_encrypted_frame(
    mac: str,
    key: bytes,
    temperature: float,
    humidity: float,
    battery: int,
    counter: int,
    flags: int = 0,
) -> bytes:
    """The 11-byte encrypted pvvx format."""
    plain = struct.pack("<hHBB", round(temperature * 100), round(humidity * 100), battery, flags)
    return _custom_encrypted(mac, key, counter, plain)


def atc1441_encrypted_frame(
    mac: str,
    key: bytes,
    temperature: float,
    humidity: float,
    battery: int,
    counter: int,
    trigger: bool = False,
) -> bytes:
    """The 8-byte encrypted ATC1441 format (0.5 °C / 0.5 % steps)."""
    plain = bytes(
        (round((temperature + 40) * 2), round(humidity * 2), (battery & 0x7F) | (0x80 * trigger))
    )
    return _custom_encrypted(mac, key, counter, plain)


# ---- Qingping, BTHome, HHCCJCY10 --------------------------------------------------------


def qingping_frame(
    mac: str, device_type: int, items: Sequence[tuple[int, bytes]], frame_control: int = 0x08
) -> bytes:
    """A Qingping (0xFDCD) frame from ``(type, value)`` items."""
    body = b"".join(bytes((kind, len(value))) + value for kind, value in items)
    return bytes((frame_control, device_type)) + _mac(mac)[::-1] + body


def bthome_frame(
    objects: Sequence[tuple[int, bytes]],
    *,
    mac: str,
    key: bytes | None = None,
    counter: int = 0,
    trigger: bool = False,
    mac_included: bool = False,
) -> bytes:
    """A BTHome v2 (0xFCD2) frame from ``(object id, value bytes)`` pairs, encrypted when
    ``key`` is given (``counter`` is then its 32-bit counter); with ``mac_included`` the
    MAC is in the frame (device-info bit 1)."""
    info = 0x40 | (0x04 if trigger else 0) | (0x02 if mac_included else 0) | (0x01 if key else 0)
    head = bytes((info,)) + (_mac(mac)[::-1] if mac_included else b"")
    body = b"".join(bytes((oid,)) + value for oid, value in objects)
    if key is None:
        return head + body
    count = (counter & 0xFFFFFFFF).to_bytes(4, "little")
    nonce = _mac(mac) + b"\xd2\xfc" + bytes((info,)) + count
    sealed = ccm_encrypt(key, nonce, body, None)
    return head + sealed[:-4] + count + sealed[-4:]


def bthome_v1_frame(
    objects: Sequence[tuple[int, int, bytes]],
    *,
    mac: str,
    key: bytes | None = None,
    counter: int = 0,
) -> bytes:
    """A BTHome v1 frame from ``(format, object id, value bytes)`` triples (format 0 uint,
    1 sint, 2 float, 3 text, 4 raw): plain for 0x181C, or encrypted for 0x181E when ``key``
    is given (``counter`` its 32-bit counter)."""
    body = b"".join(
        bytes(((fmt << 5) | (len(value) + 1), oid)) + value for fmt, oid, value in objects
    )
    if key is None:
        return body
    count = (counter & 0xFFFFFFFF).to_bytes(4, "little")
    sealed = ccm_encrypt(key, _mac(mac) + b"\x1e\x18" + count, body, AAD_11)
    return sealed[:-4] + count + sealed[-4:]


def hhccjcy10_frame(
    moisture: int, temperature: float, illuminance: int, battery: int, conductivity: int
) -> bytes:
    """The 9-byte HHCCJCY10 (0xFD50) frame."""
    return (
        struct.pack(">BH", moisture, round(temperature * 10))
        + illuminance.to_bytes(3, "big")
        + struct.pack(">BH", battery, conductivity)
    )
