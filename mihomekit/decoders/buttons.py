"""Button, remote, dimmer and cube objects → :class:`~mihomekit.readings.Event`.

Buttons are numbered from 1. Button combinations that a device reports as one press get
their own number after the single buttons (they are separate programmable switches in
HomeKit):

================================  ==========================================================
model                             button numbers
================================  ==========================================================
YLYK01YL remote                   1 on, 2 off, 3 brightness, 4 plus, 5 M, 6 min
YLYK01YL-FANCL / -VENFAN          1-6 in the order of the remote's button index 0-5
YLYB01YL-BHFRC                    1-9 (index 0-8: stop, air exchange, fan, speed +,
                                  speed -, dry, light, swing, heat)
K9B-1BTN                          1
K9B-2BTN                          1 left, 2 right, 3 both
K9B-3BTN                          1 left, 2 middle, 3 right, 4 left+middle,
                                  5 middle+right, 6 left+right, 7 all three
XMWXKG01YL                        1 left, 2 right, 3 both
XMWS01XS                          1 left, 2 right
KS1 / KS1BP                       1 left, 2 middle-left, 3 middle-right, 4 right
dimmer, cube, everything else     1
================================  ==========================================================

Event names: ``press``, ``double_press``, ``triple_press``, ``long_press``, and
``rotate_left`` / ``rotate_right`` (properties ``steps``, and ``pressed`` when the knob
was turned while held). A dimmer press carries ``presses`` (1 → ``press``, 2 →
``double_press``, 3 → ``triple_press``), a dimmer hold ``duration`` in seconds.

Known models without buttons ignore button objects (as Home Assistant does); unknown
product ids use the generic reading (index + 1 for 0x1001, the byte for 0x4E/0x56 ids).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from ..readings import Event, Value
from .result import make_event

Handler = Callable[[bytes, dict[str, Value], list[Event], "str | None"], None]

PRESS = "press"
DOUBLE = "double_press"
TRIPLE = "triple_press"
LONG = "long_press"

#: 0x1001 press type → event, for remotes and simple switches.
_TYPES_GENERIC = {0: PRESS, 1: DOUBLE, 2: LONG, 5: PRESS, 6: LONG}
#: K9B wall switches swap long and double press.
_TYPES_K9B = {0: PRESS, 1: LONG, 2: DOUBLE}
_BY_COUNT = {1: PRESS, 2: DOUBLE, 3: TRIPLE}

#: 0x1001 behaviour per model: "index" (button = a + 1), "single" (always button 1),
#: "k9b", "cube", "dimmer". Models not listed (and known) ignore 0x1001.
_PROFILE_1001: dict[str, str] = {
    "YLYK01YL": "index",
    "YLYK01YL-FANCL": "index",
    "YLYK01YL-VENFAN": "index",
    "YLYB01YL-BHFRC": "index",
    "K9B-1BTN": "k9b",
    "K9B-2BTN": "k9b",
    "K9B-3BTN": "k9b",
    "XMMF01JQD": "cube",
    "YLKG07YL/YLKG08YL": "dimmer",
    "YLAI003": "single",
    "RTCGQ02LM": "single",
    "JTYJGD03MI": "single",
    "SJWS01LM": "single",
}

#: Highest button number per model (events beyond it are dropped).
_MAX_BUTTON: dict[str, int] = {
    "YLYK01YL": 6,
    "YLYK01YL-FANCL": 6,
    "YLYK01YL-VENFAN": 6,
    "YLYB01YL-BHFRC": 9,
    "K9B-1BTN": 1,
    "K9B-2BTN": 3,
    "K9B-3BTN": 7,
    "XMWXKG01YL": 3,
    "XMWS01XS": 2,
    "KS1": 4,
    "KS1BP": 4,
}

#: MIoT button objects (0x4A0C-0E, 0x4E0C-0E, 0x560C-0E, 0x4A13) per model: "zero" (button =
#: byte + 1), "one" (button = byte, 0 or empty → 1), "single", "k9bb".
_PROFILE_MIOT: dict[str, str] = {
    "XMWS01XS": "zero",
    "XMWXKG01YL": "one",
    "KS1": "one",
    "KS1BP": "one",
    "PTX_YK1_QMIMB": "single",
    "XMWXKG01LM": "single",
    "KS2BB": "single",
    "AFWXKG220000": "single",
    "MS1BB(MI)": "single",
    "K9BB-1BTN": "k9bb",
}

#: K9BB-1BTN sends every press type in 0x4E0C; the byte says which.
_K9BB_TYPES = {1: PRESS, 8: LONG, 15: DOUBLE}

_NO_PROPS: Mapping[str, Value] = MappingProxyType({})


def _dimmer(a: int, b: int, t: int, e: list[Event]) -> bool:
    """Dimmer press types 3 and 4; True if handled."""
    if t == 3:
        if a == 0:
            e.append(make_event(_BY_COUNT.get(b, PRESS), 1, {"presses": b}))
        else:
            e.append(make_event(LONG, 1, {"duration": b}))
        return True
    if t == 4:
        if a == 0:
            if b <= 127:
                e.append(make_event("rotate_right", 1, {"steps": b}))
            else:
                e.append(make_event("rotate_left", 1, {"steps": 256 - b}))
        elif a <= 127:
            e.append(make_event("rotate_right", 1, {"steps": a, "pressed": True}))
        else:
            e.append(make_event("rotate_left", 1, {"steps": 256 - a, "pressed": True}))
        return True
    return False


def button_1001(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
    """Object 0x1001: ``[index, value, type]``."""
    if len(p) < 3:
        return
    a, b, t = p[0], p[1], p[2]
    if m is None:
        if _dimmer(a, b, t, e):
            return
        ev = _TYPES_GENERIC.get(t)
        if ev is not None:
            e.append(make_event(ev, a + 1, _NO_PROPS))
        return
    profile = _PROFILE_1001.get(m)
    if profile is None:
        return
    if profile == "dimmer":
        if _dimmer(a, b, t, e):
            return
        ev = _TYPES_GENERIC.get(t)
        if ev is not None:
            e.append(make_event(ev, 1, _NO_PROPS))
        return
    if profile == "cube":
        if a <= 1:
            e.append(make_event("rotate_right" if a == 0 else "rotate_left", 1, _NO_PROPS))
        return
    if profile == "k9b":
        ev = _TYPES_K9B.get(t)
        button = a + 1
    else:
        ev = _TYPES_GENERIC.get(t)
        button = 1 if profile == "single" else a + 1
    if ev is None or button > _MAX_BUTTON.get(m, 1):
        return
    e.append(make_event(ev, button, _NO_PROPS))
    if m == "YLYK01YL" and a <= 1:
        v["power"] = a == 0


def _miot(event: str) -> Handler:
    def handle(p: bytes, v: dict[str, Value], e: list[Event], m: str | None) -> None:
        b = p[0] if p else 0
        if m is None:
            e.append(make_event(event, b or 1, _NO_PROPS))
            return
        profile = _PROFILE_MIOT.get(m)
        if profile is None:
            return
        ev = event
        if profile == "zero":
            button = b + 1
        elif profile == "one":
            button = b or 1
        elif profile == "k9bb":
            button = 1
            if event == PRESS and b:
                found = _K9BB_TYPES.get(b)
                if found is None:
                    return
                ev = found
        else:
            button = 1
        if button > _MAX_BUTTON.get(m, 1):
            return
        e.append(make_event(ev, button, _NO_PROPS))

    return handle


_press = _miot(PRESS)
_double = _miot(DOUBLE)
_long = _miot(LONG)

BUTTON_HANDLERS: dict[int, Handler] = {
    0x1001: button_1001,
    0x4A0C: _press,
    0x4A0D: _double,
    0x4A0E: _long,
    0x4A13: _press,
    0x4E0C: _press,
    0x4E0D: _double,
    0x4E0E: _long,
    0x560C: _press,
    0x560D: _double,
    0x560E: _long,
}
