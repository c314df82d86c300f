"""The bridge's own persistent state: identity, stable accessory ids, last values.

HAP-python keeps the pairing state (device id, long-term keys, paired controllers) in its
own file next to this one (``accessory.state``); this module keeps what HAP-python does
not: the ``device id → aid`` map (never reused), the setup id, the last values of every
device (so nothing shows zeros after a restart), what devices reported beyond their model
(so those services are there before the first frame), and the bridge's identity before
its first start: the HAP device id (``device_id``, handed to HAP-python, which then keeps
it in ``accessory.state``) and a random setup code when the settings ask for one.

Every write is atomic (temp file, fsync, rename, fsync of the directory) and only happens
when the content changed. An unreadable or wrongly typed file is a
:class:`~mihomekit.errors.StateError`, never silently replaced; a directory that cannot be
written is a :class:`~mihomekit.errors.StateWriteError`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomicfile import write_atomic
from .errors import StateError, StateWriteError
from .readings import Value

_LOGGER = logging.getLogger(__name__)

STATE_FILE = "bridge.json"
HAP_STATE_FILE = "accessory.state"
#: A child bridge's state (this module's files and HAP-python's) lives in this
#: subdirectory of the state directory; ``{n}`` is its number, 2, 3, ...
CHILD_DIR = "bridge-{n}"
FORMAT_VERSION = 1
#: HAP aids: 1 is the bridge itself; bridged accessories count up from 2.
FIRST_AID = 2
MAX_AID = 2**64 - 1
DEFAULT_SETUP_ID = "MI32"

_DEVICE_ID = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_SETUP_CODE = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{3}")


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
    #: Names given on the dashboard to devices of other sources (device id → name). They
    #: win over the source's own name (a Zigbee2MQTT friendly_name) until cleared;
    #: ``known_devices`` keeps the source's name. BLE names live in the mi32cfg instead.
    names: dict[str, str] = field(default_factory=dict)
    #: What each device's model learned from what it reported (device id → ``{"model":
    #: catalog model, "learned": [capabilities in the order learned]}``), so that its
    #: services are in HomeKit from the first second of the next start.
    learned: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The HAP device id (``AA:BB:CC:DD:EE:FF``) the bridge had, or will have, in
    #: ``accessory.state``; see :func:`bridge_identity`.
    device_id: str | None = None
    #: The random setup code made for ``setup_code = "random"`` (``XXX-XX-XXX``).
    random_setup_code: str | None = None
    #: A child bridge's HAP port, chosen once (the first bridge's comes from the settings).
    port: int | None = None
    #: A child bridge's ``[[bridges]]`` name, if the settings asked for it.
    label: str | None = None
    #: The text last read or written, so that an unchanged state is not written again.
    _saved_text: str | None = field(default=None, repr=False, compare=False)

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

    def forget(self, device_id: str) -> None:
        """Drop a removed device: its aid (never handed out again), values and record."""
        self.aids.pop(device_id, None)
        self.last_values.pop(device_id, None)
        self.known_devices.pop(device_id, None)
        self.names.pop(device_id, None)
        self.learned.pop(device_id, None)

    def remember_values(
        self, device_id: str, values: Mapping[str, Value], seen_wall: float | None
    ) -> None:
        self.last_values[device_id] = {"values": dict(values), "seen": seen_wall}

    def to_json(self) -> dict[str, Any]:
        """The content of ``bridge.json``."""
        data: dict[str, Any] = {"version": FORMAT_VERSION}
        if self.device_id is not None:
            data["device_id"] = self.device_id
        if self.random_setup_code is not None:
            data["setup_code"] = self.random_setup_code
        if self.port is not None:
            data["port"] = self.port
        if self.label is not None:
            data["label"] = self.label
        data.update(
            setup_id=self.setup_id,
            next_aid=self.next_aid,
            aids=dict(sorted(self.aids.items(), key=lambda kv: kv[1])),
            known_devices=self.known_devices,
        )
        if self.names:  # written only once used: an older install's file stays as it was
            data["names"] = dict(sorted(self.names.items()))
        if self.learned:  # the same
            data["learned"] = dict(sorted(self.learned.items()))
        data["last_values"] = self.last_values
        return data

    def _text(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n"

    def save(self) -> None:
        """Write ``bridge.json`` atomically, unless it already holds exactly this state.

        Raises :class:`StateWriteError` if it cannot be written (the old file stays).
        """
        text = self._text()
        if text == self._saved_text:
            return
        try:
            write_atomic(self.path, text)
        except OSError as err:
            raise state_write_error(self.path.parent, err) from err
        self._saved_text = text


def state_write_error(directory: Path, err: OSError) -> StateWriteError:
    """The one-line error for a failed write in the state ``directory``."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return StateWriteError(
            f"disk full: cannot write to the state directory {directory} ({err.strerror}); "
            f"free some space and start again"
        )
    return StateWriteError(
        f"the state directory {directory} is not writable ({err.strerror or err}); run as "
        f"the user that owns it, or choose another one with --state-dir"
    )


