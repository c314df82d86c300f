"""BTHome v1 frames: service data UUID 0x181C (plain) and 0x181E (encrypted).

v1 has no device-info byte: the service data is the objects themselves
(``control | id | value``, :func:`.bthome_parse.parse_v1`). Encrypted (0x181E):
``ciphertext | counter (4, LE) | MIC (4)``, AES-CCM with the 16-byte bind key, nonce (12)
= advertiser MAC (display order) ‖ ``1E 18`` ‖ counter, associated data ``0x11``.
Results carry the BTHome product id and model, format ``bthome_v1``; ``counter`` is the
32-bit counter of encrypted frames, else the packet id (0x00) when present.
"""

from __future__ import annotations

from ..readings import DecodeResult, Event, KeyStatus, Value
from .bthome import fail, finish, key_problem
from .bthome_parse import parse_v1
from .crypto import ccm_decrypt

FORMAT_V1 = "bthome_v1"

_UUID_181E_LE = b"\x1e\x18"
_AAD = b"\x11"


def decode_181c(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode a plain BTHome v1 payload."""
    if not data:
        return fail("empty BTHome v1 frame", mac, fmt=FORMAT_V1)
    values: dict[str, Value] = {}
    events: list[Event] = []
    parsed = parse_v1(data, values, events)
    return finish(parsed, values, events, mac, False, KeyStatus.NOT_NEEDED, None, FORMAT_V1)


def decode_181e(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode an encrypted BTHome v1 payload."""
    n = len(data)
    if n < 9:
        return fail(f"encrypted BTHome v1 frame too short ({n} bytes)", mac, True, fmt=FORMAT_V1)
    counter_bytes = data[-8:-4]
    counter = int.from_bytes(counter_bytes, "little")
    if key is None or len(key) != 16:
        return key_problem(key, mac, counter, FORMAT_V1)
    nonce = mac_le[::-1] + _UUID_181E_LE + counter_bytes
    payload = ccm_decrypt(key, nonce, data[:-8] + data[-4:], _AAD)
    if payload is None:
        return fail(
            "MIC mismatch: wrong key or damaged frame",
            mac,
            True,
            KeyStatus.WRONG,
            counter,
            FORMAT_V1,
        )
    values: dict[str, Value] = {}
    events: list[Event] = []
    parsed = parse_v1(payload, values, events)
    return finish(parsed, values, events, mac, True, KeyStatus.OK, counter, FORMAT_V1)
