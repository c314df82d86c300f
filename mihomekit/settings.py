"""Optional TOML settings; ``Settings()`` is the default configuration.

Layout (every key optional)::

    [bridge]     name, address, port, state_dir, setup_code, mac, mi32cfg, child_bridges,
                 max_bridges, pairing_window
    [ble]        enabled, adapter, scan_mode, watchdog_seconds, set_clocks,
                 battery_poll_hours
    [staleness]  climate, motion, contact, leak, smoke, button, default   (seconds)
    [battery]    low_threshold
    [motion]     timeout
    [gateway]    enabled, discover, interface, group, discovery_port, report_port,
                 heartbeat_timeout
    [[gateway.gateways]]  sid, host, port, password
    [web]        enabled, port, password_hash, host_names   (the dashboard)
    [[bridges]]  name, sources, devices, models   (a named child bridge and its devices)
    [[esphome]]  host, port, encryption_key, name      (one table per Bluetooth proxy)
    [mqtt]       host, port, username, password, tls, ca_file, client_id,
                 publish, topic_prefix, discovery_prefix, tasmota_topic
    [[mqtt_receivers]]  topic, format, name
    [zigbee2mqtt]  enabled, base_topic, max_devices   (the broker is [mqtt]'s)
    [[relays]]   name, pin, active_high, kind, restore    (a relay on a GPIO pin)
    [[presence]] name, mac | ibeacon | irk, away_after, rooms   (a tag, beacon or phone)
    [[extensions]]  module | entry_point, options          (a Python extension)

Unknown keys and wrong types are errors (:class:`~mihomekit.errors.ConfigError` naming the
key, such as ``bridge.port: expected an integer``), so a typo never goes unnoticed. An
optional string given as ``""`` means "not set". Relative ``state_dir`` and ``mi32cfg``
paths are taken relative to the settings file's directory; ``~`` is expanded.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import math
import os
import re
import socket
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from .errors import ConfigError
from .mi32cfg import normalize_mac
from .presence.entry import AWAY_AFTER, PresenceSettings
from .presence.ibeacon import parse_ibeacon_id
from .setupcode import RANDOM, parse_setup_code
from .vocabulary import DEFAULT_STALENESS, STALENESS_KINDS

__all__ = [
    "BleSettings",
    "BridgeSettings",
    "ChildBridgeSettings",
    "EsphomeSettings",
    "ExtensionSettings",
    "GatewayNetworkSettings",
    "GatewaySettings",
    "MqttReceiverSettings",
    "MqttSettings",
    "PresenceSettings",
    "RelaySettings",
    "ScanMode",
    "Settings",
    "StalenessSettings",
    "WebSettings",
    "Zigbee2mqttSettings",
    "default_state_dir",
    "load_settings",
    "parse_settings",
]

#: The longest pairing window accepted (a week); 0 means always open.
MAX_PAIRING_WINDOW = 7 * 86400.0

ScanMode = Literal["auto", "passive", "active"]
_SCAN_MODES: tuple[ScanMode, ...] = ("auto", "passive", "active")
ReceiverFormat = Literal["theengs", "openmqttgateway", "mihomekit"]
_RECEIVER_FORMATS: tuple[ReceiverFormat, ...] = ("theengs", "openmqttgateway", "mihomekit")
RelayKind = Literal["switch", "outlet", "light"]
_RELAY_KINDS: tuple[RelayKind, ...] = ("switch", "outlet", "light")
RelayRestore = Literal["last", "off", "on"]
_RELAY_RESTORES: tuple[RelayRestore, ...] = ("last", "off", "on")
#: The highest BCM GPIO number (the Raspberry Pi's SoCs have GPIO 0-53; the header 2-27).
MAX_GPIO = 53


def default_state_dir() -> str:
    """Where state lives by default.

    ``$STATE_DIRECTORY`` when systemd provides one (``StateDirectory=``), else
    ``/var/lib/mihomekit`` for root, else ``$XDG_STATE_HOME/mihomekit`` or
    ``~/.local/state/mihomekit``.
    """
    systemd = os.environ.get("STATE_DIRECTORY", "").split(":", 1)[0]
    if systemd:
        return systemd
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None and geteuid() == 0:
        return "/var/lib/mihomekit"
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):
        return os.path.join(xdg, "mihomekit")
    return os.path.expanduser("~/.local/state/mihomekit")


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """The HomeKit bridge itself."""

    name: str = "Mi-Home-Bridge"
    #: IP address to serve HAP and mDNS on; ``None`` = the host's default address.
    address: str | None = None
    port: int = 51827
    state_dir: str = field(default_factory=default_state_dir)
    #: Fixed setup code (``XXX-XX-XXX``), or ``"random"`` for a random one made once and
    #: kept in the state directory; ``None`` = derived from ``mac``.
    setup_code: str | None = None
    #: MAC (``AA:BB:CC:DD:EE:FF``) the setup code is derived from; ``None`` = the host's.
    mac: str | None = None
    #: Path of the mi32cfg device list.
    mi32cfg: str | None = None
    #: Serve child bridges when HomeKit's 149 devices per bridge are not enough.
    child_bridges: bool = True
    #: At most this many bridges (bridge 1 and its child bridges) in all.
    max_bridges: int = 8
    #: An unpaired bridge accepts pairing for this many seconds after a start and after
    #: ``mihomekit pairing open``; 0 = always (no window).
    pairing_window: float = 600.0


@dataclass(frozen=True, slots=True)
class ChildBridgeSettings:
    """One ``[[bridges]]`` entry: a child bridge and the devices it takes.

    A device goes there when it matches every list given: its source (``ble``,
    ``zigbee``, ...), its id (BLE MAC, Zigbee IEEE address or gateway id), its model.
    """

    name: str
    sources: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BleSettings:
    """Bluetooth LE scanning."""

    enabled: bool = True
    #: Adapter name such as ``hci0``; ``None`` = the system default.
    adapter: str | None = None
    scan_mode: ScanMode = "auto"
    #: Restart scanning when no advertisement arrived for this long.
    watchdog_seconds: float = 120.0
    #: Keep the clocks of sensors that have one right (daily and after a DST change).
    set_clocks: bool = False
    #: Read the batteries advertisements lack every this many hours; 0 = never.
    battery_poll_hours: float = 0.0


@dataclass(frozen=True, slots=True)
class StalenessSettings:
    """Seconds without news after which a device's values count as stale, per kind (the
    kinds and what implies them: :mod:`mihomekit.vocabulary`)."""

    climate: float = DEFAULT_STALENESS["climate"]
    motion: float = DEFAULT_STALENESS["motion"]
    contact: float = DEFAULT_STALENESS["contact"]
    leak: float = DEFAULT_STALENESS["leak"]
    smoke: float = DEFAULT_STALENESS["smoke"]
    button: float = DEFAULT_STALENESS["button"]
    default: float = DEFAULT_STALENESS["default"]

    def as_dict(self) -> dict[str, float]:
        """Kind → seconds."""
        return {kind: cast(float, getattr(self, kind)) for kind in STALENESS_KINDS}


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """One Aqara/Xiaomi gateway: identified by ``sid`` and/or ``host``."""

    sid: str | None = None
    host: str | None = None
    port: int = 9898
    #: The 16-character LAN password; ``None`` = read-only (no writes).
    password: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayNetworkSettings:
    """The gateway LAN protocol (multicast discovery and reports)."""

    enabled: bool = True
    discover: bool = True
    #: Interface name or IP address for multicast; ``None`` = the system default.
    interface: str | None = None
    group: str = "224.0.0.50"
    discovery_port: int = 4321
    report_port: int = 9898
    heartbeat_timeout: float = 65.0
    gateways: tuple[GatewaySettings, ...] = ()


def default_client_id() -> str:
    """``mihomekit-<host name>``: stable across restarts, distinct per host."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname().split(".", 1)[0]) or "host"
    return f"mihomekit-{host}"[:40]


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """The one MQTT broker connection of the bridge (receivers, Zigbee2MQTT, output)."""

    host: str
    #: 1883, or 8883 with ``tls``.
    port: int = 1883
    #: Optional, together with ``password``.
    username: str | None = None
    password: str | None = None
    tls: bool = False
    #: CA certificate (PEM) to check the broker's with; ``None`` = the system's CAs.
    ca_file: str | None = None
    client_id: str = field(default_factory=default_client_id)
    #: Publish readings and Home Assistant discovery to the broker.
    publish: bool = False
    topic_prefix: str = "mihomekit"
    discovery_prefix: str = "homeassistant"
    #: Also publish Tasmota-style ``tele/<tasmota_topic>/SENSOR``; ``""`` = off.
    tasmota_topic: str = ""

    @property
    def status_topic(self) -> str:
        """Retained ``online``/``offline`` (also the last will)."""
        return f"{self.topic_prefix}/status"


