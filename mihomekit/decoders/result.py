"""Fast construction of :class:`~mihomekit.readings.DecodeResult` and
:class:`~mihomekit.readings.Event` for the decoders.

Both are frozen dataclasses: the generated ``__init__`` sets every field through
``object.__setattr__``, which for a ``DecodeResult`` costs about as much as an AES-CCM
decryption. On the hot path the decoders fill the slots directly through their
descriptors instead (about twice as fast). The fast path is only used while the field
list is the one it was written for; otherwise :func:`make_result` / :func:`make_event`
are the regular constructors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..readings import DecodeResult, Event, KeyStatus, Value, Values

_FIELDS = (
    "ok",
    "mac",
    "pid",
    "model",
    "values",
    "events",
    "error",
    "format",
    "encrypted",
    "key_status",
    "counter",
)

MakeResult = Callable[
    [
        bool,
        "str | None",
        "int | None",
        "str | None",
        Values,
        "tuple[Event, ...]",
        "str | None",
        str,
        bool,
        KeyStatus,
        "int | None",
    ],
    DecodeResult,
]


def _fast_constructor() -> MakeResult | None:
    if tuple(f.name for f in dataclasses.fields(DecodeResult)) != _FIELDS:
        return None
    slots: dict[str, Any] = {name: DecodeResult.__dict__.get(name) for name in _FIELDS}
    if not all(hasattr(d, "__set__") for d in slots.values()):
        return None
    s_ok, s_mac, s_pid, s_model, s_values, s_events = (slots[n].__set__ for n in _FIELDS[:6])
    s_error, s_format, s_encrypted, s_key_status, s_counter = (
        slots[n].__set__ for n in _FIELDS[6:]
    )
    new = object.__new__

    def make(
        ok: bool,
        mac: str | None,
        pid: int | None,
        model: str | None,
        values: Values,
        events: tuple[Event, ...],
        error: str | None,
        fmt: str,
        encrypted: bool,
        key_status: KeyStatus,
        counter: int | None,
    ) -> DecodeResult:
        r: DecodeResult = new(DecodeResult)
        s_ok(r, ok)
        s_mac(r, mac)
        s_pid(r, pid)
        s_model(r, model)
        s_values(r, values)
        s_events(r, events)
        s_error(r, error)
        s_format(r, fmt)
        s_encrypted(r, encrypted)
        s_key_status(r, key_status)
        s_counter(r, counter)
        return r

    return make


#: ``make_result(ok, mac, pid, model, values, events, error, format, encrypted, key_status,
#: counter)`` → :class:`DecodeResult`, equal to calling the constructor with those fields.
make_result: MakeResult = _fast_constructor() or DecodeResult


MakeEvent = Callable[[str, int, Mapping[str, Value]], Event]


def _fast_event() -> MakeEvent | None:
    names = ("event", "button", "properties")
    if tuple(f.name for f in dataclasses.fields(Event)) != names:
        return None
    slots: dict[str, Any] = {name: Event.__dict__.get(name) for name in names}
    if not all(hasattr(d, "__set__") for d in slots.values()):
        return None
    s_event, s_button, s_properties = (slots[n].__set__ for n in names)
    new = object.__new__

    def make(event: str, button: int, properties: Mapping[str, Value]) -> Event:
        e: Event = new(Event)
        s_event(e, event)
        s_button(e, button)
        s_properties(e, properties)
        return e

    return make


#: ``make_event(event, button, properties)`` → :class:`Event` (all three arguments given).
make_event: MakeEvent = _fast_event() or Event
