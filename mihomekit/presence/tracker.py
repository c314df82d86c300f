"""``[[presence]]``: follow tags, iBeacons and phones through every radio; one sensor each.

Each entry is a device of source ``presence`` with the reading ``presence`` (HomeKit: an
OccupancySensor; Home Assistant: a ``binary_sensor`` of class presence) and, with
``rooms = true``, ``room``: the receiver that hears it best (:mod:`.rooms`).

The tracker watches the advertisement tap (:mod:`mihomekit.tap`), so it hears whatever
the local radio, the ESPHome proxies and the MQTT receivers hear. An entry is

* heard: ``presence`` turns true at once (and the room follows the receivers);
* away: nothing heard for ``away_after`` seconds turns it false (the room is emptied);
* never seen: no reading at all, and the sensor is not active (HomeKit's StatusActive is
  false, Home Assistant shows it unknown) until it is first heard.

While present, the reading is refreshed (a heartbeat) at most every :data:`REFRESH`
seconds, so "last seen" stays current without a message per advertisement. After a
restart a tag that was present keeps ``away_after`` seconds to be heard again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from mihomekit.catalog import DeviceModel
from mihomekit.readings import Value
from mihomekit.registry import DeviceSink
from mihomekit.status import SourceStatus
from mihomekit.tap import AdvertisementTap, RawAdvertisement

from .entry import PresenceSettings
from .matcher import EntryMatcher, PresenceFilter
from .rooms import RoomChooser

__all__ = ["MODEL", "REFRESH", "ROOMS_MODEL", "SOURCE", "PresenceTracker", "presence_id"]

_LOGGER = logging.getLogger(__name__)

#: The source name of presence devices.
SOURCE = "presence"
#: While present, the reading is refreshed at most this often (seconds).
REFRESH = 60.0

MODEL = DeviceModel(
    "Presence", "Bluetooth presence", measures=frozenset({"presence"}), vendor="mihomekit"
)
ROOMS_MODEL = replace(MODEL, measures=frozenset({"presence", "room"}))


def presence_id(entry: PresenceSettings) -> str:
    """The device id of an entry, from what it looks for (a new name keeps the id)."""
    if entry.mac is not None:
        return "presence-" + entry.mac.replace(":", "")
    if entry.ibeacon is not None:
        beacon = entry.ibeacon
        parts = [beacon.uuid.replace("-", "")]
        parts += [str(n) for n in (beacon.major, beacon.minor) if n is not None]
        return "presence-" + "-".join(parts)
    assert entry.irk is not None
    return "presence-irk-" + hashlib.sha256(entry.irk).hexdigest()[:12]


@dataclass(eq=False, slots=True)
class _Target:
    matcher: EntryMatcher
    device_id: str
    rooms: RoomChooser | None = None
    #: True present, False away, None never seen.
    present: bool | None = None
    room: str | None = None
    last_heard: float = 0.0
    published: float = 0.0
    timer: asyncio.TimerHandle | None = None

    @property
    def entry(self) -> PresenceSettings:
        return self.matcher.entry

    def known(self) -> bool:
        """The device's liveness: heard at least once (never seen is not "away")."""
        return self.present is not None


class PresenceTracker:
    """The ``[[presence]]`` entries: their devices, fed from ``tap``.

    The devices are announced when the tracker is made (before the bridge places its
    devices), and the tap is watched from then on so that the radios started later feed
    it; advertisements count from :meth:`start` on.
    """

    def __init__(
        self,
        sink: DeviceSink,
        entries: Sequence[PresenceSettings],
        tap: AdvertisementTap,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh: float = REFRESH,
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._refresh = refresh
        self._loop: asyncio.AbstractEventLoop | None = None
        self._filter = PresenceFilter(entries)
        self._targets: list[_Target] = []
        for matcher in self._filter.matchers:
            entry = matcher.entry
            target = _Target(
                matcher, presence_id(entry), rooms=RoomChooser() if entry.rooms else None
            )
            self._targets.append(target)
            sink.add_device(
                target.device_id,
                ROOMS_MODEL if entry.rooms else MODEL,
                entry.name,
                source=SOURCE,
                liveness=target.known,
            )
        self._unwatch = tap.watch(self._on_advertisement, self._filter.interest, name="presence")
        self.status = SourceStatus(SOURCE, "Bluetooth presence")

    async def start(self) -> None:
        """Take up the saved states: a tag that was present gets ``away_after`` seconds."""
        self._loop = asyncio.get_running_loop()
        now = self._clock()
        for target in self._targets:
            device = self._sink.get(target.device_id)
            saved = None if device is None else device.values.get("presence")
            if isinstance(saved, bool):
                target.present = saved
                target.last_heard = now
                if saved:
                    self._arm(target, target.entry.away_after)
                self._sink.reachability_changed(target.device_id)
        self.status.set_connected(True)

    async def stop(self) -> None:
        self._unwatch()
        self._loop = None
        for target in self._targets:
            if target.timer is not None:
                target.timer.cancel()
                target.timer = None
        self.status.set_connected(False)

    # -- advertisements ------------------------------------------------------------------

    def _on_advertisement(self, adv: RawAdvertisement) -> None:
        if self._loop is None:
            return
        beacon = self._filter.beacon(adv)
        for target in self._targets:
            if target.matcher.matches(adv, beacon):
                self.status.advertisements += 1
                self._heard(target, adv)

    def _heard(self, target: _Target, adv: RawAdvertisement) -> None:
        now = self._clock()
        target.last_heard = now
        values: dict[str, Value] = {}
        if target.rooms is not None:
            room = target.rooms.heard(adv.receiver, adv.rssi, now)
            if room is not None and room != target.room:
                target.room = room
                values["room"] = room
        if target.present is not True:
            values["presence"] = True
            if target.present is None:
                _LOGGER.info("%s heard for the first time (by %s)", target.entry.name, adv.receiver)
            target.present = True
            self._arm(target, target.entry.away_after)
        if values:
            self._publish(target, values, now)
        elif now - target.published >= self._refresh:
            self._publish(target, {"presence": True}, now, heartbeat=True)

    def _publish(
        self, target: _Target, values: dict[str, Value], now: float, *, heartbeat: bool = False
    ) -> None:
        target.published = now
        self._sink.ingest(target.device_id, values, heartbeat=heartbeat)

    # -- away ----------------------------------------------------------------------------

    def _arm(self, target: _Target, delay: float) -> None:
        if target.timer is not None:
            target.timer.cancel()
        assert self._loop is not None
        target.timer = self._loop.call_later(delay, self._check_away, target)

    def _check_away(self, target: _Target) -> None:
        target.timer = None
        if self._loop is None or not target.present:
            return
        quiet = self._clock() - target.last_heard
        away_after = target.entry.away_after
        if quiet < away_after:
            self._arm(target, away_after - quiet)
            return
        target.present = False
        values: dict[str, Value] = {"presence": False}
        if target.rooms is not None:
            target.rooms = RoomChooser()
            target.room = None
            values["room"] = ""
        self._publish(target, values, self._clock())
