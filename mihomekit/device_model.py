"""What one kind of device is: :class:`DeviceModel`, and how to talk to it over GATT.

The values live in the device table (:mod:`mihomekit._catalog_table`), reached through
:mod:`mihomekit.catalog`; this module holds only their types, below both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DeviceModel", "GattBattery", "GattChar", "GattProfile"]


@dataclass(frozen=True, slots=True)
class GattChar:
    """One characteristic: its service's and its own UUID (128-bit, lower case)."""

    service: str
    char: str


@dataclass(frozen=True, slots=True)
class GattBattery:
    """Where a model keeps its battery level over GATT.

    ``how``: ``"read"`` the characteristic, or take the first ``"notify"`` after enabling
    notifications. ``kind``: ``"percent"`` is one byte at ``offset``; ``"millivolts"`` an
    unsigned 16-bit little-endian voltage at ``offset``, shown as (mV - 2100) / 12 %.
    """

    at: GattChar
    how: Literal["read", "notify"] = "read"
    offset: int = 0
    kind: Literal["percent", "millivolts"] = "percent"


@dataclass(frozen=True, slots=True)
class GattProfile:
    """What a model offers over a GATT connection (each part optional).

    ``clock``: takes 4 bytes of UTC seconds (little-endian) and a signed byte of time-zone
    hours. ``units``: takes one byte, ``unit_values`` for °C and °F. ``battery``: see
    :class:`GattBattery`.
    """

    clock: GattChar | None = None
    units: GattChar | None = None
    unit_values: tuple[bytes, bytes] | None = None
    battery: GattBattery | None = None


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """What one kind of device is and measures.

    ``measures`` holds reading names (``temperature``, ``motion``, ...). ``buttons`` is the
    number of programmable switches (0 = none) and ``button_events`` the events they send.
    ``controls`` names writable functions: ``"outlet"``, ``"switch"`` (channel 0),
    ``"switch_2"`` (channel 1), ``"light"``. ``sleepy`` devices only advertise on events.
    ``encrypted`` devices normally need a bind key; ``legacy_key`` ones use the 12-byte
    (24 hex digit) key of MiBeacon v2/v3 instead of the 16-byte v4/v5 key. ``controls``
    may also name ``"switch_<n>"`` (channel n-1), ``"lightbulb"`` (a light whose features
    follow ``measures``: ``brightness``, ``color_temp``, ``hue``/``saturation``) and
    ``"cover"``. ``learned`` holds what a device was heard reporting beyond ``measures``, in
    the order first heard (see :mod:`mihomekit.learning`): reading names, and
    ``button_<n>`` for a button that sends presses. ``reports_vary``: what devices of the
    model report varies by product (BTHome), so HomeKit shows what each one reports.
    """

    model: str
    name: str
    pid: int | None = None
    tasmota_name: str | None = None
    measures: frozenset[str] = frozenset()
    buttons: int = 0
    button_events: tuple[str, ...] = ("press", "double_press", "long_press")
    controls: tuple[str, ...] = ()
    sleepy: bool = False
    encrypted: bool = False
    legacy_key: bool = False
    #: Who makes it, when the source says (Zigbee2MQTT's ``definition.vendor``).
    vendor: str | None = None
    #: Its clock, display units and battery over GATT (``mihomekit ble``), if known.
    gatt: GattProfile | None = None
    learned: tuple[str, ...] = ()
    reports_vary: bool = False
