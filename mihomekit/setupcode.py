"""HomeKit setup code, setup URI and QR code, compatible with Tasmota's MI32 bridge.

Setup code from a MAC (Tasmota's rule)
    Write the MAC as 12 upper-case hex digits ``h0 … h11``. Each of ``h0 … h9`` that is a
    digit ``2``-``9`` is kept; ``0``, ``1`` and ``A``-``F`` become ``1``. The code is
    ``h0 h1 h2 - h4 h5 - h7 h8 h9``; hex digits 3, 6, 10 and 11 are not used. Example:
    ``B8:27:EB:12:34:56`` → ``182-11-234``. The setup ID is always ``MI32``.

Making such a code acceptable to HomeKit (mihomekit's rule)
    HomeKit refuses codes whose eight digits are all equal and the sequences
    ``123-45-678`` and ``876-54-321``; Tasmota's rule produces them for some MACs (for
    example ``AA:BB:CC:DD:EE:FF`` → ``111-11-111``). :func:`valid_setup_code_from_mac` then
    keeps the first five digits and replaces the last three, deterministically::

        for n = 0, 1, 2, ...:
            digest = SHA-256(ASCII "mihomekit-setup-code:" + MAC + ":" + decimal(n))
            last3  = big-endian integer of digest[0:4] modulo 1000, as 3 digits
            if code[0:7] + last3 is a valid code: use it and stop

    ``MAC`` is the 12 upper-case hex digits without separators. The same MAC always gives
    the same code, and a valid Tasmota code is never changed.

Where the code comes from (:func:`resolve_setup_code`, used by ``run`` and ``qr`` alike)
    1. ``setup_code`` in the settings: that code; ``setup_code = "random"``: a random
       valid code made once with :mod:`secrets` and kept in ``bridge.json``;
    2. otherwise Tasmota's rule above, applied to the first MAC found of: ``--mac`` (or
       ``mac`` in the settings), the host MAC (:func:`host_mac` of the bridge address),
       the bridge's persisted HAP device id (:func:`mihomekit.state.bridge_identity`, for
       hosts without a MAC such as containers and network namespaces).

Child bridges (mihomekit's rule)
    Bridge 1 uses the code above. Child bridge ``N`` (2, 3, ...; see
    :mod:`mihomekit.placement`) derives its code from bridge 1's, deterministically::

        for n = 0, 1, 2, ...:
            tag    = ASCII "mihomekit-child-bridge:" + D + ":" + decimal(N) + ":" + decimal(n)
            digits = big-endian integer of SHA-256(tag)[0:4] modulo 100000000, as 8 digits
            if digits, written XXX-XX-XXX, is a valid code other than bridge 1's: use it

    ``D`` is bridge 1's code as 8 digits without dashes. Its setup ID is ``MB`` followed by
    ``N`` in two base-36 digits (``MB02``, ``MB03``, ...), so that a scanned QR code finds
    that bridge and no other.

Setup URI
    ``X-HM://`` + the 46-bit payload in 9 upper-case base-36 digits + the setup ID, where the
    payload is ``version(3)=0 | reserved(4)=0 | category(8) | flags(4) | code(27)`` (most
    significant first) and ``code`` is the integer value of the 8 digits.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from .atomicfile import write_atomic
from .errors import ConfigError, StateError
from .mi32cfg import normalize_mac
from .state import BridgeState, bridge_identity

__all__ = [
    "BRIDGE_CATEGORY",
    "FLAG_IP",
    "QUIET_ZONE",
    "RANDOM",
    "SETUP_ID",
    "SetupCodeChoice",
    "child_setup_code",
    "child_setup_id",
    "host_mac",
    "invalid_reason",
    "is_valid_setup_code",
    "parse_setup_code",
    "parse_setup_uri",
    "qr_for_stream",
    "qr_matrix",
    "qr_svg",
    "qr_terminal",
    "random_setup_code",
    "resolve_setup_code",
    "setup_code_from_mac",
    "setup_code_mac",
    "setup_uri",
    "valid_setup_code_from_mac",
    "write_qr_svg",
]

_LOG = logging.getLogger(__name__)

#: Setup ID of Tasmota's MI32 bridge; part of the QR payload and of the mDNS ``sh`` hash.
SETUP_ID = "MI32"
#: HomeKit accessory category of a bridge.
BRIDGE_CATEGORY = 2
#: Setup payload flag: the accessory is reached over IP.
FLAG_IP = 2
#: ``setup_code`` setting that asks for a random code (made once, kept in the state).
RANDOM = "random"
#: Light modules around a QR code; the QR standard asks for 4.
QUIET_ZONE = 4

_DASHED = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{3}")
_PLAIN = re.compile(r"[0-9]{8}")
_SETUP_ID = re.compile(r"[0-9A-Z]{4}")
_URI = re.compile(r"X-HM://([0-9A-Z]{9})([0-9A-Z]{4})")
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FORBIDDEN = {"12345678": "the sequence 123-45-678", "87654321": "the sequence 876-54-321"}
_FIX_TAG = "mihomekit-setup-code:"
_CHILD_TAG = "mihomekit-child-bridge:"


# --------------------------------------------------------------------------- setup code


def setup_code_from_mac(mac: str) -> str:
    """Tasmota's setup code for ``mac`` (any format :func:`normalize_mac` accepts)."""
    hexmac = normalize_mac(mac)
    mapped = [char if "2" <= char <= "9" else "1" for char in hexmac[:10]]
    return f"{''.join(mapped[0:3])}-{''.join(mapped[4:6])}-{''.join(mapped[7:10])}"


