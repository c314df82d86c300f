"""Zigbee2MQTT's retained ``bridge/devices`` → the devices mihomekit bridges (pure).

The coordinator, entries without a ``definition`` (unsupported or still interviewing) and
disabled devices are skipped, each with the reason. Devices are keyed by their
``ieee_address`` (``0x00158d0001a2b3c4``), which never changes, so a renamed device keeps
its HomeKit aid; the ``friendly_name`` is only its current name and topic.

Anyone who may publish on the broker can publish a device list, so the list is read one
entry at a time (:func:`iter_json_array`, :class:`DeviceListParser`: the caller can pause
between entries) and at most ``max_devices`` of it are taken (:func:`cap_devices`):
devices already known first, then the others in the list's order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mihomekit.catalog import DeviceModel

from .exposes import ExposeMap, map_exposes

#: The registry's ``source`` for devices from Zigbee2MQTT (also in the bridge state).
SOURCE = "zigbee2mqtt"
_IEEE = re.compile(r"^0x[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class Z2mDevice:
    """One bridged Zigbee2MQTT device."""

    ieee: str
    name: str
    model: DeviceModel
    mapping: ExposeMap
    battery: bool
    model_id: str | None = None

    @property
    def device_id(self) -> str:
        """The registry id: the IEEE address, lower case (``0x00158d0001a2b3c4``)."""
        return self.ieee


@dataclass(frozen=True, slots=True)
class Skipped:
    """A ``bridge/devices`` entry that is not bridged, and why."""

    ieee: str
    name: str
    reason: str


class NotAnArray(ValueError):
    """The device list is not a JSON array."""


_SPACE = re.compile(r"[ \t\n\r]*")


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def iter_json_array(text: str) -> Iterator[Any]:
    """The entries of the JSON array ``text``, decoded one at a time.

    Raises :class:`NotAnArray` if ``text`` is no array, ValueError (or RecursionError) at
    the first entry that is not JSON; the entries before it have been yielded by then.
    """
    decoder = json.JSONDecoder()
    end = len(text)
    pos = _skip_space(text, 0)
    if text[pos : pos + 1] != "[":
        raise NotAnArray("bridge/devices is not a JSON array")
    pos = _skip_space(text, pos + 1)
    if text[pos : pos + 1] == "]":
        pos += 1
    else:
        while True:
            value, pos = decoder.raw_decode(text, pos)
            yield value
            pos = _skip_space(text, pos)
            sep = text[pos : pos + 1]
            pos = _skip_space(text, pos + 1)
            if sep == "]":
                break
            if sep != ",":
                raise ValueError(f"expected ',' or ']' at {pos}")
    if _skip_space(text, pos) != end:
        raise ValueError("extra data after the array")


class DeviceListParser:
    """Reads a device list entry by entry (:meth:`add`): :attr:`devices`, :attr:`skipped`."""

    def __init__(self) -> None:
        self.devices: list[Z2mDevice] = []
        self.skipped: list[Skipped] = []
        self._seen: set[str] = set()

    def add(self, entry: Any) -> None:
        """One entry of the list; a bad one is skipped with the reason."""
        try:
            got = _parse_entry(entry)
        except Exception as err:  # a shape nobody foresaw: that entry only is left out
            got = Skipped("?", "?", f"could not be read: {err!r:.80}")
        if isinstance(got, Skipped):
            self.skipped.append(got)
        elif got.ieee in self._seen:
            self.skipped.append(Skipped(got.ieee, got.name, "listed twice"))
        else:
            self._seen.add(got.ieee)
            self.devices.append(got)


def parse_devices(payload: Any) -> tuple[list[Z2mDevice], list[Skipped]]:
    """Parse the decoded ``bridge/devices`` JSON; bad entries are skipped with a reason."""
    if not isinstance(payload, list):
        return [], [Skipped("?", "?", "bridge/devices is not a JSON array")]
    parser = DeviceListParser()
    for entry in payload:
        parser.add(entry)
    return parser.devices, parser.skipped


def cap_devices(
    devices: list[Z2mDevice], max_devices: int, known: Collection[str]
) -> tuple[list[Z2mDevice], list[Z2mDevice]]:
    """``(taken, over the cap)``: at most ``max_devices``, the ``known`` ones (IEEE
    addresses) first, then the others in the list's order."""
    if len(devices) <= max_devices:
        return devices, []
    first = [d for d in devices if d.ieee in known]
    then = [d for d in devices if d.ieee not in known]
    ordered = first + then
    taken = {d.ieee for d in ordered[:max_devices]}
    return [d for d in devices if d.ieee in taken], ordered[max_devices:]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _parse_entry(entry: Any) -> Z2mDevice | Skipped:
    if not isinstance(entry, dict):
        return Skipped("?", "?", "an entry that is not an object")
    ieee = _text(entry.get("ieee_address"))
    name = _text(entry.get("friendly_name")) or (ieee or "?")
    if ieee is None or not _IEEE.match(ieee.lower()):
        return Skipped(str(ieee), name, "no valid ieee_address")
    ieee = ieee.lower()
    if entry.get("type") == "Coordinator":
        return Skipped(ieee, name, "the coordinator")
    if entry.get("disabled") is True:
        return Skipped(ieee, name, "disabled in Zigbee2MQTT")
    definition = entry.get("definition")
    if not isinstance(definition, dict):
        return Skipped(ieee, name, "no definition (unsupported, or still being interviewed)")
    mapping = map_exposes(definition.get("exposes"))
    battery = entry.get("power_source") == "Battery"
    model = mapping.model(
        _text(definition.get("model")) or _text(entry.get("model_id")) or "Zigbee device",
        _text(definition.get("description")) or "Zigbee device",
        vendor=_text(definition.get("vendor")),
        sleepy=battery,
    )
    if not model.measures and not model.controls and not model.button_events:
        return Skipped(ieee, name, "nothing it exposes is mapped")
    return Z2mDevice(ieee, name, model, mapping, battery, _text(entry.get("model_id")))


