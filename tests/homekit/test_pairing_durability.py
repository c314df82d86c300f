"""Pairings are durable: acknowledged means saved.

A bridge process is killed (SIGKILL) right around the moment it answers pair-setup M5 or a
remove-pairing request; whenever the controller got the answer, the restarted bridge
agrees with it. A full disk makes pairing fail cleanly instead of pairing in memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import hapraw
import pytest
from hap_bridge_fixture import (
    SETUP_CODE,
    SWITCH_ON,
    BridgeProcess,
    Endpoint,
    RunningBridge,
    assert_clean_stderr,
    running_bridge,
)
from hapraw import (
    TLV8,
    Controller,
    PairingError,
    PairingRecord,
    PairSetup,
    TlvError,
    state_error,
)

ROUNDS = 15

pytestmark = pytest.mark.timeout(240)


async def verifies(bridge: Endpoint, pairing: PairingRecord) -> bool:
    """Whether ``pairing``'s controller pair-verifies (and then reads); refusals are error 2."""
    try:
        async with await bridge.verified(pairing) as conn:
            values = await hapraw.get_characteristics(conn, [SWITCH_ON])
    except PairingError as refused:
        assert refused.error == TlvError.AUTHENTICATION, refused
        return False
    assert SWITCH_ON in values
    return True


async def answer_then_kill(
    bridge: BridgeProcess, conn: hapraw.HapConnection, request: bytes, delay: float
) -> dict[int, bytes] | None:
    """Send ``request``, SIGKILL the bridge ``delay`` s later; the TLV answer if it came."""
    await conn.send(request)
    await asyncio.sleep(delay)
    bridge.kill()
    try:
        return (await conn.read_response(2.0)).tlv()
    except (ConnectionError, TimeoutError, hapraw.MalformedTlv):
        return None
    finally:
        await conn.close()


async def pair_then_kill(
    bridge: BridgeProcess, controller: Controller, delay: float
) -> PairingRecord | None:
    """Pair-setup up to M5, then the kill; the pairing if a valid M6 arrived."""
    conn = await bridge.connect()
    setup = PairSetup(conn, SETUP_CODE, controller)
    await setup.up_to_m4()
    request = hapraw.http_request("POST", "/pair-setup", setup.m5_body(), TLV8)
    reply = await answer_then_kill(bridge, conn, request, delay)
    if reply is None:
        return None
    return setup.check_m6(reply)


async def remove_then_kill(bridge: BridgeProcess, pairing: PairingRecord, delay: float) -> bool:
    """Remove-pairing of the controller itself, then the kill; whether it was acknowledged."""
    conn = await bridge.verified(pairing)
    body = hapraw.remove_pairing_body(pairing.controller.pairing_id)
    request = hapraw.http_request("POST", "/pairings", body, TLV8)
    reply = await answer_then_kill(bridge, conn, request, delay)
    return reply is not None and state_error(reply) == (2, None)


async def test_kill_at_m6_and_at_remove_keeps_what_was_acknowledged(tmp_path: Path) -> None:
    """SIGKILL around M6 / the remove answer: an answered request is what the restart sees."""
    rng = random.Random(6)
    bridge = BridgeProcess(tmp_path / "state")
    bridge.start()
    try:
        # How long the bridge takes to answer M5 and a removal: the kills fall around there.
        controller = Controller()
        conn = await bridge.connect()
        setup = PairSetup(conn, SETUP_CODE, controller)
        await setup.up_to_m4()
        loop = asyncio.get_running_loop()
        started = loop.time()
        pairing = setup.check_m6(await setup.m5())
        m5_time = loop.time() - started
        await conn.close()
        started = loop.time()
        await bridge.remove(pairing)
        remove_time = loop.time() - started
        accessory_ltpk = pairing.accessory_ltpk

        answered = {"pair": 0, "remove": 0}

        async def one_round(pair_delay: float, remove_delay: float) -> None:
            controller = Controller()
            record = await pair_then_kill(bridge, controller, pair_delay)
            bridge.start()
            pairing = PairingRecord(controller, "", accessory_ltpk)
            paired = await verifies(bridge, pairing)
            if record is not None:
                answered["pair"] += 1
                assert paired, "M6 was received but the pairing is gone after a restart"
            if not paired:
                return
            acknowledged = await remove_then_kill(bridge, pairing, remove_delay)
            bridge.start()
            still_paired = await verifies(bridge, pairing)
            if acknowledged:
                answered["remove"] += 1
                assert not still_paired, "removal acknowledged but the pairing is back"
            if still_paired:
                await bridge.remove(pairing)

        for _ in range(ROUNDS):
            await one_round(rng.uniform(0, 1.5 * m5_time), rng.uniform(0, 1.5 * remove_time))
        # On a loaded machine the first answers may all come after the kills: a few late
        # kills make sure each kind of request was also answered (and kept) at least once.
        for factor in (4, 8, 16):
            if answered["pair"] and answered["remove"]:
                break
            await one_round(factor * m5_time, factor * remove_time)
        assert answered["pair"] >= 1 and answered["remove"] >= 1, answered
    finally:
        bridge.stop()
    assert_clean_stderr(bridge.stderr())


