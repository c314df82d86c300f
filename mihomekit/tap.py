"""The advertisement tap: advertisements beyond sensor frames, for presence and extensions.

Sources hand sensor frames to the registry (:class:`~mihomekit.advertisement.Advertisement`,
only the service data and manufacturer data a decoder reads). Tags, iBeacons and phones
send nothing a decoder reads, so consumers that follow them (:mod:`mihomekit.presence`,
:mod:`mihomekit.extensions`) watch the tap instead:

* a consumer says what it wants to hear with an :class:`Interest` (addresses, service
  UUIDs, company ids, resolvable private addresses, or everything) and registers with
  :meth:`AdvertisementTap.watch`;
* the app gives the tap to its radios only when someone watches (:meth:`for_sources`);
  a radio with a tap hands it every advertisement it hears, whole, as a
  :class:`RawAdvertisement` (:meth:`AdvertisementTap.feed`), and the tap calls the
  watchers whose interest matches;
* the union of the interests (:attr:`AdvertisementTap.interest`) tells a radio what more
  to listen for: passive scanning registers patterns for it (see
  :func:`mihomekit.sources.ble.patterns_for`).

With nobody watching, radios get no tap and their per-advertisement work is unchanged.
Nothing here does I/O.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "EVERYTHING",
    "AdvertisementTap",
    "Interest",
    "RawAdvertisement",
    "TapWatcher",
    "full_uuid",
    "is_resolvable_private",
]

_LOGGER = logging.getLogger(__name__)

_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"
_UUID128 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_EMPTY_DATA: Mapping[str, bytes] = MappingProxyType({})
_EMPTY_MAKERS: Mapping[int, bytes] = MappingProxyType({})


def full_uuid(value: int | str) -> str:
    """A service UUID in its 128-bit lower-case form (as bleak writes it).

    ``0xFE95``, ``"fe95"``, ``"0xFE95"``, ``"0000fe95"`` and the full text all give
    ``"0000fe95-0000-1000-8000-00805f9b34fb"``. ValueError for anything else.
    """
    if isinstance(value, int):
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"not a 16- or 32-bit UUID: {value}")
        return f"{value:08x}{_BASE_SUFFIX}"
    text = value.strip().lower().removeprefix("0x")
    if len(text) in (4, 8) and all(c in "0123456789abcdef" for c in text):
        return f"{int(text, 16):08x}{_BASE_SUFFIX}"
    if _UUID128.match(text):
        return text
    raise ValueError(f"not a service UUID: {value!r}")


def is_resolvable_private(mac: str) -> bool:
    """True if ``mac`` (``"4A:..."``, most significant byte first) has the top bits ``01``
    of a resolvable private address."""
    return mac[:1] in ("4", "5", "6", "7")


@dataclass(frozen=True, slots=True)
class RawAdvertisement:
    """One advertisement as a receiver heard it, whole and undecoded.

    ``mac`` upper case, most significant byte first (``"C8:FD:19:12:34:56"``); ``rssi``
    in dBm when known; ``receiver`` names the radio (``"local"`` for this host's, an
    ESPHome proxy's name, an MQTT gateway's id); ``time`` the receiver's monotonic time in
    seconds; ``name`` the local name if it sent one; ``service_uuids`` the service UUIDs it
    lists; ``service_data`` by service UUID and ``manufacturer_data`` by company id, the
    bytes after the UUID or id. UUIDs are 128-bit lower-case text (:func:`full_uuid`).
    """

    mac: str
    rssi: int | None = None
    receiver: str = "local"
    time: float = 0.0
    name: str | None = None
    service_uuids: tuple[str, ...] = ()
    service_data: Mapping[str, bytes] = field(default_factory=lambda: _EMPTY_DATA)
    manufacturer_data: Mapping[int, bytes] = field(default_factory=lambda: _EMPTY_MAKERS)


@dataclass(frozen=True, slots=True)
class Interest:
    """What a consumer wants to hear beyond sensor frames.

    An advertisement matches when its address is in ``addresses``, a service UUID it lists
    or carries data for is in ``service_uuids``, it carries manufacturer data of a company
    in ``company_ids``, its address is a resolvable private one and ``private_addresses``
    is set (phones and watches, resolved later with their IRK), or ``everything`` is set.
    """

    addresses: frozenset[str] = frozenset()
    service_uuids: frozenset[str] = frozenset()
    company_ids: frozenset[int] = frozenset()
    private_addresses: bool = False
    everything: bool = False

    @classmethod
    def of(
        cls,
        *,
        addresses: Iterable[str] = (),
        service_uuids: Iterable[int | str] = (),
        company_ids: Iterable[int] = (),
        private_addresses: bool = False,
        everything: bool = False,
    ) -> Interest:
        """An interest with its addresses and UUIDs normalized (ValueError if invalid)."""
        return cls(
            addresses=frozenset(_mac(a) for a in addresses),
            service_uuids=frozenset(full_uuid(u) for u in service_uuids),
            company_ids=frozenset(int(c) for c in company_ids),
            private_addresses=private_addresses,
            everything=everything,
        )

    @property
    def empty(self) -> bool:
        return not (
            self.everything
            or self.private_addresses
            or self.addresses
            or self.service_uuids
            or self.company_ids
        )

    @property
    def needs_any_advertisement(self) -> bool:
        """True when no pattern on the content can select what is wanted (addresses
        cannot be matched by a passive-scanning pattern): everything must be heard."""
        return self.everything or self.private_addresses or bool(self.addresses)

    def matches(self, adv: RawAdvertisement) -> bool:
        if self.everything or adv.mac in self.addresses:
            return True
        if self.private_addresses and is_resolvable_private(adv.mac):
            return True
        if self.company_ids and not self.company_ids.isdisjoint(adv.manufacturer_data):
            return True
        if self.service_uuids:
            wanted = self.service_uuids
            if not wanted.isdisjoint(adv.service_data) or not wanted.isdisjoint(adv.service_uuids):
                return True
        return False

    def __or__(self, other: Interest) -> Interest:
        return Interest(
            addresses=self.addresses | other.addresses,
            service_uuids=self.service_uuids | other.service_uuids,
            company_ids=self.company_ids | other.company_ids,
            private_addresses=self.private_addresses or other.private_addresses,
            everything=self.everything or other.everything,
        )


#: Every advertisement.
EVERYTHING = Interest(everything=True)

#: ``watcher(advertisement)``: runs on the event loop for every matching advertisement, so
#: it must be quick and must not block.
TapWatcher = Callable[[RawAdvertisement], object]


@dataclass(eq=False, slots=True)
class _Watch:
    watcher: TapWatcher
    interest: Interest
    name: str


class AdvertisementTap:
    """Raw advertisements from every radio, to the watchers that want them."""

    def __init__(self) -> None:
        self._watches: list[_Watch] = []
        #: The union of the watchers' interests (empty when nobody watches).
        self.interest = Interest()
        #: Advertisements fed, and exceptions raised by watchers.
        self.fed = 0
        self.errors = 0
        self._warned: set[str] = set()

    def watch(
        self, watcher: TapWatcher, interest: Interest, *, name: str = ""
    ) -> Callable[[], None]:
        """Call ``watcher`` with every advertisement ``interest`` matches; returns the
        function that stops it. ``name`` says who watches in the log."""
        watch = _Watch(watcher, interest, name or getattr(watcher, "__qualname__", "watcher"))
        self._watches.append(watch)
        self.interest = self.interest | interest

        def unwatch() -> None:
            if watch in self._watches:
                self._watches.remove(watch)
                self._recompute()

        return unwatch

    def _recompute(self) -> None:
        union = Interest()
        for watch in self._watches:
            union = union | watch.interest
        self.interest = union

    def for_sources(self) -> AdvertisementTap | None:
        """The tap a radio started now should feed: this one while someone watches, else
        None (the radio then does nothing more per advertisement)."""
        return self if self._watches else None

    def feed(self, adv: RawAdvertisement) -> None:
        """One advertisement heard by a radio: call every watcher it interests."""
        self.fed += 1
        for watch in self._watches:
            if not watch.interest.matches(adv):
                continue
            try:
                watch.watcher(adv)
            except Exception:  # a broken watcher must not stop the radio
                self.errors += 1
                if watch.name not in self._warned:
                    self._warned.add(watch.name)
                    _LOGGER.exception(
                        "advertisement watcher %s failed (further failures at debug level)",
                        watch.name,
                    )
                else:
                    _LOGGER.debug("advertisement watcher %s failed", watch.name, exc_info=True)


def _mac(text: str) -> str:
    hexmac = text.replace(":", "").replace("-", "").strip().upper()
    if len(hexmac) != 12 or not all(c in "0123456789ABCDEF" for c in hexmac):
        raise ValueError(f"not a MAC address: {text!r}")
    return ":".join(hexmac[i : i + 2] for i in range(0, 12, 2))
