"""BTHome v2 frames (service data UUID 0xFCD2), plain and AES-CCM encrypted.

Layout: device-info byte (bit 0 encrypted, bit 1 MAC included, bit 2 trigger based,
bits 5-7 version = 2), then with bit 1 the device MAC (6 bytes, reversed), then the
objects (:mod:`.bthome_parse`). Encrypted: ``info | [MAC] | ciphertext | counter (4, LE) |
MIC (4)``, nonce = MAC (display order) ‖ ``D2 FC`` ‖ info ‖ counter, no associated data
(mibeacon.md §10); the MAC is the one in the frame when it carries one, else the
advertiser's.

The result's ``mac`` is the MAC in the frame when there is one. ``counter`` is the 32-bit
counter of encrypted frames (the registry rejects replays with it as for MiBeacon), else
the packet id (object 0x00) when present. A frame whose decoding stopped early (an object
id this table does not know, an object cut short) is still ``ok`` with the objects before
the stop and a ``warning`` naming the object; when nothing could be decoded it fails.
The timestamp (0x50) is given in Unix seconds.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag

from ..readings import DecodeResult, Event, KeyStatus, Value
from .address import mac_text, mac_text_cache
from .bthome_parse import Parsed, parse_v2
from .crypto import ccm4, ccm4_cache
from .result import make_result

FORMAT = "bthome"
PID_BTHOME = 0xB770
MODEL_BTHOME = "BTHome"

_INFO_ENCRYPTED = 0x01
_INFO_MAC = 0x02
_UUID_LE = b"\xd2\xfc"
_NOT_NEEDED = KeyStatus.NOT_NEEDED
_OK = KeyStatus.OK
_mac_text = mac_text_cache.get
_ccm4_cached = ccm4_cache.get


def fail(
    reason: str,
    mac: str,
    encrypted: bool = False,
    key_status: KeyStatus = _NOT_NEEDED,
    counter: int | None = None,
    fmt: str = FORMAT,
) -> DecodeResult:
    """A failed BTHome result."""
    return make_result(
        False, mac, PID_BTHOME, MODEL_BTHOME, {}, (), reason, fmt, encrypted, key_status, counter
    )


def finish(
    parsed: Parsed,
    values: dict[str, Value],
    events: list[Event],
    mac: str,
    encrypted: bool,
    key_status: KeyStatus,
    counter: int | None,
    fmt: str = FORMAT,
) -> DecodeResult:
    """The result of a decoded payload: ``ok`` unless it stopped before any object."""
    decoded, packet_id, stop = parsed
    if stop is not None and not decoded:
        return fail(stop, mac, encrypted, key_status, counter, fmt)
    return make_result(
        True,
        mac,
        PID_BTHOME,
        MODEL_BTHOME,
        values,
        tuple(events) if events else (),
        None,
        fmt,
        encrypted,
        key_status,
        packet_id if counter is None else counter,
        stop,
    )


def key_problem(key: bytes | None, mac: str, counter: int, fmt: str = FORMAT) -> DecodeResult:
    """The failure for a missing key or one that is not 16 bytes long."""
    if key is None:
        return fail("encrypted frame: no key given", mac, True, KeyStatus.MISSING, counter, fmt)
    return fail(
        f"BTHome needs a 16-byte (32 hex digit) key, got {len(key)} bytes",
        mac,
        True,
        KeyStatus.WRONG,
        counter,
        fmt,
    )


def decode_fcd2(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode a BTHome v2 payload."""
    n = len(data)
    if n < 1:
        return fail("empty BTHome frame", mac)
    info = data[0]
    if info >> 5 != 2:
        return fail(f"unsupported BTHome version {info >> 5}", mac)
    values: dict[str, Value] = {}
    events: list[Event] = []
    if info & _INFO_MAC:
        if n < 7:
            return fail(f"BTHome frame too short for its MAC ({n} bytes)", mac)
        mac_bytes = data[6:0:-1]
        mac = _mac_text(mac_bytes) or mac_text(mac_bytes)
        start = 7
    elif not info & _INFO_ENCRYPTED:
        return finish(
            parse_v2(data[1:], values, events), values, events, mac, False, _NOT_NEEDED, None
        )
    else:
        mac_bytes = mac_le[::-1]
        start = 1
    if not info & _INFO_ENCRYPTED:
        parsed = parse_v2(data[start:], values, events)
        return finish(parsed, values, events, mac, False, _NOT_NEEDED, None)
    if n - start < 9:
        return fail(f"encrypted BTHome frame too short ({n} bytes)", mac, True)
    counter_bytes = data[-8:-4]
    counter = int.from_bytes(counter_bytes, "little")
    if key is None or len(key) != 16:
        return key_problem(key, mac, counter)
    try:
        payload = (_ccm4_cached(key) or ccm4(key)).decrypt(
            mac_bytes + _UUID_LE + data[0:1] + counter_bytes, data[start:-8] + data[-4:], None
        )
    except InvalidTag:
        return fail("MIC mismatch: wrong key or damaged frame", mac, True, KeyStatus.WRONG, counter)
    parsed = parse_v2(payload, values, events)
    return finish(parsed, values, events, mac, True, _OK, counter)
