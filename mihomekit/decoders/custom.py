"""ATC1441 and pvvx custom thermometer firmware (service data UUID 0x181A).

The format follows from the payload length (mibeacon.md §8):

====  ====================  =====================================================
len   format                content
====  ====================  =====================================================
13    ``atc1441``           MAC (display order), temp s16 BE x0.1, hum %, batt %,
                            battery mV u16 BE, counter
15    ``pvvx``              MAC (reversed), temp s16 x0.01, hum u16 x0.01, battery mV,
                            batt %, counter, flags
11    ``pvvx_encrypted``    counter, AES-CCM(temp, hum, batt %, flags), MIC(4)
8     ``atc1441_encrypted`` counter, AES-CCM(temp, hum, batt), MIC(4)
====  ====================  =====================================================

The plain formats carry the device MAC, which becomes ``DecodeResult.mac`` (it is not
required to equal the advertiser address). pvvx flag bits are reported as
``reed_switch`` (bit 0, the reed-switch input) and ``trigger_output`` (bit 1, the GPIO
trigger output), not as a contact sensor: the input is meaningless without a reed switch
fitted. No ``voltage`` is made up for the encrypted formats, which do not carry it.
Results use Tasmota's fake product ids: 0x0A1C (ATC1441) and 0x944A (pvvx). b-parasite
soil sensors share the UUID with 16- and 18-byte frames (:mod:`.bparasite`).
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct

from cryptography.exceptions import InvalidTag

from ..readings import DecodeResult, KeyStatus, Value
from .address import mac_text, mac_text_cache
from .bparasite import LENGTHS as BPARASITE_LENGTHS
from .bparasite import decode_bparasite
from .crypto import AAD_11, ccm4, ccm4_cache
from .result import make_result

PID_ATC = 0x0A1C
PID_PVVX = 0x944A
MODEL_ATC = "ATC1441"
MODEL_PVVX = "PVVX"

_ATC = Struct(">6shBBHB").unpack
_PVVX = Struct("<6shHHBBB").unpack
_PVVX_PLAIN = Struct("<hHBB").unpack
_SERVICE_181A = b"\x16\x1a\x18"
_NOT_NEEDED = KeyStatus.NOT_NEEDED
_OK = KeyStatus.OK
_mac_text = mac_text_cache.get
_ccm4_cached = ccm4_cache.get

Decoder = Callable[[str, bytes, bytes, "bytes | None"], DecodeResult]


def _fail(
    reason: str,
    mac: str,
    fmt: str,
    pid: int,
    model: str,
    key_status: KeyStatus = _NOT_NEEDED,
    counter: int | None = None,
) -> DecodeResult:
    return make_result(
        False, mac, pid, model, {}, (), reason, fmt, key_status != _NOT_NEEDED, key_status, counter
    )


def _decrypt(
    mac: str, mac_le: bytes, data: bytes, key: bytes | None, fmt: str, pid: int, model: str
) -> DecodeResult | bytes:
    counter = data[0]
    if key is None:
        return _fail(
            "encrypted frame: no key given", mac, fmt, pid, model, KeyStatus.MISSING, counter
        )
    if len(key) != 16:
        return _fail(
            f"{fmt} needs a 16-byte (32 hex digit) key, got {len(key)} bytes",
            mac,
            fmt,
            pid,
            model,
            KeyStatus.WRONG,
            counter,
        )
    # The nonce includes the AD structure header: length, type 0x16, UUID 0x181A.
    nonce = mac_le + bytes((len(data) + 3,)) + _SERVICE_181A + data[0:1]
    try:
        return (_ccm4_cached(key) or ccm4(key)).decrypt(nonce, data[1:], AAD_11)
    except InvalidTag:
        return _fail(
            "MIC mismatch: wrong key or damaged frame",
            mac,
            fmt,
            pid,
            model,
            KeyStatus.WRONG,
            counter,
        )


def _atc1441(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    dev_mac, temp, hum, batt, mv, counter = _ATC(data)
    values: dict[str, Value] = {
        "temperature": temp / 10,
        "humidity": float(hum),
        "battery": batt,
        "voltage": mv / 1000,
    }
    return make_result(
        True,
        _mac_text(dev_mac) or mac_text(dev_mac),
        PID_ATC,
        MODEL_ATC,
        values,
        (),
        None,
        "atc1441",
        False,
        _NOT_NEEDED,
        counter,
    )


def _pvvx(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    dev_mac, temp, hum, mv, batt, counter, flags = _PVVX(data)
    dev_mac = dev_mac[::-1]
    values: dict[str, Value] = {
        "temperature": temp / 100,
        "humidity": hum / 100,
        "battery": batt,
        "voltage": mv / 1000,
        "reed_switch": bool(flags & 0x01),
        "trigger_output": bool(flags & 0x02),
    }
    return make_result(
        True,
        _mac_text(dev_mac) or mac_text(dev_mac),
        PID_PVVX,
        MODEL_PVVX,
        values,
        (),
        None,
        "pvvx",
        False,
        _NOT_NEEDED,
        counter,
    )


def _pvvx_encrypted(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    got = _decrypt(mac, mac_le, data, key, "pvvx_encrypted", PID_PVVX, MODEL_PVVX)
    if isinstance(got, DecodeResult):
        return got
    temp, hum, batt, flags = _PVVX_PLAIN(got)
    values: dict[str, Value] = {
        "temperature": temp / 100,
        "humidity": hum / 100,
        "battery": batt,
        "reed_switch": bool(flags & 0x01),
        "trigger_output": bool(flags & 0x02),
    }
    return make_result(
        True, mac, PID_PVVX, MODEL_PVVX, values, (), None, "pvvx_encrypted", True, _OK, data[0]
    )


def _atc1441_encrypted(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    got = _decrypt(mac, mac_le, data, key, "atc1441_encrypted", PID_ATC, MODEL_ATC)
    if isinstance(got, DecodeResult):
        return got
    values: dict[str, Value] = {
        "temperature": got[0] / 2 - 40,
        "humidity": got[1] / 2,
        "battery": got[2] & 0x7F,
        "trigger_output": bool(got[2] & 0x80),
    }
    return make_result(
        True, mac, PID_ATC, MODEL_ATC, values, (), None, "atc1441_encrypted", True, _OK, data[0]
    )


#: Payload length → its format's decoder.
BY_LENGTH: dict[int, Decoder] = {
    13: _atc1441,
    15: _pvvx,
    11: _pvvx_encrypted,
    8: _atc1441_encrypted,
    **dict.fromkeys(BPARASITE_LENGTHS, decode_bparasite),
}
_by_length = BY_LENGTH.get


def decode_181a(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Decode an ATC1441 / pvvx (plain or encrypted) or b-parasite payload."""
    decoder = _by_length(len(data))
    if decoder is not None:
        return decoder(mac, mac_le, data, key)
    return make_result(
        False,
        mac,
        None,
        None,
        {},
        (),
        f"unknown 0x181A frame ({len(data)} bytes)",
        "custom",
        False,
        _NOT_NEEDED,
        None,
    )