async def test_remove_pairing_closes_its_connections(tmp_path: Path) -> None:
    """Add, list and remove pairings; a removed controller's connections are closed."""
    async with running_bridge(tmp_path) as bridge:
        admin = await bridge.pair()
        guest = PairingRecord(Controller(), admin.accessory_id, admin.accessory_ltpk)
        async with await bridge.verified(admin) as conn:
            ltpk = guest.controller.ltpk
            reply = await hapraw.add_pairing(conn, guest.controller.pairing_id, ltpk)
            assert state_error(reply) == (2, None)
            assert await hapraw.list_pairings(conn) == {
                admin.controller.pairing_id: (admin.controller.ltpk, 1),
                guest.controller.pairing_id: (ltpk, 0),
            }
            guest_conns = [await bridge.verified(guest) for _ in range(2)]
            for guest_conn in guest_conns:
                assert SWITCH_ON in await hapraw.get_characteristics(guest_conn, [SWITCH_ON])
            reply = await hapraw.remove_pairing(conn, guest.controller.pairing_id)
            assert state_error(reply) == (2, None)
            for guest_conn in guest_conns:
                assert await guest_conn.wait_closed(2.0)
                await guest_conn.close()
            assert list(await hapraw.list_pairings(conn)) == [admin.controller.pairing_id]
        assert not await verifies(bridge, guest)
        await bridge.assert_serves(admin)


# --------------------------------------------------------------------------- full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of the test's own (tests run as root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def remount(disk: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Fill ``disk`` up; the file that takes the space."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\xff" * size)
        with pytest.raises(OSError) as full:
            os.write(fd, b"\xff" * 4096)
        assert full.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def failure_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def save_refused(bridge: RunningBridge, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Pair-setup whose M5 must fail (state 6, error 1) and pair nothing; the log lines of M5."""
    async with await bridge.connect() as conn:
        setup = PairSetup(conn, SETUP_CODE)
        await setup.up_to_m4()
        caplog.clear()
        assert state_error(await setup.m5()) == (6, TlvError.UNKNOWN)
    lines = failure_lines(caplog)
    assert not bridge.paired
    assert not await verifies(bridge, PairingRecord(setup.controller, "", b""))
    return lines


def names_full_disk(line: str) -> bool:
    text = line.lower()
    return any(word in text for word in ("no space left", "enospc", "errno 28"))


async def test_full_disk_refuses_pairing_then_pairs(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No space for accessory.state: M6 is an error, nothing is paired, one log line says why.

    The same for /pairings on a full disk: the old pairings stay, in memory and on disk.
    """
    caplog.set_level(logging.INFO)
    state_dir = small_disk / "state"
    async with running_bridge(state_dir) as bridge:
        filler = fill(small_disk)
        lines = await save_refused(bridge, caplog)
        assert len(lines) == 1 and names_full_disk(lines[0]), lines

        filler.unlink()
        admin = await bridge.pair()
        await bridge.assert_serves(admin)

        filler = fill(small_disk)
        guest = Controller()
        async with await bridge.verified(admin) as conn:
            caplog.clear()
            reply = await hapraw.add_pairing(conn, guest.pairing_id, guest.ltpk)
            assert state_error(reply) == (2, TlvError.UNKNOWN)
            reply = await hapraw.remove_pairing(conn, admin.controller.pairing_id)
            assert state_error(reply) == (2, TlvError.UNKNOWN)
            assert list(await hapraw.list_pairings(conn)) == [admin.controller.pairing_id]
        assert all(names_full_disk(line) for line in failure_lines(caplog))
        assert bridge.paired
        await bridge.assert_serves(admin)
        filler.unlink()

    # What is on disk is the state before the refused changes.
    async with running_bridge(state_dir) as bridge:
        async with await bridge.verified(admin) as conn:
            assert list(await hapraw.list_pairings(conn)) == [admin.controller.pairing_id]
        assert not await verifies(bridge, PairingRecord(guest, "", b""))


async def test_read_only_state_dir_refuses_pairing(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A state directory that turned read-only: M6 is an error and nothing is paired."""
    caplog.set_level(logging.INFO)
    async with running_bridge(small_disk / "state") as bridge:
        remount(small_disk, "ro")
        try:
            lines = await save_refused(bridge, caplog)
            assert len(lines) == 1 and "read-only" in lines[0].lower(), lines
        finally:
            remount(small_disk, "rw")
        await bridge.assert_serves(await bridge.pair())