def invalid_reason(code: str) -> str | None:
    """Why HomeKit would reject ``code`` (``None`` if it is a valid ``XXX-XX-XXX`` code)."""
    if not isinstance(code, str) or not _DASHED.fullmatch(code):
        return "not in the format XXX-XX-XXX"
    digits = code.replace("-", "")
    if len(set(digits)) == 1:
        return "all eight digits are equal"
    return _FORBIDDEN.get(digits)


def is_valid_setup_code(code: str) -> bool:
    """True if ``code`` is ``XXX-XX-XXX`` and not one of the codes HomeKit refuses."""
    return invalid_reason(code) is None


def valid_setup_code_from_mac(mac: str) -> tuple[str, str | None]:
    """Tasmota's code for ``mac``, changed by the documented rule if HomeKit would refuse it.

    Returns ``(code, reason)``; ``reason`` is ``None`` when Tasmota's code is used as is and
    otherwise says what was changed and why.
    """
    hexmac = normalize_mac(mac)
    tasmota = setup_code_from_mac(hexmac)
    why = invalid_reason(tasmota)
    if why is None:
        return tasmota, None
    n = 0
    while True:
        digest = hashlib.sha256(f"{_FIX_TAG}{hexmac}:{n}".encode("ascii")).digest()
        candidate = f"{tasmota[:7]}{int.from_bytes(digest[:4], 'big') % 1000:03d}"
        if is_valid_setup_code(candidate):
            reason = (
                f"the code derived from the MAC, {tasmota}, is not accepted by HomeKit ({why}); "
                f"its last three digits were replaced by {candidate[7:]}, derived from a "
                f"SHA-256 hash of the MAC"
            )
            return candidate, reason
        n += 1


def child_setup_code(first: str, number: int) -> str:
    """Child bridge ``number``'s setup code, derived from bridge 1's code ``first``."""
    digits = first.replace("-", "")
    n = 0
    while True:
        tag = f"{_CHILD_TAG}{digits}:{number}:{n}".encode("ascii")
        value = int.from_bytes(hashlib.sha256(tag).digest()[:4], "big") % 10**8
        text = f"{value:08d}"
        code = f"{text[:3]}-{text[3:5]}-{text[5:]}"
        if is_valid_setup_code(code) and code != first:
            return code
        n += 1


def child_setup_id(number: int) -> str:
    """Child bridge ``number``'s setup ID: ``MB`` and two base-36 digits (``MB02``)."""
    if not 2 <= number < 36 * 36:
        raise ValueError(f"no setup ID for bridge {number}")
    return f"MB{_BASE36[number // 36]}{_BASE36[number % 36]}"


