"""TOML settings."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
from repo import CONFIG

from mihomekit import settings as settings_module
from mihomekit.errors import ConfigError
from mihomekit.presence.ibeacon import IBeaconId
from mihomekit.settings import (
    BleSettings,
    BridgeSettings,
    GatewayNetworkSettings,
    GatewaySettings,
    PresenceSettings,
    RelaySettings,
    Settings,
    StalenessSettings,
    default_state_dir,
    load_settings,
    parse_settings,
)

EXAMPLE = CONFIG / "mihomekit.example.toml"


def _uncommented_example() -> str:
    """The example with every commented-out setting ("#key = ...", "#[[...]]") enabled."""
    return re.sub(r"(?m)^#(?=[\[A-Za-z_])", "", EXAMPLE.read_text(encoding="utf-8"))


def test_defaults() -> None:
    s = Settings()
    assert s.bridge.name == "Mi-Home-Bridge"
    assert s.bridge.port == 51827
    assert s.bridge.address is None
    assert s.bridge.setup_code is None
    assert s.ble == BleSettings(True, None, "auto", 120.0, False, 0.0)
    assert s.staleness.button == 604800.0
    assert s.staleness.default == 3600.0
    assert s.battery_low_threshold == 20
    assert s.motion_timeout == 30.0
    assert s.gateway.group == "224.0.0.50"
    assert (s.gateway.discovery_port, s.gateway.report_port) == (4321, 9898)
    assert s.gateway.heartbeat_timeout == 65.0
    assert s.gateway.gateways == ()
    assert GatewaySettings().port == 9898
    assert load_settings(None) == s
    assert parse_settings("") == s
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.bridge.port = 1  # type: ignore[misc]


def test_default_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/pi")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_state_dir() == "/var/lib/mihomekit"
    assert BridgeSettings().state_dir == "/var/lib/mihomekit"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert default_state_dir() == "/home/pi/.local/state/mihomekit"
    monkeypatch.setenv("XDG_STATE_HOME", "/srv/state")
    assert default_state_dir() == "/srv/state/mihomekit"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    assert default_state_dir() == "/home/pi/.local/state/mihomekit"
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/mihomekit:/var/lib/other")
    assert default_state_dir() == "/var/lib/mihomekit"
    assert parse_settings("").bridge.state_dir == "/var/lib/mihomekit"


@pytest.mark.parametrize("value", ["random", "Random", " RANDOM "])
def test_random_setup_code_is_a_setting(value: str) -> None:
    s = parse_settings(f'[bridge]\nsetup_code = "{value}"')
    assert s.bridge.setup_code == "random"


def test_example_documents_the_defaults() -> None:
    assert load_settings(EXAMPLE) == Settings()
    assert load_settings(str(EXAMPLE)) == Settings()


def test_example_commented_settings_are_valid(tmp_path: Path) -> None:
    path = tmp_path / "mihomekit.toml"
    path.write_text(_uncommented_example(), encoding="utf-8")
    s = load_settings(path)
    assert s.bridge.address == "192.168.1.20"
    assert s.bridge.setup_code == "246-28-234"
    assert s.bridge.mac == "B8:27:EB:12:34:56"
    assert s.bridge.state_dir == "/var/lib/mihomekit"
    assert s.bridge.mi32cfg == str(tmp_path / "mi32cfg")
    assert s.ble.adapter == "hci0"
    assert s.gateway.interface == "eth0"
    assert s.gateway.gateways == (
        GatewaySettings("7811dcb78b2f", "192.168.1.106", 9898, "0123456789abcdef"),
    )
    assert s.web.host_names == ("raspberrypi.fritz.box",)
    assert s.zigbee2mqtt is not None and s.zigbee2mqtt.max_devices == 500
    assert s.relays == (RelaySettings("Fan", 17),)
    keys, beacon, phone = s.presence
    assert keys == PresenceSettings("Keys", mac="C8:FD:19:12:34:56", rooms=True)
    assert beacon.ibeacon == IBeaconId("fda50693-a4e2-4fb1-afcf-c6eb07647825", 1, 2)
    assert phone.irk == bytes.fromhex("0123456789abcdef0123456789abcdef")
    (extension,) = s.extensions
    assert extension.module == "/etc/mihomekit/extensions/beacon_scanner.py"
    assert extension.options == {"report_every": 300}


def test_caps_and_the_pairing_window() -> None:
    s = parse_settings(
        '[bridge]\nmax_bridges = 3\npairing_window = 0\n[mqtt]\nhost = "b"\n'
        "[zigbee2mqtt]\nmax_devices = 50\n"
        '[web]\nhost_names = ["Pi.Home.Arpa.", "pi.lan"]\n'
    )
    assert (s.bridge.max_bridges, s.bridge.pairing_window) == (3, 0.0)
    assert s.zigbee2mqtt is not None and s.zigbee2mqtt.max_devices == 50
    assert s.web.host_names == ("pi.home.arpa", "pi.lan")
    assert isinstance(parse_settings("[bridge]\npairing_window = 60").bridge.pairing_window, float)


FULL = """
[bridge]
name = "Attic Bridge"
address = "192.168.1.20"
port = 51900
state_dir = "state"
setup_code = "18211234"
mac = "b8-27-eb-12-34-56"
mi32cfg = "~/mi32cfg"

