"""The bridge's own persistent state: stable accessory ids, setup id and last values.

HAP-python keeps the pairing state (device id, long-term keys, paired controllers) in its
own file next to this one (``accessory.state``); this module keeps what HAP-python does
not: the ``device id → aid`` map (never reused), the setup id, and the last values of every
device, so nothing shows zeros after a restart.

Every write is atomic (temp file, fsync, rename, fsync of the directory). An unreadable
file is a :class:`~mihomekit.errors.StateError`, never silently replaced.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomicfile import write_atomic
from .errors import StateError
from .readings import Value

_LOGGER = logging.getLogger(__name__)

STATE_FILE = "bridge.json"
HAP_STATE_FILE = "accessory.state"
FORMAT_VERSION = 1
#: HAP aids: 1 is the bridge itself; bridged accessories count up from 2.
FIRST_AID = 2
MAX_AID = 2**64 - 1
DEFAULT_SETUP_ID = "MI32"


@dataclass
class BridgeState:
    """In-memory view of ``bridge.json``."""

    path: Path
    setup_id: str = DEFAULT_SETUP_ID
    aids: dict[str, int] = field(default_factory=dict)
    next_aid: int = FIRST_AID
    last_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Devices found by sources other than the mi32cfg (Zigbee sensors), so that they are
    #: in HomeKit from the first second of the next start.
    known_devices: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def hap_state_path(self) -> Path:
        return self.path.parent / HAP_STATE_FILE

    def aid_for(self, device_id: str) -> int:
        """The device's aid; a new device gets the next number, numbers are never reused."""
        aid = self.aids.get(device_id)
        if aid is None:
            aid = self.next_aid
            if aid > MAX_AID:
                raise StateError("no accessory ids left")
            self.aids[device_id] = aid
            self.next_aid = aid + 1
        return aid

    def remember_values(
        self, device_id: str, values: Mapping[str, Value], seen_wall: float | None
    ) -> None:
        self.last_values[device_id] = {"values": dict(values), "seen": seen_wall}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "setup_id": self.setup_id,
            "next_aid": self.next_aid,
            "aids": dict(sorted(self.aids.items(), key=lambda kv: kv[1])),
            "known_devices": self.known_devices,
            "last_values": self.last_values,
        }

    def save(self) -> None:
        text = json.dumps(self.to_json(), indent=1, sort_keys=False)
        write_atomic(self.path, text + "\n")


def load_state(state_dir: str | os.PathLike[str]) -> BridgeState:
    """Load ``bridge.json`` from ``state_dir`` (created empty on first start)."""
    directory = Path(state_dir).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise StateError(f"cannot create state directory {directory}: {err.strerror}") from err
    path = directory / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return BridgeState(path=path)
    except OSError as err:
        raise StateError(f"cannot read state file {path}: {err.strerror}") from err
    try:
        raw = json.loads(text)
        return _from_json(path, raw)
    except (ValueError, TypeError, KeyError) as err:
        raise StateError(
            f"state file {path} is corrupted ({err}). It holds the accessory ids HomeKit "
            f"knows; restore it from a backup, or move it away to start with new ids."
        ) from err


def _from_json(path: Path, raw: Any) -> BridgeState:
    if not isinstance(raw, dict):
        raise TypeError("top level is not an object")
    setup_id = raw.get("setup_id", DEFAULT_SETUP_ID)
    if not (isinstance(setup_id, str) and len(setup_id) == 4 and setup_id.isalnum()):
        raise ValueError(f"bad setup_id {setup_id!r}")
    aids_raw = raw.get("aids", {})
    if not isinstance(aids_raw, dict):
        raise TypeError("aids is not an object")
    aids: dict[str, int] = {}
    for device_id, aid in aids_raw.items():
        if not isinstance(aid, int) or isinstance(aid, bool) or not FIRST_AID <= aid <= MAX_AID:
            raise ValueError(f"bad aid {aid!r} for {device_id}")
        aids[str(device_id)] = aid
    if len(set(aids.values())) != len(aids):
        raise ValueError("two devices share one aid")
    next_aid = raw.get("next_aid", FIRST_AID)
    if not isinstance(next_aid, int) or next_aid < FIRST_AID:
        raise ValueError(f"bad next_aid {next_aid!r}")
    next_aid = max([next_aid, *(a + 1 for a in aids.values())])
    last_values = raw.get("last_values", {})
    if not isinstance(last_values, dict):
        raise TypeError("last_values is not an object")
    clean: dict[str, dict[str, Any]] = {}
    for device_id, entry in last_values.items():
        if isinstance(entry, dict) and isinstance(entry.get("values"), dict):
            clean[str(device_id)] = entry
    known = raw.get("known_devices", {})
    if not isinstance(known, dict):
        raise TypeError("known_devices is not an object")
    return BridgeState(
        path=path,
        setup_id=setup_id,
        aids=aids,
        next_aid=next_aid,
        last_values=clean,
        known_devices={str(k): v for k, v in known.items() if isinstance(v, dict)},
    )


def check_hap_state(path: Path) -> None:
    """Refuse to start on a HAP state file that cannot be read (it holds the pairings)."""
    if not path.exists():
        return
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        for key in ("mac", "private_key", "public_key", "paired_clients"):
            if key not in raw:
                raise KeyError(key)
        bytes.fromhex(raw["private_key"])
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise StateError(
            f"pairing state {path} is unreadable ({err!r}). It holds the HomeKit pairings; "
            f"restore it from a backup. Moving it away resets the bridge: it must then be "
            f"removed from and added to Apple Home again."
        ) from err


def restorable(values: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Filter persisted values down to JSON scalars (defensive against hand edits)."""
    out: dict[str, dict[str, Any]] = {}
    for device_id, entry in values:
        vals = {
            k: v
            for k, v in entry.get("values", {}).items()
            if isinstance(v, (int, float, bool, str))
        }
        out[device_id] = {"values": vals, "seen": entry.get("seen")}
    return out
