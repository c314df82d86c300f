"""Which advertisements belong to a ``[[presence]]`` entry: its fixed address, its iBeacon,
or an address its IRK resolves. Used by the tracker and by ``mihomekit relay`` (which
forwards only what an entry wants). No I/O."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from mihomekit.tap import Interest, RawAdvertisement

from .entry import PresenceSettings
from .ibeacon import APPLE, IBeacon, parse_ibeacon
from .rpa import IrkResolver

__all__ = ["RESOLVED_CACHE", "EntryMatcher", "PresenceFilter"]

#: Addresses whose resolution (with each IRK) is remembered.
RESOLVED_CACHE = 1024


class EntryMatcher:
    """One entry's test: :attr:`interest` says what a radio must pass on (a pattern it can
    scan for), :meth:`matches` whether an advertisement is the entry's."""

    __slots__ = ("_resolved", "_resolver", "entry", "interest")

    def __init__(self, entry: PresenceSettings) -> None:
        self.entry = entry
        self._resolver = IrkResolver(entry.irk) if entry.irk is not None else None
        self._resolved: OrderedDict[str, bool] = OrderedDict()
        if entry.mac is not None:
            self.interest = Interest.of(addresses=[entry.mac])
        elif entry.ibeacon is not None:
            self.interest = Interest.of(company_ids=[APPLE])
        else:
            self.interest = Interest(private_addresses=True)

    def matches(self, adv: RawAdvertisement, beacon: IBeacon | None) -> bool:
        """True if ``adv`` (whose iBeacon, if any, is ``beacon``) is the entry's."""
        entry = self.entry
        if entry.mac is not None:
            return adv.mac == entry.mac
        if entry.ibeacon is not None:
            return beacon is not None and entry.ibeacon.matches(beacon)
        assert self._resolver is not None
        cache = self._resolved
        hit = cache.get(adv.mac)
        if hit is None:
            hit = cache[adv.mac] = self._resolver.resolves(adv.mac)
            if len(cache) > RESOLVED_CACHE:
                cache.popitem(last=False)
        return hit


class PresenceFilter:
    """Several entries at once: the advertisements any of them wants."""

    def __init__(self, entries: Sequence[PresenceSettings]) -> None:
        self.matchers = [EntryMatcher(entry) for entry in entries]
        self.interest = Interest()
        for matcher in self.matchers:
            self.interest = self.interest | matcher.interest
        self._beacons = any(entry.ibeacon is not None for entry in entries)

    def beacon(self, adv: RawAdvertisement) -> IBeacon | None:
        """The iBeacon ``adv`` carries, when an entry looks for iBeacons (else None)."""
        return parse_ibeacon(adv.manufacturer_data) if self._beacons else None

    def wanted(self, adv: RawAdvertisement) -> bool:
        beacon = self.beacon(adv)
        return any(matcher.matches(adv, beacon) for matcher in self.matchers)
