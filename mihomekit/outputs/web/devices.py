"""Device setup from the dashboard: add, rename, remove, import and export the mi32cfg.

Every change is checked whole first, then the new device list is written to the mi32cfg
atomically, and only then applied to the registry (:class:`~mihomekit.sources.device_list.
DeviceList`): a new accessory appears with a fresh aid, a removed one disappears, the
others keep theirs. If the check or the write fails, nothing changed. Changes run one at
a time.

Devices of other sources (Aqara gateway, Zigbee2MQTT) can only be renamed here: the bridge
keeps that name in its state, over the source's own name, until it is cleared with an
empty name. They are removed in their own system, not here.

Bind keys are checked against the last encrypted frame heard from the device
(:meth:`DeviceManager.check_key`); a key that does not decrypt it is refused.
"""

from __future__ import annotations

import asyncio
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from mihomekit.errors import ConfigError
from mihomekit.mi32cfg import (
    LEGACY_PIDS,
    DeviceEntry,
    dump_mi32cfg,
    normalize_mac,
    parse_mi32cfg,
)
from mihomekit.mi32cfg import parse_pid as mi32cfg_pid
from mihomekit.readings import KeyStatus
from mihomekit.registry import EncryptedFrame, Registry
from mihomekit.sources.device_list import Applied, DeviceList
from mihomekit.wording import counted

from .pages import mask_key

__all__ = ["MAX_DEVICES", "MAX_IMPORT_BYTES", "DeviceChangeError", "DeviceManager", "KeyCheck"]

#: Devices the dashboard lets the mi32cfg hold (every bridge served holds up to 149).
MAX_DEVICES = 1000
#: The largest mi32cfg accepted by the importer.
MAX_IMPORT_BYTES = 64 * 1024
MAX_NAME = 64


class DeviceChangeError(Exception):
    """A change was refused; the message says why, in words for the page."""


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """``result``: ``works``, ``wrong``, ``no_frame``, ``invalid`` or ``unknown``."""

    result: str
    message: str


def parse_key(text: str, pid: int | None = None) -> bytes | None:
    """A bind key from 32 hex digits (24 for legacy devices); ``""`` is no key."""
    cleaned = "".join(text.split()).replace("-", "")
    if not cleaned:
        return None
    if len(cleaned) > 64 or not all(c in "0123456789abcdefABCDEF" for c in cleaned):
        raise DeviceChangeError("a bind key has 32 hex digits (0-9, a-f)")
    if len(cleaned) == 32:
        return bytes.fromhex(cleaned)
    if len(cleaned) == 24 and (pid is None or pid in LEGACY_PIDS):
        return bytes.fromhex(cleaned)
    raise DeviceChangeError(f"a bind key has 32 hex digits, got {len(cleaned)}")


def parse_name(text: str) -> str | None:
    """A display name: trimmed, 1-64 printable characters; ``""`` is no name."""
    name = text.strip()
    if not name:
        return None
    if len(name) > MAX_NAME:
        raise DeviceChangeError(f"a name has at most {MAX_NAME} characters, got {len(name)}")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise DeviceChangeError("a name cannot contain control characters")
    return name


def parse_mac(text: str) -> str:
    try:
        return normalize_mac(text)
    except ValueError:
        raise DeviceChangeError(
            f"a MAC address is 12 hex digits, like A4:C1:38:12:34:56; got {text[:40]!r}"
        ) from None


def parse_pid(text: str) -> int:
    try:
        return mi32cfg_pid(text)
    except ValueError:
        raise DeviceChangeError(f"a PID is 4 hex digits, like 055b; got {text[:20]!r}") from None


