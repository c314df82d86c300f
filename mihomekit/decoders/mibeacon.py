"""MiBeacon frames (service data UUID 0xFE95): header, decryption, object loop.

Acceptance follows Home Assistant's ``xiaomi-ble`` (mibeacon.md §4) with these deliberate
differences:

* An unknown product id is not rejected: its objects are decoded with the generic rules
  (``model`` is ``None``) and the registry decides what to do with the device.
* Legacy (v2/v3) frames have their 1-byte CCM tag checked, so a wrong key is reported as
  :attr:`KeyStatus.WRONG` instead of silently giving nothing. As 1 wrong key in 256 passes
  a 1-byte tag, the decrypted payload must also start with a known object id (as Tasmota
  checks for 0x10xx); otherwise the key is taken as wrong. (Real legacy devices, the
  YLKG07YL/YLKG08YL dimmers, only send 0x1001.)
* Every object of a frame is decoded; a truncated *first* object makes the frame fail,
  a truncated later one only drops itself (the earlier objects are kept).
"""

from __future__ import annotations

from struct import Struct
from struct import error as StructError

from cryptography.exceptions import InvalidTag

from .._catalog_table import BY_PID
from ..readings import DecodeResult, Event, KeyStatus, Value
from .crypto import AAD_11, ccm4, ccm4_cache, legacy_cache, legacy_cipher, legacy_decrypt
from .objects import CALL, DIVIDE, EMPTY_OK, INT, OBJECT_TABLE
from .result import make_result

FORMAT = "mibeacon"

_NOT_NEEDED = KeyStatus.NOT_NEEDED
_OK = KeyStatus.OK
_MISSING = KeyStatus.MISSING
_WRONG = KeyStatus.WRONG

# Frame control bits (mibeacon.md §2.1).
FC_ENCRYPTED = 0x0008
FC_MAC = 0x0010
FC_CAPABILITY = 0x0020
FC_OBJECTS = 0x0040
FC_MESH = 0x0080
CAP_IO = 0x20

_HANDLER_ERRORS = (IndexError, ValueError, OverflowError, StructError)
_HEADER = Struct("<HHB").unpack_from
_OBJECT_HEADER = Struct("<HB").unpack_from
_U32 = Struct("<I").unpack_from
_pid_model = {pid: entry.model for pid, entry in BY_PID.items()}.get
_ccm4_cached = ccm4_cache.get
_legacy_cached = legacy_cache.get
_object_row = OBJECT_TABLE.get


def _fail(
    reason: str,
    mac: str,
    pid: int | None = None,
    model: str | None = None,
    encrypted: bool = False,
    key_status: KeyStatus = _NOT_NEEDED,
    counter: int | None = None,
) -> DecodeResult:
    return make_result(
        False, mac, pid, model, {}, (), reason, FORMAT, encrypted, key_status, counter
    )


def _header_problem(
    fc: int, n: int, data: bytes, mac: str, mac_le: bytes, pid: int, model: str | None
) -> DecodeResult:
    """The failure for a frame whose header is unusable (the slow path)."""
    if fc & FC_MESH:
        return _fail("MiBeacon mesh frames are not supported", mac, pid, model)
    if fc >> 12 < 2:
        return _fail(f"unsupported MiBeacon version {fc >> 12}", mac, pid, model)
    if n < 11:
        return _fail(f"MiBeacon frame too short for its MAC ({n} bytes)", mac, pid, model)
    frame_mac = data[10:4:-1].hex(":").upper()
    return _fail(
        f"MAC in the frame ({frame_mac}) differs from the advertiser ({mac})", mac, pid, model
    )