[ble]
enabled = false
adapter = "hci1"
scan_mode = "passive"
watchdog_seconds = 60
set_clocks = true
battery_poll_hours = 12

[staleness]
climate = 1800
motion = 3600.5
contact = 10
leak = 11
smoke = 12
button = 13
default = 14

[battery]
low_threshold = 15

[motion]
timeout = 90

[gateway]
enabled = false
discover = false
interface = ""
group = "239.1.2.3"
discovery_port = 14321
report_port = 19898
heartbeat_timeout = 120

[[gateway.gateways]]
sid = "78:11:DC:B7:8B:2F"
password = "ABCDEFGHIJKLMNOP"

[[gateway.gateways]]
host = "gw.local"
port = 9899
"""


def test_full_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/pi")
    path = tmp_path / "conf" / "mihomekit.toml"
    path.parent.mkdir()
    path.write_text(FULL, encoding="utf-8")
    s = load_settings(path)
    assert s == Settings(
        bridge=BridgeSettings(
            name="Attic Bridge",
            address="192.168.1.20",
            port=51900,
            state_dir=str(tmp_path / "conf" / "state"),
            setup_code="182-11-234",
            mac="B8:27:EB:12:34:56",
            mi32cfg="/home/pi/mi32cfg",
        ),
        ble=BleSettings(
            enabled=False,
            adapter="hci1",
            scan_mode="passive",
            watchdog_seconds=60.0,
            set_clocks=True,
            battery_poll_hours=12.0,
        ),
        staleness=StalenessSettings(1800.0, 3600.5, 10.0, 11.0, 12.0, 13.0, 14.0),
        battery_low_threshold=15,
        motion_timeout=90.0,
        gateway=GatewayNetworkSettings(
            enabled=False,
            discover=False,
            interface=None,
            group="239.1.2.3",
            discovery_port=14321,
            report_port=19898,
            heartbeat_timeout=120.0,
            gateways=(
                GatewaySettings(sid="7811dcb78b2f", password="ABCDEFGHIJKLMNOP"),
                GatewaySettings(host="gw.local", port=9899),
            ),
        ),
    )
    assert isinstance(s.ble.watchdog_seconds, float)
    assert isinstance(s.motion_timeout, float)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[bridge]\nport = "51827"', "bridge.port: expected an integer"),
        ("[bridge]\nport = 51827.0", "bridge.port: expected an integer"),
        ("[bridge]\nport = true", "bridge.port: expected an integer"),
        ("[bridge]\nport = 0", "bridge.port: must be between 1 and 65535"),
        ("[bridge]\nport = 65536", "bridge.port: must be between 1 and 65535"),
        ("[bridge]\nname = 3", "bridge.name: expected a string"),
        ('[bridge]\nname = ""', "bridge.name: must not be empty"),
        ("[bridge]\nname = '" + "x" * 65 + "'", "bridge.name: must be at most 64"),
        ('[bridge]\naddress = "192.168.1"', "bridge.address: not an IP address"),
        ("[bridge]\naddress = 5", "bridge.address: expected a string"),
        ('[bridge]\nsetup_code = "1234"', "bridge.setup_code: a setup code looks like"),
        ('[bridge]\nsetup_code = "111-11-111"', "bridge.setup_code: setup code 111-11-111"),
        ("[bridge]\nsetup_code = 18211234", "bridge.setup_code: expected a string"),
        ('[bridge]\nmac = "B8:27:EB:12:34"', "bridge.mac: a MAC address must be 12 hex"),
        ("[bridge]\nprot = 1", "bridge.prot: unknown setting (did you mean 'bridge.port'?)"),
        ("[bridge]\nmax_bridges = 0", "bridge.max_bridges: must be between 1 and 64"),
        ('[bridge]\nmax_bridges = "8"', "bridge.max_bridges: expected an integer"),
        ("[bridge]\npairing_window = -1", "bridge.pairing_window: must be between 0 and"),
        ("[bridge]\npairing_window = nan", "bridge.pairing_window: must be between 0 and"),
        ("[bridge]\npairing_window = true", "bridge.pairing_window: expected a number"),
        (
            '[mqtt]\nhost = "b"\n[zigbee2mqtt]\nmax_devices = 0',
            "zigbee2mqtt.max_devices: must be between 1 and 10000",
        ),
        ('[web]\nhost_names = ["evil example"]', "web.host_names: not a host name"),
        ("[[relays]]\npin = 17", "relays[0].name: every [[relays]] entry needs a name"),
        ('[[relays]]\nname = "Fan"', "relays[0].pin: missing"),
        ('[[relays]]\nname = "Fan"\npin = 54', "relays[0].pin: must be between 0 and 53"),
        ('[[relays]]\nname = "Fan"\npin = 1\nkind = "fan"', "relays[0].kind: must be one of"),
        ('[[relays]]\nname = "F"\npin = 1\nrestore = "x"', "relays[0].restore: must be one of"),
        (
            '[[relays]]\nname = "A"\npin = 1\n[[relays]]\nname = "B"\npin = 1',
            "relays[1].pin: GPIO 1 is used by another relay",
        ),
        ('[[presence]]\nname = "K"', "presence[0]: give exactly one of mac, ibeacon and irk"),
        (
            '[[presence]]\nname = "K"\nmac = "C8:FD:19:12:34:56"\nirk = "00"',
            "presence[0]: give exactly one of",
        ),
        ('[[presence]]\nname = "K"\nmac = "C8:FD"', "presence[0].mac: a MAC address must be"),
        ('[[presence]]\nname = "K"\nibeacon = "x:1:2"', "presence[0].ibeacon: not a UUID"),
        ('[[presence]]\nname = "K"\nirk = "abc"', "presence[0].irk: an IRK has 32 hex digits"),
        (
            '[[presence]]\nname = "K"\nmac = "C8:FD:19:12:34:56"\naway_after = 0',
            "presence[0].away_after: must be a positive number",
        ),
        ("[[extensions]]\noptions = {}", "extensions[0]: give module"),
        ('[[extensions]]\nmodule = "x"\noptions = 3', "extensions[0].options: expected a table"),
        ("relays = 3", "relays: expected an array of tables"),
        ("[web]\nhost_names = [1]", "web.host_names: expected a list"),
        ("[brigde]\nport = 1", "brigde: unknown setting (did you mean 'bridge'?)"),
        ("port = 1", "port: unknown setting"),
        ("bridge = 1", "bridge: expected a table"),
        ('[ble]\nenabled = "yes"', "ble.enabled: expected true or false"),
        ('[ble]\nscan_mode = "fast"', "ble.scan_mode: must be one of 'auto', 'passive', 'active'"),
        ("[ble]\nscan_mode = 1", "ble.scan_mode: expected a string"),
        ('[ble]\nwatchdog_seconds = "2m"', "ble.watchdog_seconds: expected a number"),
        ("[ble]\nwatchdog_seconds = 0", "ble.watchdog_seconds: must be a positive number"),
        ("[ble]\nwatchdog_seconds = nan", "ble.watchdog_seconds: must be a positive number"),
        ("[ble]\nwatchdog_seconds = inf", "ble.watchdog_seconds: must be a positive number"),
        ('[ble]\nset_clocks = "daily"', "ble.set_clocks: expected true or false"),
        ('[ble]\nbattery_poll_hours = "6h"', "ble.battery_poll_hours: expected a number"),
        ("[ble]\nbattery_poll_hours = -1", "ble.battery_poll_hours: must be 0 (never) or more"),
        ("[ble]\nbattery_poll_hours = nan", "ble.battery_poll_hours: must be 0 (never) or more"),
        ("[staleness]\nclimate = -1", "staleness.climate: must be a positive number"),
        ("[staleness]\nweather = 1", "staleness.weather: unknown setting"),
        ("[battery]\nlow_threshold = 101", "battery.low_threshold: must be between 0 and 100"),
        ("[battery]\nlow_threshold = 20.5", "battery.low_threshold: expected an integer"),
        ("[battery]\nthreshold = 20", "battery.threshold: unknown setting"),
        ("[motion]\ntimeout = false", "motion.timeout: expected a number"),
        ('[gateway]\ngroup = "192.168.1.1"', "gateway.group: must be a multicast IP address"),
        ('[gateway]\ngroup = "nope"', "gateway.group: must be a multicast IP address"),
        ("[gateway]\nreport_port = 70000", "gateway.report_port: must be between 1 and 65535"),
        ("[gateway]\ndiscovery_port = -1", "gateway.discovery_port: must be between 1"),
        ("[gateway]\ngateways = 1", "gateway.gateways: expected an array of tables"),
        ("[gateway]\ngateways = [1]", "gateway.gateways[0]: expected a table"),
        ("[[gateway.gateways]]\nport = 9898", "gateway.gateways[0]: give the gateway's sid"),
        (
            '[[gateway.gateways]]\nhost = "a"\n'
            '[[gateway.gateways]]\nhost = "b"\npassword = "short"',
            "gateway.gateways[1].password: the gateway LAN password has 16 characters, got 5",
        ),
        (
            '[[gateway.gateways]]\nhost = "a"\npassword = "0123456789abcdeé"',
            "gateway.gateways[0].password: the gateway LAN password is plain ASCII",
        ),
        (
            '[[gateway.gateways]]\nhost = "a"\npassword = 1',
            "gateway.gateways[0].password: expected",
        ),
        ('[[gateway.gateways]]\nsid = "xyz"', "gateway.gateways[0].sid: a gateway sid is its MAC"),
        ('[[gateway.gateways]]\nhost = "a"\nport = 0', "gateway.gateways[0].port: must be between"),
        ('[[gateway.gateways]]\nhost = "a"\nkey = "x"', "gateway.gateways[0].key: unknown setting"),
    ],
)
def test_errors_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, path="/etc/mihomekit/mihomekit.toml")
    assert info.value.path == "/etc/mihomekit/mihomekit.toml"
    assert message in str(info.value)
    assert str(info.value).startswith("/etc/mihomekit/mihomekit.toml: ")
    assert info.value.field is not None
    assert info.value.field == message.split(":", 1)[0]


def test_invalid_toml() -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings("[bridge\nport = 1", path="x.toml")
    assert "invalid TOML" in str(info.value)
    assert "line 1" in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "missing.toml")
    assert info.value.path == str(tmp_path / "missing.toml")
    assert "cannot read" in str(info.value)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[bridge]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings(bad)


def test_empty_optional_strings_mean_unset() -> None:
    s = parse_settings('[bridge]\naddress = ""\nsetup_code = " "\nmac = ""\n[ble]\nadapter = ""')
    assert (s.bridge.address, s.bridge.setup_code, s.bridge.mac, s.ble.adapter) == (
        None,
        None,
        None,
        None,
    )


def test_ipv6_address_is_normalized() -> None:
    assert parse_settings('[bridge]\naddress = "FD00::0001"').bridge.address == "fd00::1"


def test_relative_paths_without_file_stay_relative(monkeypatch: pytest.MonkeyPatch) -> None:
    s = parse_settings('[bridge]\nstate_dir = "state"\nmi32cfg = "devices.json"')
    assert (s.bridge.state_dir, s.bridge.mi32cfg) == ("state", "devices.json")


def test_staleness_for_measures() -> None:
    stale = StalenessSettings(
        climate=100.0,
        motion=200.0,
        contact=300.0,
        leak=400.0,
        smoke=500.0,
        button=600.0,
        default=50.0,
    )
    assert stale.for_measures({"temperature", "humidity", "battery"}) == 100.0
    assert stale.for_measures({"motion", "illuminance", "battery"}) == 200.0
    assert stale.for_measures({"opening"}) == 300.0
    assert stale.for_measures({"leak"}, buttons=1) == 600.0
    assert stale.for_measures({"gas"}) == 500.0
    assert stale.for_measures(set(), buttons=6) == 600.0
    assert stale.for_measures({"battery"}) == 50.0
    assert stale.for_measures(()) == 50.0


def test_module_exports() -> None:
    assert set(settings_module.__all__) >= {"Settings", "load_settings", "parse_settings"}
