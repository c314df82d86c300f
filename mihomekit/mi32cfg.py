"""The Tasmota-compatible ``mi32cfg`` device list.

The file is a JSON array with one object per device::

    [{"MAC":"A4C138AABBCC","PID":"055b","key":"00112233445566778899AABBCCDDEEFF"},
     {"MAC":"A4C138112233","PID":"0a1c","key":"","name":"Kitchen","feat":142}]

Reading is lenient where Tasmota is (key names are case-insensitive, the MAC may be upper
or lower case) and a little more lenient where it helps (a MAC may carry ``:`` or ``-``
separators, a 24-hex-digit legacy key is accepted for legacy devices). Unlike Tasmota,
which silently stops at the first bad entry, any bad entry rejects the whole file with a
:class:`~mihomekit.errors.ConfigError` naming the entry (its index in the array, counted
from 0) and the field: a file is never half loaded.

A MAC listed twice is merged the way Tasmota does it: the device keeps the position and
PID of its first entry, and a later entry's non-empty ``key``, ``name`` and ``feat`` replace
the earlier values. A warning is logged.

Writing produces Tasmota's exact bytes: compact JSON, no trailing newline, MAC upper case,
PID lower case, key upper case (or ``""``), and ``name``/``feat`` only for devices with a
custom name. Legacy 12-byte keys are written in their expanded 16-byte form, which is what
Tasmota stores.

This module knows nothing about device types: unknown PIDs are kept as they are.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .atomicfile import write_atomic
from .errors import ConfigError

__all__ = [
    "LEGACY_KEY_INFIX",
    "LEGACY_PIDS",
    "TASMOTA_MAX_BYTES",
    "DeviceEntry",
    "dump_mi32cfg",
    "expand_legacy_key",
    "load_mi32cfg",
    "normalize_mac",
    "parse_mi32cfg",
    "parse_pid",
    "parse_tasmota_key",
    "save_mi32cfg",
    "set_key",
    "with_key",
]

_LOG = logging.getLogger(__name__)

#: Product ids whose bind key may be given as a 12-byte legacy key (Yeelight YLKG07/YLKG08).
LEGACY_PIDS: tuple[int, ...] = (0x03B6,)

#: Bytes inserted after the 6th byte of a 12-byte legacy key to form the 16-byte AES key.
LEGACY_KEY_INFIX = bytes.fromhex("8D3D3C97")

#: Tasmota reads at most this many bytes of mi32cfg; longer files fail to load there.
TASMOTA_MAX_BYTES = 2048

_HEX = frozenset("0123456789abcdefABCDEF")
_MAC_SEPARATED = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}")
_MAC_PLAIN = re.compile(r"[0-9A-Fa-f]{12}")
_PID_TEXT = re.compile(r"[0-9A-Fa-f]{4}")


def _is_hex(text: str) -> bool:
    return all(char in _HEX for char in text)


def parse_pid(text: str) -> int:
    """A product id typed as 4 hex digits (``055b``, ``0x055B``); :class:`ValueError` else."""
    cleaned = text.strip().removeprefix("0x").removeprefix("0X")
    if not _PID_TEXT.fullmatch(cleaned):
        raise ValueError(f"a product id is 4 hex digits, like 055b; got {text[:20]!r}")
    return int(cleaned, 16)


def normalize_mac(text: str) -> str:
    """Return ``text`` as 12 upper-case hex digits.

    Accepts ``A4C138AABBCC``, ``a4:c1:38:aa:bb:cc`` and ``A4-C1-38-AA-BB-CC`` (one kind of
    separator throughout). Raises :class:`ValueError` with the reason otherwise.
    """
    if not isinstance(text, str):
        raise ValueError(f"a MAC address must be a string, got {type(text).__name__}")
    candidate = text.strip()
    if _MAC_PLAIN.fullmatch(candidate):
        return candidate.upper()
    if _MAC_SEPARATED.fullmatch(candidate):
        return re.sub(r"[:-]", "", candidate).upper()
    raise ValueError(
        f"a MAC address must be 12 hex digits, optionally in pairs separated by ':' or '-', "
        f"got {text!r}"
    )


def expand_legacy_key(key12: bytes) -> bytes:
    """Expand a 12-byte legacy bind key to the 16-byte AES key (6 bytes, infix, 6 bytes)."""
    if len(key12) != 12:
        raise ValueError(f"a legacy key has 12 bytes, got {len(key12)}")
    return key12[:6] + LEGACY_KEY_INFIX + key12[6:]


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """One device of the mi32cfg list.

    ``mac`` is 12 upper-case hex digits, ``pid`` the Xiaomi product id, ``key`` the bind key
    (16 bytes, or 12 bytes for a legacy device, or ``None``), ``name`` a custom display name
    and ``feat`` Tasmota's raw feature bitmask.
    """

    mac: str
    pid: int
    key: bytes | None
    name: str | None = None
    feat: int | None = None

    def __post_init__(self) -> None:
        if not (
            isinstance(self.mac, str)
            and _MAC_PLAIN.fullmatch(self.mac)
            and self.mac == self.mac.upper()
        ):
            raise ValueError(f"mac must be 12 upper-case hex digits, got {self.mac!r}")
        if (
            isinstance(self.pid, bool)
            or not isinstance(self.pid, int)
            or not 0 <= self.pid <= 0xFFFF
        ):
            raise ValueError(f"pid must be an integer 0..0xFFFF, got {self.pid!r}")
        if self.key is not None and len(self.key) not in (12, 16):
            raise ValueError(f"key must have 16 (or 12 legacy) bytes, got {len(self.key)}")
        if self.feat is not None and (
            isinstance(self.feat, bool) or not isinstance(self.feat, int) or self.feat < 0
        ):
            raise ValueError(f"feat must be a non-negative integer, got {self.feat!r}")

    @property
    def display_mac(self) -> str:
        """The MAC as ``A4:C1:38:AA:BB:CC``."""
        return ":".join(self.mac[i : i + 2] for i in range(0, 12, 2))


class _JsonObject(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, so that repeated keys can be detected."""