def parse_setup_code(text: str) -> str:
    """Normalize ``18211234`` or ``182-11-234`` to ``182-11-234``.

    Raises :class:`ConfigError` for anything else and for codes HomeKit refuses.
    """
    candidate = text.strip() if isinstance(text, str) else ""
    if _PLAIN.fullmatch(candidate):
        candidate = f"{candidate[:3]}-{candidate[3:5]}-{candidate[5:]}"
    if not _DASHED.fullmatch(candidate):
        raise ConfigError(f"a setup code looks like 123-45-679 or 12345679, got {text!r}")
    why = invalid_reason(candidate)
    if why is not None:
        raise ConfigError(f"setup code {candidate} is not accepted by HomeKit: {why}")
    return candidate


def random_setup_code() -> str:
    """A random setup code HomeKit accepts, from :mod:`secrets`."""
    while True:
        digits = f"{secrets.randbelow(10**8):08d}"
        code = f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
        if is_valid_setup_code(code):
            return code


@dataclass(frozen=True, slots=True)
class SetupCodeChoice:
    """The bridge's setup code and where it came from.

    ``source`` is ``"settings"`` (configured code), ``"random"`` (the persisted random
    code), ``"mac"`` (``--mac`` or the settings' ``mac``), ``"host"`` (the host MAC) or
    ``"identity"`` (the bridge's persisted device id); ``mac`` is the MAC the code was
    derived from. ``note`` explains a change made to the derived code, else ``None``.
    """

    code: str
    source: str
    mac: str | None = None
    note: str | None = None


#: Gives the bridge's state when (and only when) it is needed.
StateLoader = Callable[[], BridgeState]


def setup_code_mac(
    *, mac: str | None = None, address: str | None = None, state: StateLoader | None = None
) -> tuple[str, str]:
    """The MAC the setup code is derived from, and where it came from.

    In order: ``mac`` (``--mac``/settings) as ``"mac"``; the host MAC of ``address`` as
    ``"host"``; the persisted identity of ``state`` (made and saved on first use) as
    ``"identity"``. Raises :class:`ConfigError` if there is none of them.
    """
    if mac is not None:
        return mac, "mac"
    found = host_mac(address)
    if found is not None:
        return found, "host"
    if state is None:
        raise ConfigError("no host MAC found; pass --mac")
    return bridge_identity(state()), "identity"


def resolve_setup_code(
    *,
    configured: str | None = None,
    mac: str | None = None,
    address: str | None = None,
    state: StateLoader | None = None,
) -> SetupCodeChoice:
    """Pick the bridge's setup code the same way everywhere (``run`` and ``qr``).

    A ``configured`` code wins; ``"random"`` is the random code kept in ``state`` (made
    and saved on first use). Otherwise the code is derived from the MAC that
    :func:`setup_code_mac` finds. Raises :class:`ConfigError` if the configured code or
    the MAC is invalid or no MAC can be found, :class:`StateError` if the state holds an
    invalid code.
    """
    if configured and configured.lower() == RANDOM:
        if state is None:
            raise ConfigError('setup_code = "random" needs the state directory')
        return SetupCodeChoice(code=_persisted_random_code(state()), source="random")
    if configured:
        return SetupCodeChoice(code=parse_setup_code(configured), source="settings")
    chosen, source = setup_code_mac(mac=mac, address=address, state=state)
    try:
        hexmac = normalize_mac(chosen)
    except ValueError as err:
        raise ConfigError(str(err), field="mac") from None
    code, note = valid_setup_code_from_mac(hexmac)
    display = ":".join(hexmac[i : i + 2] for i in range(0, 12, 2))
    return SetupCodeChoice(code=code, source=source, mac=display, note=note)


def _persisted_random_code(state: BridgeState) -> str:
    code = state.random_setup_code
    if code is None:
        state.random_setup_code = code = random_setup_code()
        state.save()
    why = invalid_reason(code)
    if why is not None:
        raise StateError(f"state file {state.path}: the random setup code {code} is invalid: {why}")
    return code


# --------------------------------------------------------------------------- setup URI


