"""Nobody can hold pair-setup: whose turn it is after an unfinished one (``turns.py``), and
the hold attack against a running bridge, from another loopback address.

The attacker (127.0.0.2) does what was measured against older versions: M1 again and
again on the connection that holds pair-setup, new connections that send M1 the moment
the hold ends, and holds given up by closing just before they expire. The owner
(127.0.0.1) retries every few seconds, as the Home app does after "Busy".
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hap_bridge_fixture import SETUP_CODE, WRONG_CODE, RunningBridge, running_bridge
from hapraw import PairingRecord, PairSetup, TlvError, state_error

from mihomekit.homekit.turns import SetupTurns

ATTACKER = "127.0.0.2"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- turns


def test_an_abandoned_hold_gives_the_turn_to_who_waited() -> None:
    clock = Clock()
    turns = SetupTurns(30.0, clock=clock)
    turns.started()  # the attacker holds
    turns.refused("owner", "attacker")
    turns.refused("attacker", "attacker")  # its own second connection: not waiting
    clock.now += 30
    turns.ended("attacker", "abandoned")
    assert turns.reserved == {"owner"}
    assert turns.reserved_against("attacker")
    assert not turns.reserved_against("owner")
    clock.now += 30  # the owner did not come: anyone's turn again
    assert not turns.reserved_against("attacker")


def test_nobody_waiting_or_a_pairing_reserves_nothing() -> None:
    clock = Clock()
    turns = SetupTurns(30.0, clock=clock)
    turns.started()
    turns.refused("same", "same")
    turns.ended("same", "abandoned")
    assert not turns.reserved_against("anyone")
    turns.started()
    turns.refused("other", "owner")
    turns.ended("owner", "paired")
    assert not turns.reserved_against("anyone")


def test_a_second_attacker_address_that_abandoned_gets_no_turn() -> None:
    """Two attacker addresses taking turns: after each has abandoned once, only the owner
    is reserved the next turn."""
    clock = Clock()
    turns = SetupTurns(30.0, clock=clock)
    turns.started()  # a holds; b and the owner wait
    turns.refused("b", "a")
    turns.refused("owner", "a")
    clock.now += 30
    turns.ended("a", "abandoned")
    assert turns.reserved == {"b", "owner"}
    turns.started()  # b wins the race; a and the owner wait
    turns.refused("a", "b")
    turns.refused("owner", "b")
    clock.now += 30
    turns.ended("b", "abandoned")
    assert turns.reserved == {"owner"}


def test_a_wrong_code_is_no_abandonment() -> None:
    """A typo does not cost the owner its next turn."""
    clock = Clock()
    turns = SetupTurns(30.0, clock=clock)
    turns.started()
    turns.ended("owner", "wrong_code")
    turns.started()  # the attacker holds now
    turns.refused("owner", "attacker")
    clock.now += 30
    turns.ended("attacker", "abandoned")
    assert turns.reserved == {"owner"}


# --------------------------------------------------------------------------- the attack


@dataclass
class Attack:
    """The attacker's side: what it got."""

    holds: int = 0
    busy: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def _hold(bridge: RunningBridge, attack: Attack, repeat: float, give_up: float) -> None:
    """One attacker task: M1 every 50 ms on its connection until it gets M2 (so that it
    takes over the moment a hold ends); then M1 again every ``repeat`` s on that
    connection, and after ``give_up`` s it closes it and starts over on a new one."""
    loop = asyncio.get_running_loop()
    while not attack.stop.is_set():
        try:
            async with await bridge.connect(ATTACKER) as conn:
                setup = PairSetup(conn, WRONG_CODE)
                while state_error(await setup.m1()) != (2, None):
                    attack.busy += 1
                    await asyncio.sleep(0.05)
                attack.holds += 1
                held = loop.time()
                while not attack.stop.is_set() and loop.time() - held < give_up:
                    await asyncio.sleep(repeat)
                    if state_error(await setup.m1()) != (2, None):
                        break
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            await asyncio.sleep(0.01)