def _kind(value: Any) -> str:
    """JSON name of a parsed value's type, for messages."""
    if isinstance(value, _JsonObject):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def _fail(
    reason: str, path: str | None, index: int | None = None, field: str | None = None
) -> ConfigError:
    return ConfigError(reason, path=path, index=index, field=field)


def _entry_fields(obj: _JsonObject, index: int, path: str | None) -> dict[str, tuple[str, Any]]:
    """Map lower-cased key → (key as written, value); repeated keys are an error."""
    fields: dict[str, tuple[str, Any]] = {}
    for key, value in obj:
        folded = key.lower()
        if folded in fields:
            raise _fail(f"key given twice ({fields[folded][0]!r} and {key!r})", path, index, key)
        fields[folded] = (key, value)
    return fields


def _parse_entry(
    obj: _JsonObject, index: int, path: str | None, legacy_pids: Collection[int]
) -> DeviceEntry:
    fields = _entry_fields(obj, index, path)

    # MAC
    if "mac" not in fields:
        raise _fail("missing", path, index, "MAC")
    mac_field, mac_value = fields["mac"]
    if not isinstance(mac_value, str):
        raise _fail(f"must be a string of 12 hex digits, got {mac_value!r}", path, index, mac_field)
    try:
        mac = normalize_mac(mac_value)
    except ValueError:
        raise _fail(
            f"must be 12 hex digits (pairs may be separated by ':' or '-'), got {mac_value!r}",
            path,
            index,
            mac_field,
        ) from None

    # PID
    if "pid" not in fields:
        raise _fail("missing", path, index, "PID")
    pid_field, pid_value = fields["pid"]
    if not isinstance(pid_value, str) or not _PID_TEXT.fullmatch(pid_value):
        raise _fail(f"must be 4 hex digits, got {pid_value!r}", path, index, pid_field)
    pid = int(pid_value, 16)

    # key
    key: bytes | None = None
    key_field, key_value = fields.get("key", ("key", None))
    if key_value is not None and key_value != "":
        if not isinstance(key_value, str) or not _is_hex(key_value):
            raise _fail(f'must be "" or 32 hex digits, got {key_value!r}', path, index, key_field)
        if len(key_value) == 32:
            key = bytes.fromhex(key_value)
        elif len(key_value) == 24:
            if pid not in legacy_pids:
                raise _fail(
                    f"a 24-hex-digit legacy key is only accepted for legacy devices "
                    f"(PID {', '.join(f'{p:04x}' for p in sorted(legacy_pids)) or 'none'}), "
                    f"not PID {pid:04x}; give the 32-hex-digit bind key",
                    path,
                    index,
                    key_field,
                )
            key = bytes.fromhex(key_value)
        else:
            raise _fail(
                f'must be "" or 32 hex digits, got {len(key_value)} hex digits',
                path,
                index,
                key_field,
            )

    # name
    name: str | None = None
    if "name" in fields:
        name_field, name_value = fields["name"]
        if name_value is not None and not isinstance(name_value, str):
            raise _fail(f"must be a string, got {name_value!r}", path, index, name_field)
        name = name_value or None

    # feat
    feat: int | None = None
    if "feat" in fields:
        feat_field, feat_value = fields["feat"]
        if feat_value is not None:
            if isinstance(feat_value, bool) or not isinstance(feat_value, int) or feat_value < 0:
                raise _fail(
                    f"must be a non-negative integer, got {feat_value!r}", path, index, feat_field
                )
            feat = feat_value

    unknown = sorted(
        original
        for folded, (original, _) in fields.items()
        if folded not in ("mac", "pid", "key", "name", "feat")
    )
    if unknown:
        _LOG.warning(
            "%sentry %d: ignoring unknown key(s) %s",
            f"{path}: " if path else "",
            index,
            ", ".join(repr(k) for k in unknown),
        )
    return DeviceEntry(mac=mac, pid=pid, key=key, name=name, feat=feat)


