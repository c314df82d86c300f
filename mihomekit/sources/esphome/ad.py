"""Bounds-checked parsing of raw BLE advertising data (AD structures) and proxy addresses.

An ESPHome proxy forwards each advertisement as the bytes the radio received: a list of
AD structures ``[length][type][length - 1 bytes]`` (Core Specification Vol 3, Part C,
§11). The advertisement and its scan response may come as one entry (older firmware
concatenated them) or as two separate entries; each entry is parsed on its own, so a scan
response without sensor data simply carries nothing.

Rules, as BlueZ and Home Assistant's parser apply them:

* a length byte of 0 is padding: skip one byte;
* a structure that runs past the end of the data is dropped, and the entry counts as
  malformed (what came before it is kept);
* ``0x16`` service data, 16-bit UUID (little-endian: MiBeacon starts ``95 FE``);
* ``0x20`` service data, 32-bit UUID, and ``0x21`` service data, 128-bit UUID: kept under
  their 16-bit UUID when they are a 16-bit UUID written long (``0000xxxx`` / the Bluetooth
  base UUID), as some receivers and firmwares do; other UUIDs carry no format we decode;
* ``0xFF`` manufacturer data: company id (little-endian u16), then the data;
* one advertisement may carry several service-data structures; when one UUID appears
  twice, the last one wins (as in bleak).

Nothing here does I/O or logs: a caller counts ``malformed`` entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

AD_SERVICE_DATA_16 = 0x16
AD_SERVICE_DATA_32 = 0x20
AD_SERVICE_DATA_128 = 0x21
AD_MANUFACTURER_DATA = 0xFF

#: The longest advertising data accepted: BLE 5 extended advertising carries at most
#: 1650 bytes (ESPHome sends at most 62: advertisement plus scan response). Longer
#: entries are malformed and not parsed at all.
MAX_AD_BYTES = 1650

#: The Bluetooth base UUID ``xxxxxxxx-0000-1000-8000-00805f9b34fb`` without its first
#: four bytes, in the little-endian order of the air: bytes 0-11 of a 128-bit UUID.
_BASE_UUID_TAIL_LE = bytes.fromhex("fb349b5f8000008000100000")

#: Shared empty mapping (read-only, so no consumer can fill it for everyone).
EMPTY: Mapping[int, bytes] = MappingProxyType({})


class ParsedAd(NamedTuple):
    """What one entry's AD structures carried."""

    #: 16-bit service UUID → the bytes after the UUID.
    service_data: Mapping[int, bytes]
    #: Company id → the bytes after the id.
    manufacturer_data: Mapping[int, bytes]
    #: A structure ran past the end, a service-data structure was too short for its
    #: UUID, or the data was longer than :data:`MAX_AD_BYTES`.
    malformed: bool


_EMPTY_RESULT = ParsedAd(EMPTY, EMPTY, False)
_TOO_LONG = ParsedAd(EMPTY, EMPTY, True)


def parse_ad(data: bytes) -> ParsedAd:
    """Parse one entry's raw advertising data; never raises for any ``bytes``."""
    end_of_data = len(data)
    if end_of_data > MAX_AD_BYTES:
        return _TOO_LONG
    if not end_of_data:
        return _EMPTY_RESULT
    service: dict[int, bytes] | None = None
    manufacturer: dict[int, bytes] | None = None
    malformed = False
    i = 0
    while i < end_of_data:
        length = data[i]
        if length == 0:  # padding
            i += 1
            continue
        end = i + 1 + length
        if end > end_of_data:
            malformed = True
            break
        ad_type = data[i + 1]
        if ad_type == AD_SERVICE_DATA_16:
            if length < 3:
                malformed = True
            else:
                if service is None:
                    service = {}
                service[data[i + 2] | (data[i + 3] << 8)] = data[i + 4 : end]
        elif ad_type == AD_MANUFACTURER_DATA:
            if length < 3:
                malformed = True
            else:
                if manufacturer is None:
                    manufacturer = {}
                manufacturer[data[i + 2] | (data[i + 3] << 8)] = data[i + 4 : end]
        elif ad_type == AD_SERVICE_DATA_32:
            if length < 5:
                malformed = True
            elif data[i + 4] == 0 and data[i + 5] == 0:
                if service is None:
                    service = {}
                service[data[i + 2] | (data[i + 3] << 8)] = data[i + 6 : end]
        elif ad_type == AD_SERVICE_DATA_128:
            if length < 17:
                malformed = True
            elif (
                data[i + 2 : i + 14] == _BASE_UUID_TAIL_LE
                and data[i + 16] == 0
                and data[i + 17] == 0
            ):
                if service is None:
                    service = {}
                service[data[i + 14] | (data[i + 15] << 8)] = data[i + 18 : end]
        i = end
    if service is None and manufacturer is None and not malformed:
        return _EMPTY_RESULT
    return ParsedAd(service or EMPTY, manufacturer or EMPTY, malformed)