def _code_value(code: str) -> int:
    candidate = code.strip()
    if _DASHED.fullmatch(candidate):
        candidate = candidate.replace("-", "")
    if not _PLAIN.fullmatch(candidate):
        raise ValueError(f"setup code must be XXX-XX-XXX or 8 digits, got {code!r}")
    return int(candidate)


def setup_uri(
    code: str, setup_id: str = SETUP_ID, category: int = BRIDGE_CATEGORY, flags: int = FLAG_IP
) -> str:
    """The ``X-HM://`` setup URI for ``code`` (``182-11-234`` → ``X-HM://0023RRVZ6MI32``)."""
    value = _code_value(code)
    if not _SETUP_ID.fullmatch(setup_id):
        raise ValueError(f"setup ID must be 4 characters 0-9/A-Z, got {setup_id!r}")
    if not 0 <= category <= 0xFF:
        raise ValueError(f"category must be 0..255, got {category}")
    if not 0 <= flags <= 0xF:
        raise ValueError(f"flags must be 0..15, got {flags}")
    payload = (category << 31) | (flags << 27) | value  # version and reserved bits are 0
    digits = ""
    while payload:
        payload, rest = divmod(payload, 36)
        digits = _BASE36[rest] + digits
    return f"X-HM://{digits.rjust(9, '0')}{setup_id}"


def parse_setup_uri(uri: str) -> tuple[str, str, int, int]:
    """Decode an ``X-HM://`` URI into ``(code, setup_id, category, flags)``."""
    match = _URI.fullmatch(uri.strip())
    if match is None:
        raise ValueError(f"not an X-HM:// setup URI: {uri!r}")
    payload = int(match.group(1), 36)
    if payload >> 39:
        raise ValueError(f"unsupported setup payload version/reserved bits in {uri!r}")
    value = payload & ((1 << 27) - 1)
    if value > 99_999_999:
        raise ValueError(f"setup code field out of range in {uri!r}")
    text = f"{value:08d}"
    code = f"{text[:3]}-{text[3:5]}-{text[5:]}"
    return code, match.group(2), (payload >> 31) & 0xFF, (payload >> 27) & 0xF


# --------------------------------------------------------------------------- QR code

# Half-block glyphs indexed by (upper lit, lower lit).
_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def qr_matrix(uri: str, *, border: int = QUIET_ZONE) -> list[list[bool]]:
    """The QR code of ``uri`` (error correction M, the smallest version that fits; never a
    Micro QR, which phones do not read) as rows of modules, True = dark, with a quiet zone
    of ``border`` modules."""
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    code.add_data(uri)
    code.make(fit=True)
    return [[bool(module) for module in row] for row in code.get_matrix()]


#: Black on white (256-colour palette entries 16 and 231), and back to normal.
_DARK_ON_LIGHT = "\x1b[38;5;16;48;5;231m"
_RESET = "\x1b[0m"


def qr_terminal(
    uri: str, *, border: int = QUIET_ZONE, light_on_dark: bool = True, color: bool = False
) -> str:
    """A QR code of ``uri`` drawn with half-block characters, two module rows per line.

    With ``color`` every line sets black on white itself (ANSI colours), so the code is
    dark on light on any terminal. Without it the text is plain UTF-8: with
    ``light_on_dark`` (a dark terminal) the glyphs paint the light modules and the quiet
    zone, so the code appears dark on light; pass ``False`` for a light background.
    Lines are joined by ``\\n``.
    """
    if color:
        light_on_dark = False  # the glyphs paint the dark modules, in black
    rows = qr_matrix(uri, border=border)
    lit = [[dark != light_on_dark for dark in row] for row in rows]
    if len(lit) % 2:
        lit.append([False] * len(lit[0]))  # outside the quiet zone: leave the cells empty
    lines = []
    for top, bottom in zip(lit[0::2], lit[1::2], strict=True):
        line = "".join(_BLOCKS[(a, b)] for a, b in zip(top, bottom, strict=True))
        lines.append(f"{_DARK_ON_LIGHT}{line}{_RESET}" if color else line)
    return "\n".join(lines)