@dataclass(frozen=True, slots=True)
class MqttReceiverSettings:
    """One ``[[mqtt_receivers]]`` entry: advertisements published by remote receivers."""

    topic: str
    format: ReceiverFormat
    #: Shown in statuses; defaults to ``<format>:<topic>``.
    name: str = ""


@dataclass(frozen=True, slots=True)
class Zigbee2mqttSettings:
    """Zigbee2MQTT's devices in HomeKit, through the ``[mqtt]`` broker."""

    enabled: bool = True
    #: Zigbee2MQTT's ``mqtt.base_topic``.
    base_topic: str = "zigbee2mqtt"
    #: At most this many devices are taken from Zigbee2MQTT's device list.
    max_devices: int = 500


#: The ESPHome native API's port.
ESPHOME_PORT = 6053


@dataclass(frozen=True, slots=True)
class EsphomeSettings:
    """One ESPHome Bluetooth proxy (``[[esphome]]``)."""

    #: IP address or host name (``proxy.local`` works through mDNS).
    host: str
    port: int = ESPHOME_PORT
    #: The proxy's API encryption key (``api: encryption: key:``, base64 of 32 bytes);
    #: ``None`` = plaintext.
    encryption_key: str | None = None
    #: The name the proxy must report (its ``esphome: name:``); also its receiver id.
    #: ``None`` = take the name it reports.
    name: str | None = None


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The Mi Dashboard (web page, live updates, ``/metrics``) on the bridge's address."""

    enabled: bool = True
    port: int = 8089
    #: ``scrypt$…`` as written by ``mihomekit web-password``; ``None`` = no password
    #: (then changes are accepted from this host only).
    password_hash: str | None = None
    #: More names the dashboard answers to (besides its addresses, the host name, its
    #: ``.local`` name and ``localhost``): a name your router's DNS gives the Pi.
    host_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """One ``[[relays]]`` entry: a relay on a GPIO pin of this host, switched from HomeKit,
    the dashboard and MQTT."""

    name: str
    #: BCM GPIO number.
    pin: int
    #: The relay is on while the pin is high (false: while it is low, as on many boards).
    active_high: bool = True
    #: How HomeKit shows it: a Switch, an Outlet or a Lightbulb.
    kind: RelayKind = "switch"
    #: After a restart: the state it had (``last``), or always ``off`` or ``on``.
    restore: RelayRestore = "last"