def check_writable(directory: str | os.PathLike[str]) -> None:
    """Write, fsync and remove a small file in ``directory``, or raise StateWriteError.

    Done at start, before any state file is replaced, so that a read-only directory or a
    full disk is reported as what it is (and nothing is half-written).
    """
    path = Path(directory)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=path)
    except OSError as err:
        raise state_write_error(path, err) from None
    try:
        os.write(fd, b"mihomekit write check\n")
        os.fsync(fd)
    except OSError as err:
        raise state_write_error(path, err) from None
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def load_state(state_dir: str | os.PathLike[str]) -> BridgeState:
    """Load ``bridge.json`` from ``state_dir`` (created empty on first start)."""
    directory = Path(state_dir).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise state_write_error(directory, err) from err
    path = directory / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return BridgeState(path=path)
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise StateError(f"cannot read state file {path}: {reason}") from err
    try:
        raw = json.loads(text)
        state = _from_json(path, raw)
    except (ValueError, TypeError, KeyError) as err:
        raise StateError(
            f"state file {path} is corrupted ({err}). It holds the accessory ids HomeKit "
            f"knows; restore it from a backup, or move it away to start with new ids."
        ) from err
    state._saved_text = state._text()
    return state


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
    names = raw.get("names", {})
    if not isinstance(names, dict):
        raise TypeError("names is not an object")
    learned = raw.get("learned", {})
    if not isinstance(learned, dict):
        raise TypeError("learned is not an object")
    device_id = raw.get("device_id")
    if device_id is not None and not (
        isinstance(device_id, str) and _DEVICE_ID.fullmatch(device_id)
    ):
        raise ValueError(f"bad device_id {device_id!r:.40}")
    code = raw.get("setup_code")
    if code is not None and not (isinstance(code, str) and _SETUP_CODE.fullmatch(code)):
        raise ValueError("bad setup_code")
    port = raw.get("port")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        raise ValueError(f"bad port {port!r:.20}")
    label = raw.get("label")
    if label is not None and not isinstance(label, str):
        raise ValueError("bad label")
    return BridgeState(
        path=path,
        port=port,
        label=label,
        setup_id=setup_id,
        aids=aids,
        next_aid=next_aid,
        last_values=clean,
        known_devices={str(k): v for k, v in known.items() if isinstance(v, dict)},
        names={str(k): v for k, v in names.items() if isinstance(v, str) and v.strip()},
        learned={str(k): v for k, v in learned.items() if _learned_entry(v)},
        device_id=device_id,
        random_setup_code=code,
    )


def _learned_entry(entry: Any) -> bool:
    """A ``learned`` entry as written (defensive against hand edits: others are dropped)."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("model"), str)
        and isinstance(entry.get("learned"), list)
        and all(isinstance(name, str) for name in entry["learned"])
    )


@dataclass(frozen=True, slots=True)
class HapStateInfo:
    """What mihomekit reads from a valid ``accessory.state``."""

    #: The HAP device id controllers know the bridge by.
    mac: str
    #: How many controllers are paired.
    paired: int


def check_hap_state(path: Path) -> HapStateInfo | None:
    """Check HAP-python's ``accessory.state`` (it holds the pairings) before the driver reads it.

    Returns ``None`` if there is no such file yet. A file that cannot be read, is not JSON,
    or has a field of the wrong type is a one-line :class:`StateError` (and is left as
    it is); key material is never quoted in the message.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise _hap_error(path, f"cannot read it: {reason}") from err
    try:
        return _hap_fields(json.loads(text))
    except ValueError as err:  # JSON syntax errors too
        raise _hap_error(path, str(err)) from err


