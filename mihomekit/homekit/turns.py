"""Whose turn it is to pair: pair-setup runs one at a time, and nobody can hold it.

HAP allows one pair-setup at a time; a second controller gets Busy. An unfinished one
blocks the others for at most ``pair_setup_timeout`` seconds from its first M1 (a repeated
M1 does not extend it). That alone does not stop a LAN host from holding pair-setup for
ever: it only has to send M1 again the moment its last one expires, and the owner, retrying
every few seconds, nearly always comes too late.

So when a pair-setup ends without a pairing (expired, abandoned, a wrong code), the next
one is reserved for ``pair_setup_timeout`` seconds to the addresses that were refused Busy
while it ran, other than the one that held it and other than any address that abandoned a
pair-setup recently (let it expire, closed it, or started over without offering a proof).
The owner's phone, retrying, is such an address: it gets the next turn. With no such
address nobody is waiting, and anyone may start at once. A wrong code is not an
abandonment (a typo must not cost the owner the turn); it is a counted failed attempt
instead (:mod:`.attempts`), which no attacker can repeat for ever.

All tables are bounded (the oldest entries go first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

__all__ = ["Outcome", "SetupTurns"]

#: How a pair-setup ended.
Outcome = Literal["paired", "wrong_code", "abandoned"]

#: Addresses remembered per table.
MAX_PEERS = 256
#: An address that abandoned a pair-setup within this many timeouts gets no reserved turn.
RECENT_ABANDON = 4


class SetupTurns:
    """Who may start the next pair-setup (see the module docstring)."""

    def __init__(
        self,
        timeout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_peers: int = MAX_PEERS,
    ) -> None:
        self.timeout = timeout
        self._clock = clock
        self._max = max_peers
        #: Address → when it last abandoned a pair-setup.
        self._abandoned: OrderedDict[str, float] = OrderedDict()
        #: Addresses refused Busy during the current pair-setup (another address's).
        self._waiting: OrderedDict[str, None] = OrderedDict()
        self._reserved: frozenset[str] = frozenset()
        self._reserved_until = -1.0

    def _remember(self, table: OrderedDict[str, float], key: str, value: float) -> None:
        table.pop(key, None)
        table[key] = value
        while len(table) > self._max:
            table.popitem(last=False)

    def refused(self, address: str, holder: str) -> None:
        """``address`` was refused Busy while ``holder`` ran pair-setup."""
        if address != holder:
            self._waiting.pop(address, None)
            self._waiting[address] = None
            while len(self._waiting) > self._max:
                self._waiting.popitem(last=False)

    def reserved_against(self, address: str) -> bool:
        """True if the next turn is reserved to other addresses than ``address``."""
        if not self._reserved or self._clock() >= self._reserved_until:
            self._reserved = frozenset()
            return False
        return address not in self._reserved

    @property
    def reserved(self) -> frozenset[str]:
        """The addresses the next turn is reserved to (empty: anyone's)."""
        if self._clock() >= self._reserved_until:
            return frozenset()
        return self._reserved

    def started(self) -> None:
        """A pair-setup starts (its address had the turn)."""
        self._reserved = frozenset()
        self._waiting.clear()

    def ended(self, address: str, outcome: Outcome) -> None:
        """The pair-setup of ``address`` is over; unless it paired, the waiting get a turn."""
        waiting, self._waiting = list(self._waiting), OrderedDict()
        if outcome == "paired":
            self._reserved = frozenset()
            return
        now = self._clock()
        if outcome == "abandoned":
            self._remember(self._abandoned, address, now)
        recent = now - RECENT_ABANDON * self.timeout
        turn = frozenset(
            peer
            for peer in waiting
            if peer != address and self._abandoned.get(peer, -float("inf")) < recent
        )
        self._reserved = turn
        self._reserved_until = now + self.timeout if turn else -1.0
