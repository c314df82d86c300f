"""Capabilities learned from what a device reports.

A catalog model lists what its devices measure; some devices report more (a BTHome device
reports what its product has, a b-parasite written under the pvvx id reports moisture and
light too). The registry weighs every reading name and button the first time a device
sends it: one that HomeKit can show (a sensor of
:data:`~mihomekit.vocabulary.HOMEKIT_SENSORS`, the battery, presses of a button) and that
the model does not list extends the device's model
(:attr:`~mihomekit.catalog.DeviceModel.learned`, in the order first heard; what one
reading brings, in the order the catalog's services come in). The accessory adds the
services of what was learned after the catalog's own, so no earlier service or
characteristic changes its instance id; the saved state keeps what was learned for the
next start.

A learned button is ``button_<n>`` (button n sends presses: a programmable switch). Buttons
are learned only by models without switches of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from mihomekit.catalog import DeviceModel
from mihomekit.readings import Event
from mihomekit.vocabulary import HOMEKIT_SENSORS

__all__ = [
    "BATTERY_READINGS",
    "LEARNABLE",
    "PRESS_EVENTS",
    "button_count",
    "buttons_weighed",
    "gestures",
    "learned_button",
    "learned_readings",
    "learns_buttons",
    "new_capabilities",
    "restored",
    "shown_readings",
    "with_learned",
]

#: Readings the battery service shows.
BATTERY_READINGS = frozenset({"battery", "low_battery"})
#: Reading names a model learns when a device reports them: what HomeKit can show.
LEARNABLE = frozenset(r.name for r in HOMEKIT_SENSORS) | BATTERY_READINGS
#: Events a programmable switch shows (single, double and long press).
PRESS_EVENTS = ("press", "double_press", "long_press")
#: Buttons numbered above this are not learned (hostile input must not grow a model).
MAX_BUTTON = 16

#: Where a learned reading's service comes among others learned from the same reading.
_ORDER = {name: n for n, name in enumerate([*(r.name for r in HOMEKIT_SENSORS), "battery"])}
_ORDER["low_battery"] = len(_ORDER) - 1
_BUTTON = re.compile(r"button_([1-9][0-9]?)")
_BUTTON_NAMES = tuple(f"button_{n}" for n in range(MAX_BUTTON + 1))


def learned_button(name: str) -> int | None:
    """``button_3`` → 3; None for a reading name."""
    match = _BUTTON.fullmatch(name)
    return int(match[1]) if match and int(match[1]) <= MAX_BUTTON else None


def gestures(model: DeviceModel) -> tuple[str, ...]:
    """The model's button events that are not presses (each gets a switch of its own)."""
    return tuple(e for e in model.button_events if e not in PRESS_EVENTS)


def learns_buttons(model: DeviceModel) -> bool:
    """A model learns buttons only when it has no programmable switches of its own."""
    return model.buttons == 0 and not gestures(model)


def learned_readings(model: DeviceModel) -> tuple[str, ...]:
    """The reading names the model learned, in the order learned."""
    return tuple(name for name in model.learned if learned_button(name) is None)


def shown_readings(model: DeviceModel) -> frozenset[str]:
    """What the model lists and what it learned."""
    if not model.learned:
        return model.measures
    return model.measures | frozenset(learned_readings(model))


def button_count(model: DeviceModel) -> int:
    """How many buttons the model has, learned ones included (the highest number)."""
    learned = [n for name in model.learned if (n := learned_button(name)) is not None]
    return max([model.buttons, *learned])


def new_capabilities(
    model: DeviceModel,
    values: Iterable[str],
    events: Sequence[Event],
    weighed: set[str],
) -> tuple[str, ...]:
    """What ``values`` (reading names) and ``events`` add to ``model``, in the order the
    catalog's services come in (sensors, battery, buttons by number).

    Every name is put in ``weighed``, the names already considered, so that a device whose
    readings are all known costs the registry one subset check per reading.
    """
    new: list[str] = []
    for name in values:
        if name not in weighed:
            weighed.add(name)
            if _adds(model, name, new):
                new.append(name)
    if events:
        learns = learns_buttons(model)
        for event in events:
            button = _press_of(event)
            if button is not None and button not in weighed:
                weighed.add(button)
                if learns and button not in model.learned:
                    new.append(button)
    return tuple(sorted(new, key=_service_order)) if len(new) > 1 else tuple(new)


def _service_order(name: str) -> int:
    button = learned_button(name)
    return _ORDER[name] if button is None else len(_ORDER) + button


def buttons_weighed(events: Sequence[Event], weighed: set[str]) -> bool:
    """True if every button that sends a press in ``events`` was weighed before."""
    for event in events:
        name = _press_of(event)
        if name is not None and name not in weighed:
            return False
    return True


def _press_of(event: Event) -> str | None:
    """``button_<n>`` for a press of button n, else None."""
    if event.event in PRESS_EVENTS and 1 <= event.button <= MAX_BUTTON:
        return _BUTTON_NAMES[event.button]
    return None


def _adds(model: DeviceModel, name: str, new: Sequence[str]) -> bool:
    """True if reading ``name`` gives ``model`` a service it does not have yet (the battery
    service shows both battery readings: the first one heard brings it)."""
    if name not in LEARNABLE or name in model.measures or name in model.learned:
        return False
    if name in BATTERY_READINGS:
        return all(BATTERY_READINGS.isdisjoint(has) for has in (model.measures, model.learned, new))
    return True


def with_learned(model: DeviceModel, names: Iterable[str]) -> DeviceModel:
    """``model`` with ``names`` learned after what it learned before."""
    return replace(model, learned=model.learned + tuple(names))


def restored(model: DeviceModel, saved: Sequence[object]) -> DeviceModel:
    """``model`` with what was learned in an earlier run (``saved``, as the state keeps
    it): anything that is not a capability, or that the model has by now, is left out."""
    names: list[str] = []
    buttons = learns_buttons(model)
    for name in saved:
        if not isinstance(name, str) or name in names:
            continue
        if _adds(model, name, names) or (
            buttons and learned_button(name) is not None and name not in model.learned
        ):
            names.append(name)
    return with_learned(model, names) if names else model
