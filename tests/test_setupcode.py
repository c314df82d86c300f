"""Setup code from MAC, the HomeKit validity fix, X-HM URI, QR output and host MAC lookup."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import ifaddr
import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from mihomekit.errors import ConfigError, StateError
from mihomekit.setupcode import (
    QUIET_ZONE,
    SETUP_ID,
    host_mac,
    invalid_reason,
    is_valid_setup_code,
    parse_setup_code,
    parse_setup_uri,
    qr_for_stream,
    qr_terminal,
    random_setup_code,
    resolve_setup_code,
    setup_code_from_mac,
    setup_uri,
    valid_setup_code_from_mac,
    write_qr_svg,
)
from mihomekit.state import BridgeState, load_state

# tasmota-mi32.md §2.4 (all with setup ID MI32, category 2, flags 2)
TASMOTA_EXAMPLES = [
    ("AA:BB:CC:DD:EE:FF", "111-11-111", "X-HM://0023NJPHJMI32"),
    ("24:6F:28:12:34:56", "246-28-234", "X-HM://0023VLFD6MI32"),
    ("B8:27:EB:12:34:56", "182-11-234", "X-HM://0023RRVZ6MI32"),
    ("DC:A6:32:AB:CD:EF", "111-32-111", "X-HM://0023NK5OVMI32"),
    ("AABBCC1234f2", "111-11-234", "X-HM://0023NJPKYMI32"),
]

HEX = "0123456789ABCDEF"
macs = st.text(alphabet=HEX, min_size=12, max_size=12)
# Hex digits that all map to '1' (plus a few real digits): hits the invalid codes often.
risky_macs = st.text(alphabet="01ABCDEF2", min_size=12, max_size=12)


@pytest.mark.parametrize(("mac", "code", "uri"), TASMOTA_EXAMPLES)
def test_tasmota_worked_examples(mac: str, code: str, uri: str) -> None:
    assert setup_code_from_mac(mac) == code
    assert setup_uri(code) == uri
    assert setup_uri(code, "MI32", 2, 2) == uri


def test_setup_code_accepts_mac_formats() -> None:
    assert setup_code_from_mac("b827eb123456") == "182-11-234"
    assert setup_code_from_mac("B8-27-EB-12-34-56") == "182-11-234"
    with pytest.raises(ValueError):
        setup_code_from_mac("B8:27:EB:12:34")


@given(macs)
def test_setup_code_rule(hexmac: str) -> None:
    code = setup_code_from_mac(hexmac)
    kept = hexmac[0:3] + hexmac[4:6] + hexmac[7:10]
    expected = "".join(c if c in "23456789" else "1" for c in kept)
    assert code == f"{expected[:3]}-{expected[3:5]}-{expected[5:]}"


def test_homekit_uri_examples() -> None:
    # homekit.md §8
    assert setup_uri("031-45-154", "MB42") == "X-HM://0023ISYWYMB42"
    assert setup_uri("03145154", setup_id="MB42", category=2, flags=2) == "X-HM://0023ISYWYMB42"
    assert setup_uri("518-08-582", "7OSX", category=7, flags=2) == "X-HM://0071WK4SM7OSX"
    assert parse_setup_uri("X-HM://007JNU5AE7OSX") == ("518-08-582", "7OSX", 7, 10)
    assert setup_uri("518-08-582", "7OSX", category=7, flags=10) == "X-HM://007JNU5AE7OSX"


def test_uri_bit_layout() -> None:
    uri = setup_uri("000-00-001", "ABCD", category=0, flags=0)
    assert uri == "X-HM://000000001ABCD"
    payload = int(setup_uri("999-99-999", "ZZZZ", 255, 15)[7:16], 36)
    assert payload == (255 << 31) | (15 << 27) | 99_999_999
    assert payload >> 39 == 0  # version and reserved bits stay 0


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("18211234x",), {}),
        (("182-112-34",), {}),
        (("182-11-234", "mi32"), {}),
        (("182-11-234", "MI3"), {}),
        (("182-11-234",), {"category": 256}),
        (("182-11-234",), {"flags": 16}),
        (("182-11-234",), {"flags": -1}),
    ],
)
def test_setup_uri_rejects_bad_arguments(args: tuple[str, ...], kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        setup_uri(*args, **kwargs)  # type: ignore[arg-type]


@given(
    st.integers(0, 99_999_999),
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4),
    st.integers(0, 255),
    st.integers(0, 15),
)
def test_uri_round_trip(value: int, setup_id: str, category: int, flags: int) -> None:
    digits = f"{value:08d}"
    code = f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
    uri = setup_uri(code, setup_id, category, flags)
    assert len(uri) == len("X-HM://") + 9 + 4
    assert parse_setup_uri(uri) == (code, setup_id, category, flags)


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("182-11-234", True),
        ("031-45-154", True),
        ("111-11-112", True),
        ("123-45-679", True),
        ("000-00-000", False),
        ("111-11-111", False),
        ("999-99-999", False),
        ("123-45-678", False),
        ("876-54-321", False),
        ("18211234", False),
        ("182-11-23", False),
        ("182 11 234", False),
        ("\uff11\uff18\uff12-11-234", False),  # full-width digits
        ("182-11-234\n", False),
    ],
)
def test_is_valid_setup_code(code: str, valid: bool) -> None:
    assert is_valid_setup_code(code) is valid
    assert (invalid_reason(code) is None) is valid


def _documented_fix(hexmac: str, tasmota: str) -> str:
    """The fix-up rule exactly as the module docstring states it."""
    n = 0
    while True:
        digest = hashlib.sha256(f"mihomekit-setup-code:{hexmac}:{n}".encode("ascii")).digest()
        candidate = tasmota[:7] + f"{int.from_bytes(digest[0:4], 'big') % 1000:03d}"
        if is_valid_setup_code(candidate):
            return candidate
        n += 1


def test_valid_code_unchanged_when_tasmota_code_is_fine() -> None:
    assert valid_setup_code_from_mac("B8:27:EB:12:34:56") == ("182-11-234", None)
    assert valid_setup_code_from_mac("DC:A6:32:AB:CD:EF") == ("111-32-111", None)


@pytest.mark.parametrize(
    ("mac", "tasmota", "expected", "why"),
    [
        ("AA:BB:CC:DD:EE:FF", "111-11-111", "111-11-788", "all eight digits are equal"),
        ("22:22:22:22:22:22", "222-22-222", None, "all eight digits are equal"),
        ("12:30:45:06:78:00", "123-45-678", None, "123-45-678"),
        ("87:60:54:03:21:00", "876-54-321", None, "876-54-321"),
        # first hash candidate is 111 again, so the rule moves on to n = 1
        ("AABBCC0000DC", "111-11-111", "111-11-535", "all eight digits are equal"),
    ],
)
def test_invalid_tasmota_code_is_fixed(
    mac: str, tasmota: str, expected: str | None, why: str
) -> None:
    hexmac = mac.replace(":", "").upper()
    assert setup_code_from_mac(mac) == tasmota
    code, reason = valid_setup_code_from_mac(mac)
    assert is_valid_setup_code(code)
    assert code[:7] == tasmota[:7]
    assert code == _documented_fix(hexmac, tasmota)
    if expected is not None:
        assert code == expected
    assert reason is not None
    assert tasmota in reason
    assert why in reason
    assert valid_setup_code_from_mac(mac.lower()) == (code, reason)


def test_fix_needs_a_second_round_for_this_mac() -> None:
    digest = hashlib.sha256(b"mihomekit-setup-code:AABBCC0000DC:0").digest()
    assert int.from_bytes(digest[:4], "big") % 1000 == 111


@settings(max_examples=300)
@given(st.one_of(macs, risky_macs))
def test_fix_is_valid_and_deterministic(hexmac: str) -> None:
    tasmota = setup_code_from_mac(hexmac)
    code, reason = valid_setup_code_from_mac(hexmac)
    assert is_valid_setup_code(code)
    assert valid_setup_code_from_mac(hexmac) == (code, reason)
    colon = ":".join(hexmac[i : i + 2] for i in range(0, 12, 2))
    assert valid_setup_code_from_mac(colon.lower()) == (code, reason)
    if is_valid_setup_code(tasmota):
        assert (code, reason) == (tasmota, None)
    else:
        assert reason is not None
        assert code[:7] == tasmota[:7]
        assert code == _documented_fix(hexmac, tasmota)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("18211234", "182-11-234"), ("182-11-234", "182-11-234"), (" 03145154\n", "031-45-154")],
)
def test_parse_setup_code(text: str, expected: str) -> None:
    assert parse_setup_code(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("1821123", "looks like"),
        ("182-1123-4", "looks like"),
        ("182-11234", "looks like"),
        ("abc-de-fgh", "looks like"),
        ("", "looks like"),
        ("11111111", "all eight digits are equal"),
        ("123-45-678", "123-45-678"),
        ("87654321", "876-54-321"),
    ],
)
def test_parse_setup_code_rejects(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_setup_code(text)
    assert needle in str(info.value)


# --------------------------------------------------------------------------- QR


def _decode_terminal(text: str, light_on_dark: bool) -> list[list[bool]]:
    """Turn half-block output back into rows of dark modules."""
    halves = {" ": (False, False), "▀": (True, False), "▄": (False, True), "█": (True, True)}
    rows: list[list[bool]] = []
    for line in text.split("\n"):
        pairs = [halves[char] for char in line]
        rows.append([top != light_on_dark for top, _ in pairs])
        rows.append([bottom != light_on_dark for _, bottom in pairs])
    return rows


@pytest.mark.parametrize("light_on_dark", [True, False])
@pytest.mark.parametrize("border", [2, 4])
def test_terminal_qr_matches_the_symbol(light_on_dark: bool, border: int) -> None:
    uri = "X-HM://0023RRVZ6MI32"
    text = qr_terminal(uri, border=border, light_on_dark=light_on_dark)
    assert set(text) <= {" ", "▀", "▄", "█", "\n"}
    assert "\x1b" not in text
    expected = [
        [bool(m) for m in row] for row in segno.make_qr(uri, error="m").matrix_iter(border=border)
    ]
    size = len(expected)
    lines = text.split("\n")
    assert len(lines) == (size + 1) // 2
    assert all(len(line) == size for line in lines)
    decoded = _decode_terminal(text, light_on_dark)
    assert decoded[:size] == expected
    if size % 2:  # the padding half-row is left empty
        assert all(char in " ▀" for char in lines[-1])


def test_terminal_qr_default_has_the_standard_quiet_zone() -> None:
    assert QUIET_ZONE == 4
    text = qr_terminal("X-HM://0023RRVZ6MI32")
    lines = text.split("\n")
    assert lines[0] == lines[1] == "█" * len(lines[0])  # four light quiet-zone rows
    assert lines[2] != lines[1]
    assert all(line.startswith("████") and line.endswith("████") for line in lines[:-1])


def test_colour_qr_paints_dark_modules_black_on_white() -> None:
    uri = "X-HM://0023RRVZ6MI32"
    text = qr_terminal(uri, color=True)
    lines = text.split("\n")
    start, end = "\x1b[38;5;16;48;5;231m", "\x1b[0m"
    assert all(line.startswith(start) and line.endswith(end) for line in lines)
    glyphs = "\n".join(line[len(start) : -len(end)] for line in lines)
    # Glyphs paint dark modules: the same drawing as for a light terminal.
    assert glyphs == qr_terminal(uri, light_on_dark=False)


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("tty", "env", "expected"),
    [
        (True, {"TERM": "xterm"}, {"color": True}),
        (True, {"TERM": "xterm", "NO_COLOR": "1"}, {"light_on_dark": True}),
        (True, {"TERM": "dumb"}, {"light_on_dark": True}),
        (False, {"TERM": "xterm"}, {"light_on_dark": True}),
        (False, {"COLORFGBG": "0;15"}, {"light_on_dark": False}),
        (False, {"COLORFGBG": "15;0"}, {"light_on_dark": True}),
    ],
)
def test_qr_for_stream_picks_a_drawing_that_scans(
    monkeypatch: pytest.MonkeyPatch, tty: bool, env: dict[str, str], expected: dict[str, bool]
) -> None:
    for name in ("TERM", "NO_COLOR", "COLORFGBG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    uri = "X-HM://0023RRVZ6MI32"
    assert qr_for_stream(uri, _Stream(tty)) == qr_terminal(uri, **expected)


def test_qr_is_a_regular_qr_code() -> None:
    qr = segno.make_qr("X-HM://0023RRVZ6MI32", error="m")
    assert not qr.is_micro
    text = qr_terminal("X-HM://0023RRVZ6MI32", border=0)
    assert len(text.split("\n")[0]) == 21  # version 1


def test_write_qr_svg(tmp_path: Path) -> None:
    target = tmp_path / "code.svg"
    write_qr_svg("X-HM://0023RRVZ6MI32", target)
    content = target.read_text(encoding="utf-8")
    assert "<svg" in content
    assert content.rstrip().endswith("</svg>")
    assert "HomeKit setup code" in content
    assert os.listdir(tmp_path) == ["code.svg"]


# --------------------------------------------------------------------------- host MAC


def _fake_sysfs(root: Path, interfaces: dict[str, tuple[str, bool, str]]) -> str:
    """name -> (address, backed by a device, type)."""
    for name, (address, device, kind) in interfaces.items():
        folder = root / name
        folder.mkdir()
        (folder / "address").write_text(address + "\n")
        (folder / "type").write_text(kind + "\n")
        if device:
            (folder / "device").mkdir()
    return str(root)


@pytest.fixture
def sysfs(tmp_path: Path) -> str:
    return _fake_sysfs(
        tmp_path,
        {
            "lo": ("00:00:00:00:00:00", False, "772"),
            "docker0": ("02:42:ac:11:00:01", False, "1"),
            "eth0": ("b8:27:eb:12:34:56", True, "1"),
            "wlan0": ("b8:27:eb:ab:cd:ef", True, "1"),
            "zero0": ("00:00:00:00:00:00", True, "1"),
        },
    )


def _adapters() -> list[ifaddr.Adapter]:
    return [
        ifaddr.Adapter(
            "lo", "lo", [ifaddr.IP("127.0.0.1", 8, "lo"), ifaddr.IP(("::1", 0, 0), 128, "lo")]
        ),
        ifaddr.Adapter("eth0", "eth0", [ifaddr.IP("192.168.1.20", 24, "eth0")]),
        ifaddr.Adapter(
            "wlan0",
            "wlan0",
            [ifaddr.IP("192.168.2.30", 24, "wlan0"), ifaddr.IP(("fd00::30", 0, 0), 64, "wlan0")],
        ),
    ]


def test_host_mac_first_hardware_interface(sysfs: str) -> None:
    assert host_mac(sysfs=sysfs) == "B8:27:EB:12:34:56"


def test_host_mac_by_address(sysfs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ifaddr, "get_adapters", _adapters)
    assert host_mac("192.168.2.30", sysfs=sysfs) == "B8:27:EB:AB:CD:EF"
    assert host_mac("fd00::30", sysfs=sysfs) == "B8:27:EB:AB:CD:EF"
    assert host_mac("192.168.1.20", sysfs=sysfs) == "B8:27:EB:12:34:56"
    # loopback has no MAC, unknown addresses and garbage fall back to the first interface
    assert host_mac("127.0.0.1", sysfs=sysfs) == "B8:27:EB:12:34:56"
    assert host_mac("10.9.9.9", sysfs=sysfs) == "B8:27:EB:12:34:56"
    assert host_mac("not an address", sysfs=sysfs) == "B8:27:EB:12:34:56"


def test_host_mac_survives_ifaddr_failure(sysfs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[ifaddr.Adapter]:
        raise OSError("netlink unavailable")

    monkeypatch.setattr(ifaddr, "get_adapters", broken)
    assert host_mac("192.168.2.30", sysfs=sysfs) == "B8:27:EB:12:34:56"


def test_host_mac_virtual_interfaces_by_name(tmp_path: Path) -> None:
    root = _fake_sysfs(
        tmp_path,
        {
            "veth9": ("0a:00:00:00:00:09", False, "1"),
            "eth0": ("0a:00:00:00:00:01", False, "1"),
            "bcast": ("ff:ff:ff:ff:ff:ff", False, "1"),
            "mcast": ("01:00:5e:00:00:01", False, "1"),
        },
    )
    assert host_mac(sysfs=root) == "0A:00:00:00:00:01"


def test_host_mac_none_without_interfaces(tmp_path: Path) -> None:
    root = _fake_sysfs(tmp_path, {"lo": ("00:00:00:00:00:00", False, "772")})
    assert host_mac(sysfs=root) is None
    assert host_mac(sysfs=str(tmp_path / "absent")) is None
    assert host_mac("192.168.1.1", sysfs=str(tmp_path / "absent")) is None


def test_host_mac_on_this_machine_does_not_raise() -> None:
    mac = host_mac()
    assert mac is None or (len(mac) == 17 and mac == mac.upper())


# --------------------------------------------------------------------------- resolution


def test_resolve_prefers_configured_code() -> None:
    choice = resolve_setup_code(configured="03145154", mac="B8:27:EB:12:34:56")
    assert (choice.code, choice.source, choice.mac, choice.note) == (
        "031-45-154",
        "settings",
        None,
        None,
    )


def test_resolve_from_mac() -> None:
    choice = resolve_setup_code(mac="b827eb123456")
    assert (choice.code, choice.source, choice.mac, choice.note) == (
        "182-11-234",
        "mac",
        "B8:27:EB:12:34:56",
        None,
    )
    fixed = resolve_setup_code(mac="AA:BB:CC:DD:EE:FF")
    assert fixed.code == "111-11-788"
    assert fixed.note is not None


def test_resolve_without_mac(monkeypatch: pytest.MonkeyPatch) -> None:
    import mihomekit.setupcode as module

    seen: list[str | None] = []

    def fake_host_mac(address: str | None = None) -> str | None:
        seen.append(address)
        return None

    monkeypatch.setattr(module, "host_mac", fake_host_mac)
    with pytest.raises(ConfigError, match="no host MAC found; pass --mac"):
        resolve_setup_code(address="192.168.1.20")
    assert seen == ["192.168.1.20"]
    with pytest.raises(ConfigError):
        resolve_setup_code(mac="nonsense")


def test_random_codes_are_valid_and_differ() -> None:
    codes = {random_setup_code() for _ in range(200)}
    assert len(codes) > 190
    assert all(is_valid_setup_code(code) for code in codes)


def test_resolve_random_code_is_made_once(tmp_path: Path) -> None:
    state = load_state(tmp_path)
    first = resolve_setup_code(configured="random", mac="B8:27:EB:12:34:56", state=lambda: state)
    assert first.source == "random" and is_valid_setup_code(first.code)
    again = load_state(tmp_path)
    assert again.random_setup_code == first.code
    assert resolve_setup_code(configured="RANDOM", state=lambda: again).code == first.code


def test_resolve_random_code_needs_a_state() -> None:
    with pytest.raises(ConfigError, match="state directory"):
        resolve_setup_code(configured="random")


def test_resolve_refuses_an_invalid_persisted_random_code(tmp_path: Path) -> None:
    (tmp_path / "bridge.json").write_text(json.dumps({"setup_code": "111-11-111"}))
    state = load_state(tmp_path)
    with pytest.raises(StateError, match="all eight digits are equal"):
        resolve_setup_code(configured="random", state=lambda: state)


def test_resolve_order_mac_then_host_then_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mihomekit.setupcode as module

    loads: list[BridgeState] = []

    def state() -> BridgeState:
        loads.append(load_state(tmp_path))
        return loads[-1]

    monkeypatch.setattr(module, "host_mac", lambda address=None: "24:6F:28:12:34:56")
    explicit = resolve_setup_code(mac="B8:27:EB:12:34:56", state=state)
    assert (explicit.code, explicit.source) == ("182-11-234", "mac")
    host = resolve_setup_code(address="192.168.1.20", state=state)
    assert (host.code, host.source, host.mac) == ("246-28-234", "host", "24:6F:28:12:34:56")
    assert loads == []  # the state is not touched while a MAC is found
    monkeypatch.setattr(module, "host_mac", lambda address=None: None)
    identity = resolve_setup_code(address="192.168.1.20", state=state)
    assert identity.source == "identity"
    assert identity.mac == loads[0].device_id
    assert identity.code == valid_setup_code_from_mac(loads[0].device_id or "")[0]
    assert resolve_setup_code(state=state).code == identity.code  # kept


def test_setup_id_constant() -> None:
    assert SETUP_ID == "MI32"