class AdFields(NamedTuple):
    """Everything one entry's AD structures carried (for the advertisement tap): the local
    name, the service UUIDs listed, service data and manufacturer data. UUIDs are 128-bit
    lower-case text, as bleak writes them."""

    name: str | None
    service_uuids: tuple[str, ...]
    service_data: Mapping[str, bytes]
    manufacturer_data: Mapping[int, bytes]


_NO_FIELDS = AdFields(None, (), MappingProxyType({}), EMPTY)
_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"


def _uuid_text(le: bytes) -> str:
    """A UUID of 2, 4 or 16 bytes, little-endian as on air, as 128-bit text."""
    if len(le) in (2, 4):
        return f"{int.from_bytes(le, 'little'):08x}{_BASE_SUFFIX}"
    h = le[::-1].hex()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def parse_fields(data: bytes) -> AdFields:
    """Every field of one entry's raw advertising data that the tap shows; never raises.

    The same rules as :func:`parse_ad` (padding, structures past the end dropped); names
    that are not UTF-8 are decoded with replacement characters.
    """
    end_of_data = len(data)
    if not end_of_data or end_of_data > MAX_AD_BYTES:
        return _NO_FIELDS
    name: str | None = None
    uuids: list[str] = []
    service: dict[str, bytes] = {}
    manufacturer: dict[int, bytes] = {}
    i = 0
    while i < end_of_data:
        length = data[i]
        if length == 0:
            i += 1
            continue
        end = i + 1 + length
        if end > end_of_data:
            break
        ad_type = data[i + 1]
        body = data[i + 2 : end]
        if ad_type in (0x02, 0x03, 0x04, 0x05, 0x06, 0x07):
            size = 2 if ad_type < 0x04 else 4 if ad_type < 0x06 else 16
            for at in range(0, len(body) - size + 1, size):
                uuids.append(_uuid_text(body[at : at + size]))
        elif ad_type in (0x08, 0x09):
            if name is None or ad_type == 0x09:
                name = body.decode("utf-8", "replace")
        elif ad_type in (AD_SERVICE_DATA_16, AD_SERVICE_DATA_32, AD_SERVICE_DATA_128):
            size = (
                2 if ad_type == AD_SERVICE_DATA_16 else 4 if ad_type == AD_SERVICE_DATA_32 else 16
            )
            if len(body) >= size:
                service[_uuid_text(body[:size])] = body[size:]
        elif ad_type == AD_MANUFACTURER_DATA and len(body) >= 2:
            manufacturer[body[0] | (body[1] << 8)] = body[2:]
        i = end
    return AdFields(name, tuple(uuids), service, manufacturer)


#: Proxies report each advertiser's address as a 48-bit integer; formatting it is cached.
_MAC_CACHE: dict[int, str] = {}
_MAC_CACHE_LIMIT = 8192


def mac_from_int(address: int) -> str | None:
    """``0xA4C138112233`` → ``"A4:C1:38:11:22:33"`` (the first octet is the most significant).

    None when the number does not fit in 48 bits (or is negative).
    """
    mac = _MAC_CACHE.get(address)
    if mac is not None:
        return mac
    if not 0 <= address < (1 << 48):
        return None
    text = f"{address:012X}"
    mac = f"{text[0:2]}:{text[2:4]}:{text[4:6]}:{text[6:8]}:{text[8:10]}:{text[10:12]}"
    if len(_MAC_CACHE) >= _MAC_CACHE_LIMIT:
        _MAC_CACHE.clear()  # random (private) addresses rotate: never grow without bound
    _MAC_CACHE[address] = mac
    return mac


def build_ad(
    service_data: Mapping[int, bytes] | None = None,
    *,
    flags: int | None = 0x06,
    manufacturer_data: Mapping[int, bytes] | None = None,
    name: str | None = None,
) -> bytes:
    """AD structures for the given fields (flags first): what a sensor puts on air.

    For tests, the fake proxy and benchmarks. Raises ValueError when a structure would be
    longer than 255 bytes.
    """
    out = bytearray()

    def put(ad_type: int, body: bytes) -> None:
        if len(body) + 1 > 255:
            raise ValueError(f"AD structure 0x{ad_type:02x} too long ({len(body)} bytes)")
        out.append(len(body) + 1)
        out.append(ad_type)
        out.extend(body)

    if flags is not None:
        put(0x01, bytes((flags,)))
    if name is not None:
        put(0x09, name.encode())
    for uuid, payload in (service_data or {}).items():
        put(AD_SERVICE_DATA_16, uuid.to_bytes(2, "little") + payload)
    for company, payload in (manufacturer_data or {}).items():
        put(AD_MANUFACTURER_DATA, company.to_bytes(2, "little") + payload)
    return bytes(out)


__all__ = [
    "EMPTY",
    "MAX_AD_BYTES",
    "AdFields",
    "ParsedAd",
    "build_ad",
    "mac_from_int",
    "parse_ad",
    "parse_fields",
]