def qr_for_stream(uri: str, stream: TextIO) -> str:
    """:func:`qr_terminal` drawn to scan on whatever shows ``stream``.

    A terminal gets explicit black on white (unless ``NO_COLOR`` is set or ``TERM`` is
    ``dumb``). Anything else (a pipe, the journal) gets plain text, light modules painted
    for a dark background, unless ``COLORFGBG`` says the background is light.
    """
    term = os.environ.get("TERM", "")
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty and term != "dumb" and "NO_COLOR" not in os.environ:
        return qr_terminal(uri, color=True)
    background = os.environ.get("COLORFGBG", "").rsplit(";", 1)[-1]
    light_background = background in ("7", "15")
    return qr_terminal(uri, light_on_dark=not light_background)


def qr_svg(uri: str, *, scale: int = 10, border: int = QUIET_ZONE) -> str:
    """The QR code of ``uri`` as an SVG element: black on white, quiet zone, crisp edges.

    Each run of dark modules in a row is one rectangle of the path (a small document).
    """
    rows = qr_matrix(uri, border=border)
    size = len(rows)
    runs = []
    for y, row in enumerate(rows):
        x = 0
        while x < size:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < size and row[x]:
                x += 1
            runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size * scale}" '
        f'height="{size * scale}" viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f"<title>HomeKit setup code</title>"
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    )


def write_qr_svg(uri: str, path: str | os.PathLike[str]) -> None:
    """Write a QR code of ``uri`` as an SVG file (see :func:`qr_svg`) atomically."""
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + qr_svg(uri) + "\n"
    write_atomic(path, text, mode=0o644)


# --------------------------------------------------------------------------- host MAC

_SYSFS_NET = "/sys/class/net"


def _read_mac(sysfs: str, interface: str) -> str | None:
    """The usable unicast MAC of ``interface`` as ``AA:BB:CC:DD:EE:FF``, else ``None``."""
    try:
        with open(os.path.join(sysfs, interface, "address"), encoding="ascii") as handle:
            text = handle.read().strip()
        hexmac = normalize_mac(text)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if hexmac in ("000000000000", "FFFFFFFFFFFF") or int(hexmac[:2], 16) & 1:
        return None
    return ":".join(hexmac[i : i + 2] for i in range(0, 12, 2))


def _interface_for_address(address: str) -> str | None:
    import ifaddr

    wanted = ipaddress.ip_address(address.split("%", 1)[0])
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            raw = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                if ipaddress.ip_address(raw.split("%", 1)[0]) == wanted:
                    return str(adapter.name).split(":", 1)[0]
            except ValueError:
                continue
    return None


def _first_interface_mac(sysfs: str) -> str | None:
    names = sorted(name for name in os.listdir(sysfs) if name != "lo")

    def rank(name: str) -> tuple[bool, str]:
        # Interfaces backed by hardware first (no docker0/veth before eth0), then by name.
        return (not os.path.exists(os.path.join(sysfs, name, "device")), name)

    for name in sorted(names, key=rank):
        try:
            with open(os.path.join(sysfs, name, "type"), encoding="ascii") as handle:
                if handle.read().strip() == "772":  # ARPHRD_LOOPBACK
                    continue
        except OSError:
            pass
        mac = _read_mac(sysfs, name)
        if mac is not None:
            return mac
    return None


def host_mac(address: str | None = None, *, sysfs: str = _SYSFS_NET) -> str | None:
    """The MAC (``AA:BB:CC:DD:EE:FF``) of this host; never raises.

    If ``address`` is given, the interface carrying that IP address is used. Otherwise, or
    if that fails, the first non-loopback interface with a real MAC (hardware-backed
    interfaces first, then by name). ``None`` if there is none.
    """
    try:
        if address:
            try:
                interface = _interface_for_address(address)
            except Exception:  # a lookup problem only means "not found"
                interface = None
            if interface is not None:
                mac = _read_mac(sysfs, interface)
                if mac is not None:
                    return mac
            _LOG.debug("no interface with a MAC carries %s; using the first one", address)
        return _first_interface_mac(sysfs)
    except Exception:  # documented: never raises
        return None