# -- the bridge state -----------------------------------------------------------------


def model_to_json(model: DeviceModel) -> dict[str, Any]:
    """What the bridge state keeps so that the accessory can be rebuilt at the next start,
    before the broker has answered."""
    return {
        "model": model.model,
        "name": model.name,
        "vendor": model.vendor,
        "measures": sorted(model.measures),
        "buttons": model.buttons,
        "button_events": list(model.button_events),
        "controls": list(model.controls),
        "sleepy": model.sleepy,
    }


def model_from_json(raw: Any) -> DeviceModel | None:
    """The model saved by :func:`model_to_json`, or None if the entry is unusable."""
    if not isinstance(raw, Mapping):
        return None
    model, name = raw.get("model"), raw.get("name")
    measures = _strings(raw.get("measures"))
    events = _strings(raw.get("button_events"))
    controls = _strings(raw.get("controls"))
    buttons = raw.get("buttons", 0)
    if (
        not isinstance(model, str)
        or not isinstance(name, str)
        or measures is None
        or events is None
        or controls is None
        or not isinstance(buttons, int)
        or not 0 <= buttons <= 16
    ):
        return None
    vendor = raw.get("vendor")
    return DeviceModel(
        model=model,
        name=name,
        vendor=vendor if isinstance(vendor, str) else None,
        measures=frozenset(measures),
        buttons=buttons,
        button_events=tuple(events),
        controls=tuple(controls),
        sleepy=raw.get("sleepy") is True,
    )


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def saved_entry(model: DeviceModel) -> dict[str, Any]:
    """What the bridge state keeps with a Zigbee2MQTT device (in ``known_devices``)."""
    return {"capabilities": model_to_json(model)}


def restored_model(info: Mapping[str, Any]) -> DeviceModel | None:
    """The model of a ``known_devices`` entry holding :func:`saved_entry`."""
    return model_from_json(info.get("capabilities"))