def decode_mibeacon(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode one MiBeacon service-data payload advertised by ``mac`` (``mac_le``: its bytes
    in over-the-air order, least significant first)."""
    n = len(data)
    if n < 5:
        return _fail(f"MiBeacon frame too short ({n} bytes, need at least 5)", mac)
    fc, pid, frame_counter = _HEADER(data)
    model = _pid_model(pid)
    # Version >= 2, no mesh bit; a MAC in the frame must be the advertiser's.
    if fc < 0x2000 or fc & FC_MESH:
        return _header_problem(fc, n, data, mac, mac_le, pid, model)
    if fc & FC_MAC:
        if n < 11 or data[5:11] != mac_le:
            return _header_problem(fc, n, data, mac, mac_le, pid, model)
        i = 11
    else:
        i = 5
    if fc & FC_CAPABILITY:
        if n <= i:
            return _fail("MiBeacon frame too short for its capability byte", mac, pid, model)
        capability = data[i]
        i += 1
        if capability & CAP_IO:
            if n <= i:
                return _fail("MiBeacon frame too short for its I/O capability", mac, pid, model)
            i += 1
    if not fc & FC_OBJECTS:
        return make_result(
            True,
            mac,
            pid,
            model,
            {},
            (),
            None,
            FORMAT,
            fc & FC_ENCRYPTED != 0,
            _NOT_NEEDED,
            frame_counter,
        )
    if fc & FC_ENCRYPTED:
        encrypted = True
        if fc >= 0x4000:
            if n < i + 9:
                return _fail(
                    f"encrypted MiBeacon frame too short ({n} bytes)", mac, pid, model, True
                )
            # The 3 extended counter bytes are the top of the u32 that ends at data[-5].
            counter = _U32(data, n - 8)[0] & 0xFFFFFF00 | frame_counter
            if key is None or len(key) != 16:
                return _key_problem(key, fc, mac, pid, model, counter, 16)
            try:
                payload = (_ccm4_cached(key) or ccm4(key)).decrypt(
                    mac_le + data[2:5] + data[-7:-4], data[i:-7] + data[-4:], AAD_11
                )
            except InvalidTag:
                return _fail(
                    "MIC mismatch: wrong key or damaged frame",
                    mac,
                    pid,
                    model,
                    True,
                    _WRONG,
                    counter,
                )
        else:
            if n < i + 7:
                return _fail(
                    f"encrypted MiBeacon frame too short ({n} bytes)", mac, pid, model, True
                )
            counter = frame_counter | data[-4] << 8 | data[-3] << 16 | data[-2] << 24
            cipher = None if key is None else _legacy_cached(key) or legacy_cipher(key)
            if cipher is None:
                return _key_problem(key, fc, mac, pid, model, counter, 12)
            nonce = data[0:5] + data[-4:-1] + mac_le[:5]
            legacy_payload = legacy_decrypt(cipher, nonce, data[i:-4], data[-1])
            if legacy_payload is None:
                return _fail(
                    "tag mismatch: wrong key or damaged frame",
                    mac,
                    pid,
                    model,
                    True,
                    _WRONG,
                    counter,
                )
            if (
                len(legacy_payload) < 3
                or legacy_payload[0] | legacy_payload[1] << 8 not in OBJECT_TABLE
            ):
                return _fail(
                    "decrypted objects are malformed (wrong key?): unknown first object",
                    mac,
                    pid,
                    model,
                    True,
                    _WRONG,
                    counter,
                )
            payload = legacy_payload
        key_status = _OK
        first = 0
    else:
        encrypted = False
        payload = data  # the objects are read in place, from byte i on
        first = i
        counter = frame_counter
        key_status = _NOT_NEEDED
        if n - i < 3:
            return _fail(
                f"MiBeacon object area too short ({n - i} bytes)",
                mac,
                pid,
                model,
                counter=counter,
            )
    # The object TLVs: id (u16), length, data. Unknown ids and zero-length value objects
    # are skipped; 1-2 trailing bytes (too short for a header) are ignored. An object that
    # runs past the end fails the frame if it is the first, else it is dropped.
    values: dict[str, Value] = {}
    events: list[Event] = []
    pos = first
    end = len(payload)
    while end - pos >= 3:
        oid, size = _OBJECT_HEADER(payload, pos)  # one call for id and length
        at = pos + 3
        pos = at + size
        if pos > end:
            if at == first + 3:
                return _truncated(
                    oid, encrypted and fc < 0x4000, mac, pid, model, key_status, counter
                )
            break
        row = _object_row(oid)
        if row is None:
            continue
        how, name, least, read, divisor, handler = row
        if how == CALL:
            if size or oid in EMPTY_OK:
                try:  # noqa: SIM105 - cheaper than contextlib.suppress on the hot path
                    handler(payload[at:pos], values, events, model)
                except _HANDLER_ERRORS:
                    pass
        elif size >= least:  # a number or flag, read in place; too short: ignored
            if how == INT:
                values[name] = read(payload, at)[0]
            elif how == DIVIDE:
                values[name] = read(payload, at)[0] / divisor
            else:
                values[name] = read(payload, at)[0] != 0
    return make_result(
        True,
        mac,
        pid,
        model,
        values,
        tuple(events) if events else (),
        None,
        FORMAT,
        encrypted,
        key_status,
        counter,
    )


def _key_problem(
    key: bytes | None, fc: int, mac: str, pid: int, model: str | None, counter: int, size: int
) -> DecodeResult:
    """The failure for a missing key or a key of the wrong length."""
    if key is None:
        return _fail("encrypted frame: no key given", mac, pid, model, True, _MISSING, counter)
    if size == 16:
        reason = f"MiBeacon v{fc >> 12} needs a 16-byte (32 hex digit) key, got {len(key)} bytes"
    else:
        reason = (
            f"legacy MiBeacon v{fc >> 12} needs a 12-byte (24 hex digit) key, got {len(key)} bytes"
        )
    return _fail(reason, mac, pid, model, True, _WRONG, counter)


def _truncated(
    oid: int,
    legacy: bool,
    mac: str,
    pid: int,
    model: str | None,
    key_status: KeyStatus,
    counter: int,
) -> DecodeResult:
    """The failure for a frame whose first object runs past its end."""
    error = f"object 0x{oid:04X} runs past the end of the frame"
    if legacy:
        # The 1-byte tag lets 1 wrong key in 256 through; its garbage shows here.
        return _fail(
            f"decrypted objects are malformed (wrong key?): {error}",
            mac,
            pid,
            model,
            True,
            _WRONG,
            counter,
        )
    return _fail(error, mac, pid, model, key_status != _NOT_NEEDED, key_status, counter)
