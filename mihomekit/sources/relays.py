"""``[[relays]]``: relays on this host's GPIO pins, switched from HomeKit, the dashboard and MQTT.

Each relay is a device of source ``gpio`` (id ``gpio<pin>``) that the registry knows from
the settings at once, so it is placed on a HomeKit bridge with a stable aid like every
other device. Its model's ``controls`` say how HomeKit shows it: a Switch, an Outlet or a
Lightbulb (reading ``power``, or ``light_on`` for a light).

The pins are driven through gpiozero (``OutputDevice`` on the pin factory gpiozero
chooses: lgpio on a Raspberry Pi 5, the mock factory with ``GPIOZERO_PIN_FACTORY=mock``),
never through ``/sys``. A pin that cannot be opened (not a Pi, in use, no permission) is
one error line naming it; the relay stays in HomeKit without control, the rest runs.

Every change is written to ``relays.json`` in the state directory at once (atomically,
see :mod:`mihomekit.atomicfile`); at the next start each relay is set as its ``restore``
says: its last state, off or on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mihomekit.atomicfile import read_text_or_none, write_atomic
from mihomekit.catalog import DeviceModel
from mihomekit.errors import ControlError
from mihomekit.readings import Value
from mihomekit.registry import DeviceSink
from mihomekit.settings import RelayKind, RelaySettings
from mihomekit.status import SourceStatus

__all__ = ["MODELS", "READINGS", "SOURCE", "STATE_FILE", "RelayBoard", "relay_id"]

_LOGGER = logging.getLogger(__name__)

#: The source name of relay devices (``[[bridges]] sources`` can name it).
SOURCE = "gpio"
#: The relays' last states, in the state directory.
STATE_FILE = "relays.json"

_VENDOR = "mihomekit"
#: How each kind of relay shows in HomeKit and Home Assistant.
MODELS: Mapping[RelayKind, DeviceModel] = {
    "switch": DeviceModel(
        "GPIO relay",
        "Relay (switch)",
        measures=frozenset({"power"}),
        controls=("switch",),
        vendor=_VENDOR,
    ),
    "outlet": DeviceModel(
        "GPIO relay",
        "Relay (outlet)",
        measures=frozenset({"power"}),
        controls=("outlet",),
        vendor=_VENDOR,
    ),
    "light": DeviceModel(
        "GPIO relay",
        "Relay (light)",
        measures=frozenset({"light_on"}),
        controls=("lightbulb",),
        vendor=_VENDOR,
    ),
}
#: The reading that says whether a relay of each kind is on.
READINGS: Mapping[RelayKind, str] = {"switch": "power", "outlet": "power", "light": "light_on"}


def relay_id(pin: int) -> str:
    """The device id of the relay on BCM GPIO ``pin``: ``gpio17``."""
    return f"gpio{pin}"


@dataclass(eq=False, slots=True)
class _Relay:
    settings: RelaySettings
    #: The gpiozero OutputDevice, once the pin is open.
    output: Any = None

    @property
    def reading(self) -> str:
        return READINGS[self.settings.kind]

    def opened(self) -> bool:
        return self.output is not None


class RelayBoard:
    """The ``[[relays]]`` of the settings: their devices, pins and saved states.

    The devices are announced when the board is made (before the bridge places its
    devices); the pins are opened by :meth:`start`. ``pin_factory``: the gpiozero pin
    factory to use (None: gpiozero's choice).
    """

    def __init__(
        self,
        sink: DeviceSink,
        relays: Sequence[RelaySettings],
        *,
        state_dir: Path,
        pin_factory: Any = None,
    ) -> None:
        self._sink = sink
        self._path = state_dir / STATE_FILE
        self._pin_factory = pin_factory
        self._relays = {relay_id(r.pin): _Relay(r) for r in relays}
        self._save_lock = asyncio.Lock()
        #: The states in the file (relays no longer configured keep theirs).
        self._saved: dict[str, bool] = {}
        self.status = SourceStatus(SOURCE, "relays")
        for device_id, relay in self._relays.items():
            sink.add_device(
                device_id,
                MODELS[relay.settings.kind],
                relay.settings.name,
                source=SOURCE,
                liveness=relay.opened,
                control=self.control,
            )

    # -- start / stop --------------------------------------------------------------------

    async def start(self) -> None:
        """Open every pin, set it as ``restore`` says and show the state; a pin that cannot
        be opened is logged (one line naming it) and left out."""
        saved = self._saved = self._load()
        for device_id, relay in self._relays.items():
            settings = relay.settings
            on = {"last": saved.get(device_id, False), "off": False, "on": True}[settings.restore]
            try:
                relay.output = self._open(settings, on)
            except Exception as err:
                why = _reason(err)
                self.status.error(f"GPIO {settings.pin} ({settings.name}): {why}")
                _LOGGER.error(
                    "relay %r: GPIO %d cannot be opened (%s); the rest of the bridge runs",
                    settings.name,
                    settings.pin,
                    why,
                )
                continue
            self._sink.ingest(device_id, {relay.reading: on})
            self._sink.reachability_changed(device_id)
        self.status.set_connected(any(r.opened() for r in self._relays.values()))
        if any(r.opened() for r in self._relays.values()):
            await self._save()

    async def stop(self) -> None:
        """Save the relays' last states (a switch just made may not be written yet), then
        release the pins."""
        if any(r.opened() for r in self._relays.values()):
            await self._save()
        for relay in self._relays.values():
            output, relay.output = relay.output, None
            if output is not None:
                with contextlib.suppress(Exception):
                    output.close()
        self.status.set_connected(False)

    def _open(self, settings: RelaySettings, on: bool) -> Any:
        with warnings.catch_warnings():
            # gpiozero warns about every pin factory it could not load before it gives up
            warnings.simplefilter("ignore")
            from gpiozero import OutputDevice

            return OutputDevice(
                settings.pin,
                active_high=settings.active_high,
                initial_value=on,
                pin_factory=self._pin_factory,
            )

    # -- writes --------------------------------------------------------------------------

    async def control(self, device_id: str, values: Mapping[str, Value]) -> None:
        """Switch a relay (``{"power": true}``, or ``{"light_on": ...}`` for a light), show
        its new state and save it."""
        relay = self._relays.get(device_id)
        if relay is None:
            raise ControlError(f"{device_id} is not a relay")
        settings = relay.settings
        if relay.output is None:
            raise ControlError(f"relay {settings.name!r}: GPIO {settings.pin} is not open")
        value = values.get(relay.reading)
        if not isinstance(value, bool):
            raise ControlError(f"relay {settings.name!r} is switched with {relay.reading}")
        if value:
            relay.output.on()
        else:
            relay.output.off()
        self._sink.ingest(device_id, {relay.reading: value})
        await self._save()

    def states(self) -> dict[str, bool]:
        """Every open relay's state, by device id."""
        return {
            device_id: bool(relay.output.value)
            for device_id, relay in self._relays.items()
            if relay.output is not None
        }

    # -- the state file ------------------------------------------------------------------

    def _load(self) -> dict[str, bool]:
        try:
            text = read_text_or_none(self._path)
            data = json.loads(text) if text else {}
        except (OSError, ValueError) as err:
            _LOGGER.warning("relays: %s unreadable (%s); relays restore to off", self._path, err)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, bool)}

    async def _save(self) -> None:
        """Write every relay's state (the newest wins: saves run one at a time)."""
        async with self._save_lock:
            states = self._saved
            states.update(self.states())
            text = json.dumps(states, indent=1, sort_keys=True) + "\n"
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, write_atomic, self._path, text)
            except OSError as err:
                _LOGGER.error("relays: could not save their states to %s: %s", self._path, err)


def _reason(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    if isinstance(err, PermissionError):
        return f"no permission ({text}); add the user to the gpio group"
    name = type(err).__name__
    if name == "BadPinFactory":
        return "no GPIO library works here (not a Raspberry Pi? on a Pi 5 install lgpio)"
    if name == "GPIOPinInUse":
        return "in use by something else"
    return text