@dataclass(frozen=True, slots=True)
class ExtensionSettings:
    """One ``[[extensions]]`` entry: a Python module (a dotted name, or the path of a
    ``.py`` file) or an installed package's entry point in group ``mihomekit.extensions``;
    ``options`` are handed to it as they are written."""

    module: str | None = None
    entry_point: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """How the log names the extension."""
        return self.module or self.entry_point or "?"


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings; the defaults apply to everything not given in the file."""

    bridge: BridgeSettings = field(default_factory=BridgeSettings)
    ble: BleSettings = field(default_factory=BleSettings)
    staleness: StalenessSettings = field(default_factory=StalenessSettings)
    battery_low_threshold: int = 20
    motion_timeout: float = 30.0
    gateway: GatewayNetworkSettings = field(default_factory=GatewayNetworkSettings)
    #: ``None`` when there is no ``[mqtt]`` table.
    mqtt: MqttSettings | None = None
    mqtt_receivers: tuple[MqttReceiverSettings, ...] = ()
    #: ``None`` when there is no ``[zigbee2mqtt]`` table.
    zigbee2mqtt: Zigbee2mqttSettings | None = None
    web: WebSettings = field(default_factory=WebSettings)
    bridges: tuple[ChildBridgeSettings, ...] = ()
    esphome: tuple[EsphomeSettings, ...] = ()
    relays: tuple[RelaySettings, ...] = ()
    presence: tuple[PresenceSettings, ...] = ()
    extensions: tuple[ExtensionSettings, ...] = ()


# --------------------------------------------------------------------------- reading


class _Table:
    """One TOML table being read, with the key path used in error messages."""

    def __init__(self, data: Any, keypath: str, allowed: Collection[str], path: str | None) -> None:
        self.keypath = keypath
        self.path = path
        if not isinstance(data, dict):
            raise self.error("", "expected a table")
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, list(allowed), n=1)
                hint = f" (did you mean {self.name(close[0])!r}?)" if close else ""
                raise self.error(key, f"unknown setting{hint}")
        self.data: dict[str, Any] = data

    def name(self, key: str) -> str:
        if not key:
            return self.keypath
        return f"{self.keypath}.{key}" if self.keypath else key

    def error(self, key: str, reason: str) -> ConfigError:
        err = ConfigError(f"{self.name(key)}: {reason}", path=self.path)
        err.field = self.name(key)
        return err

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "expected true or false")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, "expected an integer")
        if not low <= value <= high:
            raise self.error(key, f"must be between {low} and {high}, got {value}")
        return value

    def port(self, key: str, default: int) -> int:
        return self.integer(key, default, 1, 65535)

    def seconds(self, key: str, default: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, "expected a number")
        if not math.isfinite(value) or value <= 0:
            raise self.error(key, f"must be a positive number of seconds, got {value}")
        return float(value)

    def seconds_or_zero(self, key: str, default: float, high: float) -> float:
        """Seconds from 0 (which means "no limit" where the setting says so) to ``high``."""
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, "expected a number of seconds")
        if not math.isfinite(value) or not 0 <= value <= high:
            raise self.error(key, f"must be between 0 and {high:g} seconds, got {value}")
        return float(value)

    def string(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self.error(key, "expected a string")
        if not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def optional(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, "expected a string")
        return value.strip() or None


def _resolve_path(value: str, path: str | None) -> str:
    expanded = os.path.expanduser(value)
    if path is not None and not os.path.isabs(expanded):
        expanded = os.path.join(os.path.dirname(os.path.abspath(path)), expanded)
    return expanded


def _bridge(data: Any, path: str | None) -> BridgeSettings:
    table = _Table(
        data,
        "bridge",
        (
            "name",
            "address",
            "port",
            "state_dir",
            "setup_code",
            "mac",
            "mi32cfg",
            "child_bridges",
            "max_bridges",
            "pairing_window",
        ),
        path,
    )
    defaults = BridgeSettings()
    name = table.string("name", defaults.name)
    if len(name) > 64:
        raise table.error("name", f"must be at most 64 characters, got {len(name)}")
    address = table.optional("address")
    if address is not None:
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            raise table.error("address", f"not an IP address: {address!r}") from None
    state_dir = table.optional("state_dir")
    setup_code = table.optional("setup_code")
    if setup_code is not None and setup_code.lower() == RANDOM:
        setup_code = RANDOM
    elif setup_code is not None:
        try:
            setup_code = parse_setup_code(setup_code)
        except ConfigError as err:
            raise table.error("setup_code", err.reason) from None
    mac = table.optional("mac")
    if mac is not None:
        try:
            hexmac = normalize_mac(mac)
        except ValueError as err:
            raise table.error("mac", str(err)) from None
        mac = ":".join(hexmac[i : i + 2] for i in range(0, 12, 2))
    mi32cfg = table.optional("mi32cfg")
    return BridgeSettings(
        name=name,
        address=address,
        port=table.port("port", defaults.port),
        state_dir=_resolve_path(state_dir, path) if state_dir else defaults.state_dir,
        setup_code=setup_code,
        mac=mac,
        mi32cfg=_resolve_path(mi32cfg, path) if mi32cfg else None,
        child_bridges=table.boolean("child_bridges", defaults.child_bridges),
        max_bridges=table.integer("max_bridges", defaults.max_bridges, 1, 64),
        pairing_window=table.seconds_or_zero(
            "pairing_window", defaults.pairing_window, MAX_PAIRING_WINDOW
        ),
    )


def _strings(table: _Table, key: str) -> tuple[str, ...]:
    value = table.data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise table.error(key, "expected a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _child_bridges(data: Any, path: str | None) -> tuple[ChildBridgeSettings, ...]:
    if not isinstance(data, list):
        raise ConfigError("bridges: expected [[bridges]] tables", path=path)
    entries: list[ChildBridgeSettings] = []
    for index, item in enumerate(data):
        table = _Table(item, f"bridges[{index}]", ("name", "sources", "devices", "models"), path)
        if "name" not in table.data:
            raise table.error("name", "every [[bridges]] entry needs a name")
        name = table.string("name", "").strip()
        if len(name) > 64:
            raise table.error("name", f"must be at most 64 characters, got {len(name)}")
        if any(e.name == name for e in entries):
            raise table.error("name", f"{name!r} is used twice")
        entry = ChildBridgeSettings(
            name=name,
            sources=_strings(table, "sources"),
            devices=_strings(table, "devices"),
            models=_strings(table, "models"),
        )
        if not (entry.sources or entry.devices or entry.models):
            raise table.error("", "give sources, devices or models: which devices go there")
        entries.append(entry)
    return tuple(entries)


def _ble(data: Any, path: str | None) -> BleSettings:
    table = _Table(
        data,
        "ble",
        (
            "enabled",
            "adapter",
            "scan_mode",
            "watchdog_seconds",
            "set_clocks",
            "battery_poll_hours",
        ),
        path,
    )
    defaults = BleSettings()
    hours = table.data.get("battery_poll_hours", defaults.battery_poll_hours)
    if isinstance(hours, bool) or not isinstance(hours, int | float):
        raise table.error("battery_poll_hours", "expected a number of hours (0 = never)")
    if not math.isfinite(hours) or hours < 0:
        raise table.error("battery_poll_hours", f"must be 0 (never) or more, got {hours}")
    scan_mode = table.string("scan_mode", defaults.scan_mode)
    if scan_mode not in _SCAN_MODES:
        raise table.error(
            "scan_mode", f"must be one of {', '.join(map(repr, _SCAN_MODES))}, got {scan_mode!r}"
        )
    return BleSettings(
        enabled=table.boolean("enabled", defaults.enabled),
        adapter=table.optional("adapter"),
        scan_mode=scan_mode,
        watchdog_seconds=table.seconds("watchdog_seconds", defaults.watchdog_seconds),
        set_clocks=table.boolean("set_clocks", defaults.set_clocks),
        battery_poll_hours=float(hours),
    )


def _staleness(data: Any, path: str | None) -> StalenessSettings:
    table = _Table(data, "staleness", STALENESS_KINDS, path)
    defaults = StalenessSettings().as_dict()
    return StalenessSettings(**{key: table.seconds(key, defaults[key]) for key in defaults})


def _gateway_entry(data: Any, keypath: str, path: str | None) -> GatewaySettings:
    table = _Table(data, keypath, ("sid", "host", "port", "password"), path)
    sid = table.optional("sid")
    if sid is not None:
        try:
            sid = normalize_mac(sid).lower()
        except ValueError:
            raise table.error(
                "sid", f"a gateway sid is its MAC, 12 hex digits, got {sid!r}"
            ) from None
    host = table.optional("host")
    if sid is None and host is None:
        raise table.error("", "give the gateway's sid, host or both")
    password = table.data.get("password")
    if password is not None:
        if not isinstance(password, str):
            raise table.error("password", "expected a string")
        if len(password) != 16:
            raise table.error(
                "password", f"the gateway LAN password has 16 characters, got {len(password)}"
            )
        if not password.isascii():
            raise table.error("password", "the gateway LAN password is plain ASCII")
    return GatewaySettings(
        sid=sid, host=host, port=table.port("port", GatewaySettings().port), password=password
    )


def _gateway(data: Any, path: str | None) -> GatewayNetworkSettings:
    table = _Table(
        data,
        "gateway",
        (
            "enabled",
            "discover",
            "interface",
            "group",
            "discovery_port",
            "report_port",
            "heartbeat_timeout",
            "gateways",
        ),
        path,
    )
    defaults = GatewayNetworkSettings()
    group = table.string("group", defaults.group)
    try:
        group_ok = ipaddress.ip_address(group).is_multicast
    except ValueError:
        group_ok = False
    if not group_ok:
        raise table.error("group", f"must be a multicast IP address, got {group!r}")
    raw_gateways = table.data.get("gateways", [])
    if not isinstance(raw_gateways, list):
        raise table.error("gateways", "expected an array of tables ([[gateway.gateways]])")
    gateways = tuple(
        _gateway_entry(item, f"gateway.gateways[{index}]", path)
        for index, item in enumerate(raw_gateways)
    )
    return GatewayNetworkSettings(
        enabled=table.boolean("enabled", defaults.enabled),
        discover=table.boolean("discover", defaults.discover),
        interface=table.optional("interface"),
        group=group,
        discovery_port=table.port("discovery_port", defaults.discovery_port),
        report_port=table.port("report_port", defaults.report_port),
        heartbeat_timeout=table.seconds("heartbeat_timeout", defaults.heartbeat_timeout),
        gateways=gateways,
    )


def _topic(table: _Table, key: str, default: str, *, wildcards: bool = False) -> str:
    """An MQTT topic (``wildcards``: a filter); no empty levels at the ends, no NUL."""
    topic = table.string(key, default).strip()
    if "\0" in topic or len(topic.encode()) > 65535:
        raise table.error(key, "not a valid MQTT topic")
    if not wildcards and ("+" in topic or "#" in topic):
        raise table.error(key, f"must not contain the wildcards + or #, got {topic!r}")
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if wildcards and "#" in level and (level != "#" or index != len(levels) - 1):
            raise table.error(key, f"'#' must be a whole last level, got {topic!r}")
        if wildcards and "+" in level and level != "+":
            raise table.error(key, f"'+' must be a whole level, got {topic!r}")
    if topic.startswith("/") or topic.endswith("/"):
        raise table.error(key, f"must not start or end with '/', got {topic!r}")
    return topic


def _mqtt(data: Any, path: str | None) -> MqttSettings:
    table = _Table(
        data,
        "mqtt",
        (
            "host",
            "port",
            "username",
            "password",
            "tls",
            "ca_file",
            "client_id",
            "publish",
            "topic_prefix",
            "discovery_prefix",
            "tasmota_topic",
        ),
        path,
    )
    if "host" not in table.data:
        raise table.error("host", "the broker's host name or address is required")
    host = table.string("host", "")
    tls = table.boolean("tls", False)
    username = table.optional("username")
    password = table.data.get("password")
    if password is not None and not isinstance(password, str):
        raise table.error("password", "expected a string")
    password = password or None
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        raise table.error(missing, "give username and password together")
    ca_file = table.optional("ca_file")
    if ca_file is not None and not tls:
        raise table.error("ca_file", "only used with tls = true")
    client_id = table.optional("client_id") or default_client_id()
    if len(client_id) > 65535 or not client_id.isprintable():
        raise table.error("client_id", "must be printable text")
    tasmota = table.data.get("tasmota_topic", "")
    tasmota_topic = "" if tasmota == "" else _topic(table, "tasmota_topic", "")
    return MqttSettings(
        host=host.strip(),
        port=table.port("port", 8883 if tls else 1883),
        username=username,
        password=password,
        tls=tls,
        ca_file=_resolve_path(ca_file, path) if ca_file else None,
        client_id=client_id,
        publish=table.boolean("publish", False),
        topic_prefix=_topic(table, "topic_prefix", "mihomekit"),
        discovery_prefix=_topic(table, "discovery_prefix", "homeassistant"),
        tasmota_topic=tasmota_topic,
    )


def _mqtt_receivers(data: Any, path: str | None) -> tuple[MqttReceiverSettings, ...]:
    if not isinstance(data, list):
        raise ConfigError(
            "mqtt_receivers: expected an array of tables ([[mqtt_receivers]])", path=path
        )
    receivers = []
    for index, item in enumerate(data):
        table = _Table(item, f"mqtt_receivers[{index}]", ("topic", "format", "name"), path)
        if "topic" not in table.data:
            raise table.error("topic", "the topic filter to subscribe to is required")
        topic = _topic(table, "topic", "", wildcards=True)
        fmt = table.string("format", "theengs")
        if fmt not in _RECEIVER_FORMATS:
            choices = ", ".join(map(repr, _RECEIVER_FORMATS))
            raise table.error("format", f"must be one of {choices}, got {fmt!r}")
        name = table.optional("name") or f"{fmt}:{topic}"
        receivers.append(MqttReceiverSettings(topic=topic, format=fmt, name=name))
    return tuple(receivers)


def _zigbee2mqtt(data: Any, path: str | None, mqtt: MqttSettings | None) -> Zigbee2mqttSettings:
    table = _Table(data, "zigbee2mqtt", ("enabled", "base_topic", "max_devices"), path)
    enabled = table.boolean("enabled", True)
    if enabled and mqtt is None:
        raise table.error("", "needs the broker: add an [mqtt] table with its host")
    return Zigbee2mqttSettings(
        enabled=enabled,
        base_topic=_topic(table, "base_topic", "zigbee2mqtt"),
        max_devices=table.integer("max_devices", Zigbee2mqttSettings().max_devices, 1, 10000),
    )


def _esphome_entry(data: Any, keypath: str, path: str | None) -> EsphomeSettings:
    table = _Table(data, keypath, ("host", "port", "encryption_key", "name"), path)
    if "host" not in table.data:
        raise table.error("host", "missing: the proxy's IP address or host name")
    host = table.string("host", "").strip()
    if any(ch.isspace() for ch in host) or "/" in host:
        raise table.error("host", f"not an IP address or host name: {host!r}")
    key = table.optional("encryption_key")
    if key is not None:
        try:
            raw = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise table.error(
                "encryption_key",
                "expected the proxy's API encryption key: base64 of 32 bytes (44 characters "
                "ending in '='), as `api: encryption: key:` in its YAML",
            )
    return EsphomeSettings(
        host=host,
        port=table.port("port", ESPHOME_PORT),
        encryption_key=key,
        name=table.optional("name"),
    )


def _esphome(data: Any, path: str | None) -> tuple[EsphomeSettings, ...]:
    if not isinstance(data, list):
        err = ConfigError("esphome: expected an array of tables ([[esphome]])", path=path)
        err.field = "esphome"
        raise err
    proxies: list[EsphomeSettings] = []
    for index, item in enumerate(data):
        keypath = f"esphome[{index}]"
        proxy = _esphome_entry(item, keypath, path)
        for other in proxies:
            if (other.host.lower(), other.port) == (proxy.host.lower(), proxy.port):
                clash = f"{proxy.host}:{proxy.port} is listed twice"
            elif proxy.name is not None and other.name == proxy.name:
                clash = f"the name {proxy.name!r} is given twice (names identify receivers)"
            else:
                continue
            err = ConfigError(f"{keypath}: {clash}", path=path)
            err.field = keypath
            raise err
        proxies.append(proxy)
    return tuple(proxies)


def _web(data: Any, path: str | None) -> WebSettings:
    from .passwords import password_hash_problem

    table = _Table(data, "web", ("enabled", "port", "password_hash", "host_names"), path)
    defaults = WebSettings()
    host_names = tuple(name.lower().rstrip(".") for name in _strings(table, "host_names"))
    for name in host_names:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", name):
            raise table.error("host_names", f"not a host name: {name!r}")
    password_hash = table.optional("password_hash")
    if password_hash is not None:
        problem = password_hash_problem(password_hash)
        if problem is not None:
            raise table.error("password_hash", f"{problem}; set it with `mihomekit web-password`")
    return WebSettings(
        enabled=table.boolean("enabled", defaults.enabled),
        port=table.port("port", defaults.port),
        password_hash=password_hash,
        host_names=host_names,
    )


def _array(data: Any, key: str, path: str | None) -> list[Any]:
    if not isinstance(data, list):
        err = ConfigError(f"{key}: expected an array of tables ([[{key}]])", path=path)
        err.field = key
        raise err
    return data


def _entry_name(table: _Table, names: set[str], what: str) -> str:
    if "name" not in table.data:
        raise table.error("name", f"every [[{what}]] entry needs a name")
    name = table.string("name", "").strip()
    if len(name) > 64:
        raise table.error("name", f"must be at most 64 characters, got {len(name)}")
    if name in names:
        raise table.error("name", f"{name!r} is used twice")
    names.add(name)
    return name


def _choice(table: _Table, key: str, default: str, choices: tuple[str, ...]) -> str:
    value = table.string(key, default)
    if value not in choices:
        raise table.error(key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _relays(data: Any, path: str | None) -> tuple[RelaySettings, ...]:
    relays: list[RelaySettings] = []
    names: set[str] = set()
    for index, item in enumerate(_array(data, "relays", path)):
        keys = ("name", "pin", "active_high", "kind", "restore")
        table = _Table(item, f"relays[{index}]", keys, path)
        name = _entry_name(table, names, "relays")
        if "pin" not in table.data:
            raise table.error("pin", "missing: the relay's GPIO number (BCM numbering)")
        pin = table.integer("pin", 0, 0, MAX_GPIO)
        if any(r.pin == pin for r in relays):
            raise table.error("pin", f"GPIO {pin} is used by another relay")
        relays.append(
            RelaySettings(
                name=name,
                pin=pin,
                active_high=table.boolean("active_high", True),
                kind=cast(RelayKind, _choice(table, "kind", "switch", _RELAY_KINDS)),
                restore=cast(RelayRestore, _choice(table, "restore", "last", _RELAY_RESTORES)),
            )
        )
    return tuple(relays)


def _presence(data: Any, path: str | None) -> tuple[PresenceSettings, ...]:
    entries: list[PresenceSettings] = []
    names: set[str] = set()
    for index, item in enumerate(_array(data, "presence", path)):
        keys = ("name", "mac", "ibeacon", "irk", "away_after", "rooms")
        table = _Table(item, f"presence[{index}]", keys, path)
        name = _entry_name(table, names, "presence")
        given = [key for key in ("mac", "ibeacon", "irk") if table.optional(key) is not None]
        if len(given) != 1:
            raise table.error("", "give exactly one of mac, ibeacon and irk: what to look for")
        mac = ibeacon = irk = None
        text = table.optional(given[0]) or ""
        if given[0] == "mac":
            try:
                hexmac = normalize_mac(text)
            except ValueError as err:
                raise table.error("mac", str(err)) from None
            mac = ":".join(hexmac[i : i + 2] for i in range(0, 12, 2))
        elif given[0] == "ibeacon":
            try:
                ibeacon = parse_ibeacon_id(text)
            except ValueError as err:
                raise table.error("ibeacon", str(err)) from None
        else:
            cleaned = "".join(text.split()).replace(":", "").replace("-", "")
            if len(cleaned) != 32 or not all(c in "0123456789abcdefABCDEF" for c in cleaned):
                raise table.error(
                    "irk", "an IRK has 32 hex digits (16 bytes, most significant first)"
                )
            irk = bytes.fromhex(cleaned)
        entries.append(
            PresenceSettings(
                name=name,
                mac=mac,
                ibeacon=ibeacon,
                irk=irk,
                away_after=table.seconds("away_after", AWAY_AFTER),
                rooms=table.boolean("rooms", False),
            )
        )
    return tuple(entries)


def _extensions(data: Any, path: str | None) -> tuple[ExtensionSettings, ...]:
    entries: list[ExtensionSettings] = []
    for index, item in enumerate(_array(data, "extensions", path)):
        table = _Table(item, f"extensions[{index}]", ("module", "entry_point", "options"), path)
        module = table.optional("module")
        entry_point = table.optional("entry_point")
        if (module is None) == (entry_point is None):
            raise table.error("", "give module (a module or a .py file) or entry_point")
        if module is not None and module.endswith(".py"):
            module = _resolve_path(module, path)
        options = table.data.get("options", {})
        if not isinstance(options, dict):
            raise table.error("options", "expected a table")
        entries.append(ExtensionSettings(module=module, entry_point=entry_point, options=options))
    return tuple(entries)


def _settings(data: dict[str, Any], path: str | None) -> Settings:
    root = _Table(
        data,
        "",
        (
            "bridge",
            "ble",
            "staleness",
            "battery",
            "motion",
            "gateway",
            "bridges",
            "esphome",
            "web",
            "mqtt",
            "mqtt_receivers",
            "zigbee2mqtt",
            "relays",
            "presence",
            "extensions",
        ),
        path,
    )
    defaults = Settings()
    mqtt = _mqtt(root.data["mqtt"], path) if "mqtt" in root.data else None
    battery = _Table(data.get("battery", {}), "battery", ("low_threshold",), path)
    motion = _Table(data.get("motion", {}), "motion", ("timeout",), path)
    return Settings(
        bridge=_bridge(root.data.get("bridge", {}), path),
        ble=_ble(root.data.get("ble", {}), path),
        staleness=_staleness(root.data.get("staleness", {}), path),
        battery_low_threshold=battery.integer(
            "low_threshold", defaults.battery_low_threshold, 0, 100
        ),
        motion_timeout=motion.seconds("timeout", defaults.motion_timeout),
        gateway=_gateway(root.data.get("gateway", {}), path),
        mqtt=mqtt,
        mqtt_receivers=_mqtt_receivers(root.data.get("mqtt_receivers", []), path),
        zigbee2mqtt=(
            _zigbee2mqtt(root.data["zigbee2mqtt"], path, mqtt)
            if "zigbee2mqtt" in root.data
            else None
        ),
        bridges=_child_bridges(root.data.get("bridges", []), path),
        esphome=_esphome(root.data.get("esphome", []), path),
        web=_web(root.data.get("web", {}), path),
        relays=_relays(root.data.get("relays", []), path),
        presence=_presence(root.data.get("presence", []), path),
        extensions=_extensions(root.data.get("extensions", []), path),
    )


def parse_settings(text: str, *, path: str | None = None) -> Settings:
    """Parse settings from TOML text; ``path`` is used in messages and for relative paths."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML: {err}", path=path) from None
    return _settings(data, path)


def load_settings(path: str | os.PathLike[str] | None) -> Settings:
    """Load the settings file at ``path``; ``None`` gives the defaults."""
    if path is None:
        return Settings()
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise ConfigError(f"cannot read the settings: {err.strerror or err}", path=name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte offset {err.start})", path=name) from None
    return parse_settings(text, path=name)
