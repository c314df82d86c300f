"""Which HomeKit bridge each device is on.

HomeKit allows :data:`CAPACITY` bridged accessories per bridge. mihomekit serves bridge 1
(the ``[bridge]`` of the settings) and, when it is full, child bridges 2, 3, ... in the
same process. A device's bridge is the one whose aid map (``aids`` in that bridge's
``bridge.json``) holds it: the assignment is persisted with the aid, and a device never
moves on its own, because Apple Home keeps its room and automations per bridge and aid.

Where a device goes (:meth:`Placement.place`):

1. a device already placed stays on its bridge, unless a ``[[bridges]]`` filter of the
   settings sends it to another bridge (the user's explicit choice; logged) or its bridge
   is over capacity (only possible after an upgrade from a version that let more than
   :data:`CAPACITY` devices share bridge 1; those left out were never in HomeKit);
2. a new device goes to the first ``[[bridges]]`` bridge whose filter it matches and that
   has room, else to the automatic bridges (bridge 1 and child bridges made for overflow)
   in number order, else to a new automatic child bridge (unless child bridges are off);
3. otherwise it is not placed; the caller names it in the log.

Nothing here does I/O: a slot's state is saved by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from .registry import Device
from .state import BridgeState

__all__ = ["CAPACITY", "BridgeRule", "Placement", "Slot", "normalize_device_id"]

#: HAP allows at most this many bridged accessories (plus the bridge itself).
CAPACITY = 149


def normalize_device_id(device_id: str) -> str:
    """Compare device ids loosely: ``A4:C1:38:12:34:56`` = ``a4c138123456``, ``0x00158d…`` =
    ``00158d…``, ``lumi.158d…`` = ``158d…``."""
    text = device_id.strip().lower().replace(":", "").replace("-", "")
    for prefix in ("0x", "lumi."):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text


@dataclass(frozen=True, slots=True)
class BridgeRule:
    """One ``[[bridges]]`` entry: a named child bridge and the devices it takes.

    A device matches when it matches every criterion given: its source (``ble``,
    ``zigbee``, ...) is in ``sources``, its id in ``devices`` (MACs, IEEE addresses or
    gateway ids, compared by :func:`normalize_device_id`), its model in ``models``
    (``LYWSD03MMC``, case-insensitive). A rule without criteria matches nothing.
    """

    name: str
    sources: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        name: str,
        *,
        sources: Iterable[str] = (),
        devices: Iterable[str] = (),
        models: Iterable[str] = (),
    ) -> BridgeRule:
        """A rule with its criteria normalized."""
        return cls(
            name=name,
            sources=frozenset(s.strip().lower() for s in sources),
            devices=frozenset(normalize_device_id(d) for d in devices),
            models=frozenset(m.strip().upper() for m in models),
        )

    def matches(self, device: Device) -> bool:
        if not (self.sources or self.devices or self.models):
            return False
        if self.sources and device.source.lower() not in self.sources:
            return False
        if self.devices and normalize_device_id(device.id) not in self.devices:
            return False
        model = device.model.model.upper() if device.model is not None else ""
        return not (self.models and model not in self.models)


@dataclass(eq=False)
class Slot:
    """One bridge as placement sees it: its number, persisted aid map and members."""

    number: int
    state: BridgeState
    #: ``None``: an automatic bridge (bridge 1, or a child made because others were full).
    rule: BridgeRule | None = None
    #: Devices placed on this bridge in this run.
    members: set[str] = field(default_factory=set)

    def holds(self, device_id: str) -> bool:
        """True if the persisted aid map has the device (placed in this or an earlier run)."""
        return device_id in self.state.aids


@dataclass(frozen=True, slots=True)
class Placed:
    """Where :meth:`Placement.place` put a device; ``moved_from`` is its previous bridge."""

    slot: Slot
    aid: int
    moved_from: Slot | None = None
    new: bool = False


#: Makes (and persists) a new child bridge for a rule, or an automatic one for ``None``.
SlotFactory = Callable[[BridgeRule | None], Slot | None]


class Placement:
    """Decides and remembers the bridge of every device (see the module docstring)."""

    def __init__(
        self,
        slots: Iterable[Slot],
        *,
        rules: Collection[BridgeRule] = (),
        capacity: int = CAPACITY,
        new_slot: SlotFactory | None = None,
    ) -> None:
        self.slots: list[Slot] = sorted(slots, key=lambda s: s.number)
        self.rules = list(rules)
        self.capacity = capacity
        self._new_slot = new_slot

    # -- queries ---------------------------------------------------------------------------

    def slot_of(self, device_id: str) -> Slot | None:
        """The bridge serving the device in this run, or None."""
        for slot in self.slots:
            if device_id in slot.members:
                return slot
        return None

    def persisted_slot(self, device_id: str) -> Slot | None:
        for slot in self.slots:
            if slot.holds(device_id):
                return slot
        return None

    def has_room(self, slot: Slot) -> bool:
        return len(slot.members) < self.capacity

    # -- changes ---------------------------------------------------------------------------

    def place_all(
        self, devices: Iterable[Device]
    ) -> tuple[list[tuple[Device, Placed]], list[Device]]:
        """Place the devices known at start: placed ones first (lowest aid first), then new.

        Returns ``(placed, unplaced)``.
        """
        pending = list(devices)

        def order(device: Device) -> tuple[int, int]:
            slot = self.persisted_slot(device.id)
            if slot is None:
                return (1, 0)
            return (0, slot.state.aids[device.id])

        pending.sort(key=order)  # stable: new devices keep the registry's order
        placed: list[tuple[Device, Placed]] = []
        unplaced: list[Device] = []
        for device in pending:
            where = self.place(device)
            if where is None:
                unplaced.append(device)
            else:
                placed.append((device, where))
        return placed, unplaced

    def place(self, device: Device) -> Placed | None:
        """Put one device on a bridge (see the module docstring); None if none has room."""
        current = self.slot_of(device.id)
        if current is not None:
            return Placed(current, current.state.aids[device.id])
        wanted = [r for r in self.rules if r.matches(device)]
        persisted = self.persisted_slot(device.id)
        if (
            persisted is not None
            and self.has_room(persisted)
            and (not wanted or persisted.rule in wanted)
        ):
            return self._join(persisted, device.id, None)
        for rule in wanted:
            slot = self._rule_slot(rule)
            if slot is not None and self.has_room(slot):
                return self._join(slot, device.id, persisted)
        for slot in self.slots:
            if slot.rule is None and self.has_room(slot):
                return self._join(slot, device.id, persisted)
        extra = self._new_slot(None) if self._new_slot is not None else None
        if extra is not None:
            self.slots.append(extra)
            return self._join(extra, device.id, persisted)
        return None

    def remove(self, device_id: str) -> Slot | None:
        """Take a device off its bridge for good: its aid leaves the map (never reused)."""
        slot = self.slot_of(device_id) or self.persisted_slot(device_id)
        if slot is None:
            return None
        slot.members.discard(device_id)
        slot.state.aids.pop(device_id, None)
        return slot

    def _rule_slot(self, rule: BridgeRule) -> Slot | None:
        for slot in self.slots:
            if slot.rule == rule:
                return slot
        made = self._new_slot(rule) if self._new_slot is not None else None
        if made is not None:
            self.slots.append(made)
        return made

    def _join(self, slot: Slot, device_id: str, previous: Slot | None) -> Placed:
        moved = previous if previous is not None and previous is not slot else None
        if moved is not None:
            moved.state.aids.pop(device_id, None)
        new = not slot.holds(device_id)
        aid = slot.state.aid_for(device_id)
        slot.members.add(device_id)
        return Placed(slot, aid, moved_from=moved, new=new)