def _hap_error(path: Path, reason: str) -> StateError:
    return StateError(
        f"pairing state {path} is unreadable ({reason}). It holds the HomeKit pairings; "
        f"restore it from a backup. Moving it away resets the bridge: it must then be "
        f"removed from and added to Apple Home again."
    )


def _hap_fields(raw: Any) -> HapStateInfo:
    """Validate the fields HAP-python's encoder reads; raises ValueError naming the field."""
    if not isinstance(raw, dict):
        raise ValueError("the top level is not an object")
    for key in ("mac", "config_version", "private_key", "public_key", "paired_clients"):
        if key not in raw:
            raise ValueError(f"{key} is missing")
    mac = raw["mac"]
    if not (isinstance(mac, str) and _DEVICE_ID.fullmatch(mac)):
        raise ValueError(f"mac must be a device id like 1A:2B:3C:4D:5E:6F, got {mac!r:.40}")
    version = raw["config_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError("config_version must be a whole number from 1")
    _key_hex(raw["private_key"], "private_key")
    _key_hex(raw["public_key"], "public_key")
    clients = _by_controller(raw["paired_clients"], "paired_clients")
    for value in clients.values():
        _key_hex(value, "paired_clients")
    usernames = _by_controller(raw.get("client_uuid_to_bytes", {}), "client_uuid_to_bytes")
    for value in usernames.values():
        _hex_text(value, "client_uuid_to_bytes")
    properties = _by_controller(raw.get("client_properties", {}), "client_properties")
    for props in properties.values():
        if not isinstance(props, dict):
            raise ValueError("client_properties: each entry must be an object")
        permissions = props.get("permissions", 0)
        if isinstance(permissions, bool) or not isinstance(permissions, int):
            raise ValueError("client_properties: permissions must be a whole number")
    accessories_hash = raw.get("accessories_hash")
    if accessories_hash is not None and not isinstance(accessories_hash, str):
        raise ValueError("accessories_hash must be a string")
    return HapStateInfo(mac=mac, paired=len(clients))


def _by_controller(value: Any, name: str) -> dict[str, Any]:
    """``value`` as an object keyed by controller ids (UUIDs), else ValueError."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    for key in value:
        try:
            uuid.UUID(key)
        except ValueError:
            raise ValueError(f"{name}: {key!r:.40} is not a controller id") from None
    return value


def _hex_text(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{name} is not valid hex") from None


def _key_hex(value: Any, name: str) -> None:
    """An Ed25519 key: 32 bytes in hex."""
    if len(_hex_text(value, name)) != 32:
        raise ValueError(f"{name} must hold a 32-byte key (64 hex digits)")


def new_device_id() -> str:
    """A random HAP device id: a locally administered unicast MAC, ``AA:BB:CC:DD:EE:FF``."""
    raw = bytearray(secrets.token_bytes(6))
    raw[0] = (raw[0] | 0x02) & 0xFE  # locally administered, not multicast
    return ":".join(f"{byte:02X}" for byte in raw)


def bridge_identity(state: BridgeState) -> str:
    """The bridge's HAP device id: the same on every start, and in ``mihomekit qr``.

    The ``mac`` of ``accessory.state`` when there is one (the id controllers paired with),
    else ``device_id`` of ``bridge.json``, else a new random id, saved at once so that the
    first start uses it. Raises :class:`StateError` for an unreadable ``accessory.state``,
    :class:`StateWriteError` if a new id cannot be saved.
    """
    hap = check_hap_state(state.hap_state_path)
    device_id = hap.mac if hap is not None else (state.device_id or new_device_id())
    if device_id != state.device_id:
        state.device_id = device_id
        state.save()
    return device_id


def child_state_dirs(state_dir: str | os.PathLike[str]) -> dict[int, Path]:
    """The child bridges' state directories that exist, by bridge number."""
    found: dict[int, Path] = {}
    directory = Path(state_dir).expanduser()
    for path in directory.glob(CHILD_DIR.format(n="*")):
        suffix = path.name.rsplit("-", 1)[-1]
        if suffix.isdigit() and int(suffix) >= 2 and (path / STATE_FILE).is_file():
            found[int(suffix)] = path
    return dict(sorted(found.items()))


def child_state_dir(state_dir: str | os.PathLike[str], number: int) -> Path:
    """Where child bridge ``number`` keeps its state."""
    return Path(state_dir).expanduser() / CHILD_DIR.format(n=number)


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
