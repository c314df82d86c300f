"""The mi32cfg as a source of devices: its BLE devices in the registry, kept in step.

The running bridge reads the mi32cfg at start. :class:`DeviceList` keeps the registry in
step with it afterwards, whoever changes it:

* the dashboard writes through :meth:`DeviceList.write` (atomically, then applied);
* another program (``mihomekit bind``, ``mihomekit key``, ``mihomekit scan --write``, a
  text editor) replaces the file: the change is read within :data:`WATCH_INTERVAL`
  seconds and applied the same way. A file that cannot be read or parsed is named once in
  the log and the devices stay as they were.

Applying a new list (:meth:`DeviceList.apply`): a device gone from the list is removed; a
new one (or one whose product id changed) is added; a new key is used at once (and checked
against the last encrypted frame heard); a new name is shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mihomekit.errors import ConfigError
from mihomekit.mi32cfg import DeviceEntry, load_mi32cfg, save_mi32cfg
from mihomekit.registry import Registry

from . import SourceStatus

__all__ = ["WATCH_INTERVAL", "Applied", "DeviceList"]

_LOGGER = logging.getLogger(__name__)

#: How often the file is looked at for changes made by other programs (seconds).
WATCH_INTERVAL = 2.0


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying a new device list did."""

    added: int = 0
    changed: int = 0
    removed: int = 0


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells that the file was replaced or changed (inode, size, mtime), or None."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class DeviceList:
    """The mi32cfg's devices (``path`` None: none was read; changes are then not saved)."""

    def __init__(
        self,
        path: Path | None,
        entries: Sequence[DeviceEntry],
        registry: Registry,
        *,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        self.path = path
        self.entries: list[DeviceEntry] = list(entries)
        self.registry = registry
        self.watch_interval = watch_interval
        self._stamp = _stamp(path) if path is not None else None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._problem: str | None = None
        self._status = SourceStatus("mi32cfg", str(path) if path is not None else "none")
        self._status.set_connected(path is not None)

    @property
    def status(self) -> SourceStatus:
        """In use (``connected``) since the file was last read without a problem."""
        return self._status

    def configured(self, device_id: str) -> DeviceEntry | None:
        return next((e for e in self.entries if e.mac == device_id), None)

    # -- Source --------------------------------------------------------------------------

    async def start(self) -> None:
        if self.path is not None and self.watch_interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- changes -------------------------------------------------------------------------

    async def write(self, entries: Sequence[DeviceEntry]) -> Applied:
        """Save ``entries`` to the file atomically, then apply them. OSError: nothing changed."""
        if self.path is None:
            raise OSError("no mi32cfg file to write to")
        async with self._lock:
            path = self.path
            await asyncio.get_running_loop().run_in_executor(
                None, save_mi32cfg, path, list(entries)
            )
            self._stamp = _stamp(path)
            return self.apply(entries)

    def apply(self, entries: Sequence[DeviceEntry]) -> Applied:
        """Make the registry hold ``entries`` (see the module docstring)."""
        old = {e.mac: e for e in self.entries}
        new = {e.mac: e for e in entries}
        self.entries = list(entries)
        registry = self.registry
        added = changed = removed = 0
        for mac in old.keys() - new.keys():
            device = registry.get(mac)
            if device is not None and device.source == "ble":
                registry.remove(mac)
            removed += 1
        for entry in entries:
            before = old.get(entry.mac)
            device = registry.get(entry.mac)
            if before == entry and device is not None:
                continue
            if device is None or before is None or before.pid != entry.pid:
                if device is not None:
                    if device.source != "ble":
                        continue  # another source's device: not the mi32cfg's to replace
                    registry.remove(entry.mac)
                registry.add_entry(entry)
                added += 1
                continue
            if before.key != entry.key:
                registry.set_key(entry.mac, entry.key)
            if entry.name and entry.name != device.name:
                registry.rename(entry.mac, entry.name)
            elif not entry.name and before.name:
                registry.clear_name(entry.mac)
            changed += 1
        return Applied(added, changed, removed)

    # -- watching the file ---------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval)
            await self.check()

    async def check(self) -> Applied | None:
        """Read the file again if another program changed it; None if it did not change."""
        path = self.path
        if path is None:
            return None
        async with self._lock:
            stamp = _stamp(path)
            if stamp == self._stamp:
                return None
            self._stamp = stamp
            if stamp is None:
                self._trouble(f"{path} is gone; the devices stay as they were")
                return None
            try:
                entries = await asyncio.get_running_loop().run_in_executor(None, load_mi32cfg, path)
            except (ConfigError, OSError) as err:
                self._trouble(f"{err}; the devices stay as they were")
                return None
            self._problem = None
            self._status.set_connected(True)
            applied = self.apply(entries)
        if applied.added or applied.changed or applied.removed:
            _LOGGER.info(
                "%s changed: %d added, %d changed, %d removed",
                os.fspath(path),
                applied.added,
                applied.changed,
                applied.removed,
            )
        return applied

    def _trouble(self, problem: str) -> None:
        if problem != self._problem:
            _LOGGER.warning("device list: %s", problem)
            self._status.error(problem)
        self._problem = problem
        self._status.set_connected(False)
