"""The pairing window: an unpaired bridge accepts pair-setup only while it is open.

The window file (``pairing-window.json``) with a fake clock, and running bridges with a
short window injected through ``ServerLimits(pairing_window=...)``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from pathlib import Path

import hapraw
import pytest
from hap_bridge_fixture import (
    SETUP_CODE,
    aiohomekit_controller,
    assert_aiohomekit_reads,
    running_bridge,
)
from hapraw import PairSetup, TlvError, state_error
from run_helpers import run

from mihomekit.homekit.window import (
    WINDOW_FILE,
    PairingWindow,
    read_open_until,
    write_open_until,
)

pytestmark = pytest.mark.timeout(60)


class Clocks:
    """A monotonic clock and a wall clock that the test moves."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = 1_800_000_000.0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


def _window(path: Path, seconds: float, clocks: Clocks) -> PairingWindow:
    return PairingWindow(
        path / WINDOW_FILE, seconds, clock=lambda: clocks.mono, wall=lambda: clocks.wall
    )


def test_the_window_opens_at_start_and_closes(tmp_path: Path) -> None:
    clocks = Clocks()
    window = _window(tmp_path, 600, clocks)
    assert not window.is_open()  # not started
    window.start()
    assert window.is_open()
    assert read_open_until(tmp_path / WINDOW_FILE) == clocks.wall + 600
    status = window.status()
    assert status.open and status.until == clocks.wall + 600
    clocks.advance(599)
    assert window.is_open()
    clocks.advance(1)
    assert not window.is_open()
    assert window.status().describe() == "closed"


def test_pairing_open_reaches_the_running_window_through_the_file(tmp_path: Path) -> None:
    clocks = Clocks()
    write_open_until(tmp_path / WINDOW_FILE, clocks.wall + 5000)  # from an earlier run
    window = _window(tmp_path, 600, clocks)
    window.start()
    clocks.advance(700)
    assert not window.is_open()  # the earlier run's file does not count
    write_open_until(tmp_path / WINDOW_FILE, clocks.wall + 600)  # mihomekit pairing open
    assert window.is_open()
    # The wall clock jumps a year ahead (NTP after boot): the window stays as it was.
    clocks.wall += 365 * 86400
    clocks.mono += 100
    assert window.is_open()
    clocks.mono += 500
    assert not window.is_open()
    # A longer window than the bridge's own is cut to it; one in the past opens nothing.
    write_open_until(tmp_path / WINDOW_FILE, clocks.wall + 86400)
    assert window.is_open()
    clocks.advance(601)
    assert not window.is_open()
    write_open_until(tmp_path / WINDOW_FILE, clocks.wall - 10)
    assert not window.is_open()
    (tmp_path / WINDOW_FILE).write_text("{not json")
    assert not window.is_open()


def test_window_zero_is_always_open(tmp_path: Path) -> None:
    clocks = Clocks()
    window = _window(tmp_path, 0, clocks)
    window.start()
    clocks.advance(10**6)
    assert window.is_open()
    assert window.status().describe() == "always open"
    assert not (tmp_path / WINDOW_FILE).exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run("pairing", *args)


async def test_pairing_refused_after_the_window_then_pairing_open_pairs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mihomekit.homekit")
    async with running_bridge(tmp_path, pairing_window=1.0) as bridge:
        await asyncio.sleep(1.1)
        for _ in range(20):
            async with await bridge.connect() as conn:
                reply = await PairSetup(conn, SETUP_CODE).m1()
                assert state_error(reply) == (2, TlvError.UNAVAILABLE)
        closed = [r for r in caplog.records if "pairing window is closed" in r.getMessage()]
        assert len(closed) == 1, [r.getMessage() for r in closed]  # one line, not 20
        assert closed[0].levelno == logging.WARNING
        assert bridge.driver.pairing_attempts.total == 0  # no guess was even allowed

        status = await asyncio.to_thread(_cli, "--state-dir", str(tmp_path))
        assert "pairing closed (`mihomekit pairing open` opens it)" in status.stdout, status
        opened = await asyncio.to_thread(_cli, "open", "--state-dir", str(tmp_path))
        assert opened.returncode == 0, opened.stderr
        assert "pairing open until" in opened.stdout
        status = await asyncio.to_thread(_cli, "--state-dir", str(tmp_path))
        assert "pairing open until" in status.stdout, status.stdout
        async with aiohomekit_controller(bridge.port) as controller:
            await assert_aiohomekit_reads(controller)
        assert bridge.paired


async def test_removing_the_last_controller_opens_the_window(tmp_path: Path) -> None:
    """The owner removes the bridge in Apple Home: it can be added again at once."""
    async with running_bridge(tmp_path, pairing_window=1.0) as bridge:
        pairing = await bridge.pair()
        await asyncio.sleep(1.1)  # the window from the start is closed now
        async with await bridge.verified(pairing) as conn:
            reply = await hapraw.remove_pairing(conn, pairing.controller.pairing_id)
        assert state_error(reply) == (2, None)
        assert not bridge.paired
        again = await bridge.pair()
        await bridge.assert_serves(again)
        saved = json.loads((tmp_path / WINDOW_FILE).read_text())
        assert saved["open_until"] > 0
