"""Device catalog: product id → model and what the device measures.

The table itself lives in :mod:`mihomekit._catalog_table` (data only).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Value names (see :mod:`mihomekit.readings`) that map to a HomeKit service.
SENSOR_CAPABILITIES = frozenset(
    {
        "temperature",
        "humidity",
        "pressure",
        "battery",
        "illuminance",
        "moisture",
        "motion",
        "light",
        "opening",
        "leak",
        "smoke",
        "gas",
        "occupancy",
    }
)


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """What one kind of device is and measures.

    ``measures`` holds reading names (``temperature``, ``motion``, ...). ``buttons`` is the
    number of programmable switches (0 = none) and ``button_events`` the events they send.
    ``controls`` names writable functions: ``"outlet"``, ``"switch"`` (channel 0),
    ``"switch_2"`` (channel 1), ``"light"``. ``sleepy`` devices only advertise on events.
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