async def _owner(bridge: RunningBridge, retry: float, patience: float) -> tuple[int, PairingRecord]:
    """The owner: pair-setup every ``retry`` s until it pairs (at most ``patience`` s).
    Returns how often it heard Busy, and its pairing."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    busy = 0
    while loop.time() < deadline:
        async with await bridge.connect() as conn:
            setup = PairSetup(conn, SETUP_CODE)
            state, error = state_error(await setup.m1())
            if (state, error) == (2, None):
                setup.check_m4(await setup.m3())
                return busy, setup.check_m6(await setup.m5())
            assert error == TlvError.BUSY, (state, error)
            busy += 1
        await asyncio.sleep(retry)
    raise AssertionError(f"the owner did not pair within {patience} s ({busy} times Busy)")


async def _attack_while_owner_pairs(
    bridge: RunningBridge, *, duration: float, retry: float, patience: float, repeat: float
) -> tuple[Attack, int, PairingRecord]:
    timeout = bridge.driver.limits.pair_setup_timeout
    attack = Attack()
    tasks = [
        asyncio.create_task(_hold(bridge, attack, repeat, give_up=timeout * 10)),
        asyncio.create_task(_hold(bridge, attack, repeat, give_up=timeout * 10)),
        # This one gives up just before the hold expires, and is back at once.
        asyncio.create_task(_hold(bridge, attack, repeat, give_up=timeout * 0.95)),
    ]
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        while attack.holds == 0:  # the attacker holds pair-setup before the owner comes
            await asyncio.sleep(0.05)
        busy, pairing = await _owner(bridge, retry, patience)
        await asyncio.sleep(max(0.0, duration - (loop.time() - started)))
    finally:
        attack.stop.set()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return attack, busy, pairing


async def test_hold_attack_briefly(tmp_path: Path) -> None:
    """The hold attack with a 2.5 s pair-setup timeout: the owner pairs all the same."""
    async with running_bridge(tmp_path, pair_setup_timeout=2.5) as bridge:
        attack, busy, pairing = await _attack_while_owner_pairs(
            bridge, duration=8.0, retry=0.25, patience=7.0, repeat=0.25
        )
        assert busy >= 1  # the attacker really held it when the owner came
        assert attack.busy > 0
        assert bridge.paired
        await bridge.assert_serves(pairing)


@pytest.mark.timeout(180)
async def test_hold_attack_for_90_seconds(tmp_path: Path) -> None:
    """90 s of the hold attack at the default 30 s timeout; the owner, retrying every 3 s,
    pairs within 60 s, and a second M1 during its pair-setup still gets Busy."""
    async with running_bridge(tmp_path) as bridge:
        assert bridge.driver.limits.pair_setup_timeout == 30.0
        attack, busy, pairing = await _attack_while_owner_pairs(
            bridge, duration=90.0, retry=3.0, patience=60.0, repeat=2.0
        )
        assert busy >= 1
        assert attack.holds >= 1
        assert bridge.paired
        await bridge.assert_serves(pairing)


async def test_m1_during_a_real_pair_setup_is_busy(tmp_path: Path) -> None:
    """An owner between M2 and M3: another address's M1 gets Busy, the owner pairs."""
    async with running_bridge(tmp_path) as bridge:
        async with await bridge.connect() as conn:
            owner = PairSetup(conn, SETUP_CODE)
            assert state_error(await owner.m1()) == (2, None)
            async with await bridge.connect(ATTACKER) as other:
                assert state_error(await PairSetup(other, SETUP_CODE).m1()) == (2, TlvError.BUSY)
            owner.check_m4(await owner.m3())
            async with await bridge.connect(ATTACKER) as other:
                assert state_error(await PairSetup(other, SETUP_CODE).m1()) == (2, TlvError.BUSY)
            pairing = owner.check_m6(await owner.m5())
        await bridge.assert_serves(pairing)


async def test_a_repeated_m1_does_not_extend_the_hold(tmp_path: Path) -> None:
    """M1 again on the holding connection keeps the first M1's deadline."""
    async with running_bridge(tmp_path, pair_setup_timeout=1.0) as bridge:
        loop = asyncio.get_running_loop()
        async with await bridge.connect(ATTACKER) as conn:
            holder = PairSetup(conn, WRONG_CODE)
            first = loop.time()
            assert state_error(await holder.m1()) == (2, None)
            while loop.time() - first < 0.5:
                await asyncio.sleep(0.1)
                assert state_error(await holder.m1()) == (2, None)
            await asyncio.sleep(first + 1.2 - loop.time())
            pairing = await bridge.pair()
        await bridge.assert_serves(pairing)