def _merge(first: DeviceEntry, later: DeviceEntry) -> DeviceEntry:
    """Tasmota's duplicate handling: keep MAC and PID, take the later key, name and feat."""
    return replace(
        first,
        key=later.key if later.key is not None else first.key,
        name=later.name if later.name is not None else first.name,
        feat=later.feat if later.feat is not None else first.feat,
    )


def parse_mi32cfg(
    text: str,
    *,
    path: str | None = None,
    legacy_pids: Collection[int] = LEGACY_PIDS,
) -> list[DeviceEntry]:
    """Parse mi32cfg text into device entries (in file order, duplicates merged).

    Raises :class:`ConfigError` for invalid JSON (with line and column), a root that is not
    an array, or any invalid entry (with ``index`` and ``field``).
    """
    try:
        root = json.loads(text, object_pairs_hook=_JsonObject)
    except json.JSONDecodeError as err:
        raise _fail(
            f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}", path
        ) from None
    if isinstance(root, _JsonObject) or not isinstance(root, list):
        raise _fail(f"the top level must be a JSON array of devices, got {_kind(root)}", path)

    entries: list[DeviceEntry] = []
    position: dict[str, int] = {}
    first_index: dict[str, int] = {}
    for index, item in enumerate(root):
        if not isinstance(item, _JsonObject):
            raise _fail(f"must be a JSON object, got {_kind(item)}", path, index)
        entry = _parse_entry(item, index, path, legacy_pids)
        if entry.mac in position:
            slot = position[entry.mac]
            earlier = entries[slot]
            _LOG.warning(
                "%sentry %d: MAC %s repeats entry %d; merged into it (key/name/feat of the "
                "later entry win%s)",
                f"{path}: " if path else "",
                index,
                entry.display_mac,
                first_index[entry.mac],
                "" if earlier.pid == entry.pid else f", PID stays {earlier.pid:04x}",
            )
            entries[slot] = _merge(earlier, entry)
        else:
            position[entry.mac] = len(entries)
            first_index[entry.mac] = index
            entries.append(entry)
    return entries


def _key_text(key: bytes | None) -> str:
    if key is None:
        return ""
    if len(key) == 12:
        key = expand_legacy_key(key)
    return key.hex().upper()


def dump_mi32cfg(entries: Iterable[DeviceEntry]) -> str:
    """Serialize ``entries`` exactly the way Tasmota's ``MI32Cfg`` command writes the file.

    ``feat`` is written only together with a custom ``name`` (as ``0`` when unknown),
    as Tasmota does.
    """
    parts: list[str] = []
    for entry in entries:
        item = (
            f'{{"MAC":"{entry.mac.upper()}","PID":"{entry.pid:04x}","key":"{_key_text(entry.key)}"'
        )
        if entry.name:
            item += f',"name":{json.dumps(entry.name, ensure_ascii=False)},"feat":{entry.feat or 0}'
        parts.append(item + "}")
    return "[" + ",".join(parts) + "]"