class DeviceManager:
    """The dashboard's changes to the mi32cfg's device list and to device names."""

    def __init__(self, device_list: DeviceList, registry: Registry) -> None:
        self.device_list = device_list
        self.registry = registry
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path | None:
        return self.device_list.path

    @property
    def entries(self) -> list[DeviceEntry]:
        return self.device_list.entries

    # -- reading -------------------------------------------------------------------------

    def configured(self, device_id: str) -> DeviceEntry | None:
        return self.device_list.configured(device_id)

    def export_text(self, *, masked: bool = False) -> str:
        """The device list as Tasmota writes it; ``masked`` shows keys as ``5A1F…08``."""
        if not masked:
            return dump_mi32cfg(self.entries)
        parts = []
        for entry in self.entries:
            item = dump_mi32cfg([replace(entry, key=None)])[1:-1]
            if entry.key:
                item = item.replace('"key":""', f'"key":"{mask_key(entry.key)}"', 1)
            parts.append(item)
        return "[" + ",".join(parts) + "]"

    def _last_frame(self, device_id: str) -> EncryptedFrame | None:
        device = self.registry.get(device_id)
        if device is not None and device.last_encrypted is not None:
            return device.last_encrypted
        unknown = self.registry.unknown.get(device_id)
        return unknown.last_encrypted if unknown is not None else None

    def check_key(self, mac_text: str, key_text: str) -> KeyCheck:
        """Try a key on the last encrypted frame heard from the device."""
        try:
            mac = parse_mac(mac_text)
            key = parse_key(key_text)
        except DeviceChangeError as err:
            return KeyCheck("invalid", str(err))
        if key is None:
            return KeyCheck("invalid", "no key given")
        frame = self._last_frame(mac)
        if frame is None:
            return KeyCheck(
                "no_frame",
                "no encrypted frame heard from this device yet: the key cannot be checked now",
            )
        result = frame.try_key(key)
        age = int(max(0.0, time.monotonic() - frame.seen))
        if result.ok and result.encrypted:
            return KeyCheck("works", f"key works: it decrypts the frame heard {age} s ago")
        if result.key_status is KeyStatus.WRONG:
            return KeyCheck("wrong", f"wrong key: it does not decrypt the frame heard {age} s ago")
        return KeyCheck("unknown", f"could not check the key: {result.error or 'no result'}")

    # -- changes -------------------------------------------------------------------------

    async def _write(self, entries: Sequence[DeviceEntry]) -> Applied:
        try:
            return await self.device_list.write(entries)
        except OSError as err:
            raise DeviceChangeError(
                f"could not write {self.path}: {err.strerror or err}; nothing changed"
            ) from None

    async def add(self, mac_text: str, pid_text: str, name_text: str, key_text: str) -> str:
        """Add a device; returns what was done, in words."""
        mac = parse_mac(mac_text)
        unknown = self.registry.unknown.get(mac)
        if not pid_text.strip() and unknown is not None and unknown.pid is not None:
            pid = unknown.pid
        else:
            pid = parse_pid(pid_text)
        name = parse_name(name_text)
        key = parse_key(key_text, pid)
        async with self._lock:
            if self.configured(mac) is not None or self.registry.get(mac) is not None:
                raise DeviceChangeError(f"{_display(mac)} is already configured")
            if len(self.entries) >= MAX_DEVICES:
                raise DeviceChangeError(f"the device list is full ({MAX_DEVICES} devices)")
            if key is not None:
                check = self.check_key(mac, key.hex())
                if check.result == "wrong":
                    raise DeviceChangeError(f"{check.message}; nothing changed")
            entry = DeviceEntry(mac=mac, pid=pid, key=key, name=name)
            await self._write([*self.entries, entry])
        device = self.registry.get(mac)
        return f"added {device.name if device else _display(mac)} ({_display(mac)})"

    async def rename(self, id_text: str, name_text: str) -> str:
        """Rename a bridged device. A BLE device of the mi32cfg: written there first. A
        device of another source (Zigbee): the bridge keeps the name (its state), and an
        empty name gives it back its source's name."""
        device_id = self._device_id(id_text)
        if self.configured(device_id) is None:
            return self._rename_other(device_id, parse_name(name_text))
        name = parse_name(name_text)
        if name is None:
            raise DeviceChangeError("a name cannot be empty")
        async with self._lock:
            entry = self._need(device_id)
            await self._write(
                [replace(e, name=name) if e.mac == device_id else e for e in self.entries]
            )
        return f"renamed {_display(entry.mac)} to {name}"

    def _rename_other(self, device_id: str, name: str | None) -> str:
        device = self.registry.get(device_id)
        if device is None or device.source == "ble":
            raise _not_configured(device_id)
        if name is None:
            shown = self.registry.clear_name(device_id)
            return f"{device_id} has its {device.source} name again: {shown}"
        self.registry.rename(device_id, name)
        return f"renamed {device_id} to {name}"

    def _device_id(self, text: str) -> str:
        """A bridged device's id as given (a Zigbee id), else a MAC address."""
        cleaned = text.strip()
        if cleaned and self.registry.get(cleaned) is not None:
            return cleaned
        return parse_mac(text)

    async def remove(self, mac_text: str) -> str:
        mac = parse_mac(mac_text)
        async with self._lock:
            entry = self._need(mac)
            await self._write([e for e in self.entries if e.mac != mac])
        return f"removed {entry.name or _display(mac)}"

    async def import_text(self, text: str) -> str:
        """Replace the device list by a pasted mi32cfg (checked whole first)."""
        if len(text.encode("utf-8")) > MAX_IMPORT_BYTES:
            raise DeviceChangeError(f"an mi32cfg of at most {MAX_IMPORT_BYTES // 1024} KiB")
        if not text.strip():
            raise DeviceChangeError("paste an mi32cfg (a JSON array of devices) first")
        try:
            entries = parse_mi32cfg(text, path="the pasted mi32cfg")
        except ConfigError as err:
            raise DeviceChangeError(f"{err}; nothing changed") from None
        if len(entries) > MAX_DEVICES:
            raise DeviceChangeError(f"at most {MAX_DEVICES} devices, got {len(entries)}")
        async with self._lock:
            for entry in entries:
                device = self.registry.get(entry.mac)
                if device is not None and device.source != "ble":
                    raise DeviceChangeError(
                        f"{_display(entry.mac)} is a {device.source} device, not a BLE one; "
                        "nothing changed"
                    )
            applied = await self._write(entries)
        return (
            f"imported {counted(len(entries), 'device')}: {applied.added} added, "
            f"{applied.changed} changed, "
            f"{applied.removed} removed"
        )

    def _need(self, mac: str) -> DeviceEntry:
        entry = self.configured(mac)
        if entry is None:
            raise _not_configured(mac)
        return entry


def _not_configured(mac: str) -> DeviceChangeError:
    return DeviceChangeError(
        f"{_display(mac)} is not in the mi32cfg (only its BLE devices can be removed here; "
        "a Zigbee device is removed in its own system)"
    )


def _display(mac: str) -> str:
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))