def load_mi32cfg(
    path: str | os.PathLike[str], *, legacy_pids: Collection[int] = LEGACY_PIDS
) -> list[DeviceEntry]:
    """Read and parse the mi32cfg file at ``path``; :class:`ConfigError` if unreadable/invalid."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise _fail(f"cannot read the device list: {err.strerror or err}", name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _fail(f"not UTF-8 text (byte offset {err.start})", name) from None
    if len(raw) > TASMOTA_MAX_BYTES:
        _LOG.info("%s: %d bytes; Tasmota would only read %d", name, len(raw), TASMOTA_MAX_BYTES)
    return parse_mi32cfg(text, path=name, legacy_pids=legacy_pids)


def save_mi32cfg(
    path: str | os.PathLike[str], entries: Iterable[DeviceEntry], *, mode: int = 0o600
) -> None:
    """Write ``entries`` to ``path`` atomically in Tasmota's format (mode 0600: keys are secret)."""
    text = dump_mi32cfg(entries)
    size = len(text.encode("utf-8"))
    if size > TASMOTA_MAX_BYTES:
        _LOG.warning(
            "%s: %d bytes; Tasmota reads at most %d, so this file would not load there",
            os.fspath(path),
            size,
            TASMOTA_MAX_BYTES,
        )
    write_atomic(path, text, mode=mode)


def parse_tasmota_key(text: str) -> tuple[str, bytes]:
    """Tasmota's ``MI32Key`` argument: ``(MAC, key)``.

    44 hex digits are the 16-byte bind key followed by the MAC; 36 hex digits a 12-byte
    legacy key followed by the MAC, returned expanded to 16 bytes as Tasmota stores it.
    Raises :class:`ValueError` with the reason otherwise.
    """
    value = text.strip()
    if not _is_hex(value) or len(value) not in (44, 36):
        raise ValueError(
            "give the 44 hex digits of Tasmota's MI32Key (32 of bind key, then the 12 of the "
            f"MAC), got {len(value)} characters" + ("" if _is_hex(value) else " (not all hex)")
        )
    key = bytes.fromhex(value[:-12])
    if len(key) == 12:
        key = expand_legacy_key(key)
    return value[-12:].upper(), key


def with_key(
    entries: Sequence[DeviceEntry], mac: str, key: bytes, pid: int | None = None
) -> tuple[list[DeviceEntry], DeviceEntry | None]:
    """``entries`` with the key of ``mac`` set, and the entry it had before (None: new).

    A device not listed is added at the end with product id ``pid``; :class:`ValueError`
    if ``pid`` is None then.
    """
    wanted = normalize_mac(mac)
    out = list(entries)
    for index, entry in enumerate(out):
        if entry.mac == wanted:
            out[index] = replace(entry, key=key)
            return out, entry
    if pid is None:
        raise ValueError(f"{wanted} is not in the device list and its product id is unknown")
    out.append(DeviceEntry(mac=wanted, pid=pid, key=key))
    return out, None


def set_key(
    path: str | os.PathLike[str], mac: str, key: bytes, pid: int | None = None
) -> DeviceEntry | None:
    """Set the key of ``mac`` in the mi32cfg at ``path`` (created if missing), atomically.

    Returns the entry the device had before (None: it was added). The file is left as it
    was when anything fails (:class:`ConfigError` for an invalid file, :class:`ValueError`
    for a device that is not listed and has no ``pid``).
    """
    try:
        existing: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        existing = None
    entries = load_mi32cfg(path) if existing is not None else []
    updated, before = with_key(entries, mac, key, pid)
    if existing is None:
        save_mi32cfg(path, updated)
        return before
    # Keep the file's owner and mode: the bridge may run as another user than this command.
    save_mi32cfg(path, updated, mode=stat.S_IMODE(existing.st_mode))
    if (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(OSError):
            os.chown(path, existing.st_uid, existing.st_gid)
    return before
