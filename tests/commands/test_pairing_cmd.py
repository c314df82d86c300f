"""``mihomekit pairing``: status of a state directory, and unlock while the bridge runs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hap_bridge_fixture import (
    SETUP_CODE,
    aiohomekit_controller,
    assert_aiohomekit_reads,
    running_bridge,
)
from hapraw import PairSetup, TlvError, state_error

from mihomekit.cli import main
from mihomekit.commands import run as runcmd
from mihomekit.demo import demo_state_dir
from mihomekit.homekit.window import WINDOW_FILE


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mihomekit", "pairing", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_unlock_reaches_a_running_bridge(tmp_path: Path) -> None:
    (tmp_path / "pair-setup.json").write_text(json.dumps({"failed_attempts": 100}))
    async with running_bridge(tmp_path) as bridge:
        async with await bridge.connect() as conn:
            assert state_error(await PairSetup(conn, SETUP_CODE).m1()) == (2, TlvError.MAX_TRIES)

        status = await asyncio.to_thread(_cli, "--state-dir", str(tmp_path))
        assert status.returncode == 0, status.stderr
        assert "paired controllers: none" in status.stdout
        assert "failed pair-setup attempts: 100 of 100" in status.stdout
        assert "pairing unlock" in status.stdout

        unlock = await asyncio.to_thread(_cli, "unlock", "--state-dir", str(tmp_path))
        assert unlock.returncode == 0, unlock.stderr
        async with aiohomekit_controller(bridge.port) as controller:
            await assert_aiohomekit_reads(controller)

        status = await asyncio.to_thread(_cli, "status", "--state-dir", str(tmp_path))
        assert "failed pair-setup attempts: 0 of 100" in status.stdout
        assert "(admin)" in status.stdout


def test_a_broken_counter_file_is_one_line_and_unlock_repairs_it(tmp_path: Path) -> None:
    (tmp_path / "pair-setup.json").write_text("{not json")
    status = _cli("--state-dir", str(tmp_path))
    assert status.returncode != 0
    assert "Traceback" not in status.stderr
    assert len(status.stderr.strip().splitlines()) == 1
    assert "pair-setup.json" in status.stderr
    unlock = _cli("unlock", "--state-dir", str(tmp_path))
    assert unlock.returncode == 0, unlock.stderr
    assert "failed pair-setup attempts: 0 of 100" in _cli("--state-dir", str(tmp_path)).stdout


def test_pairing_finds_the_demo_and_says_what_it_reads(tmp_path: Path) -> None:
    """After the demo, `pairing` names the state directory it reads, points at the
    demo's, and `--demo` reads it; nothing prints a raw errno."""
    home = tmp_path / "home"
    demo = tmp_path / "mihomekit-demo"
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(f'[bridge]\nstate_dir = "{home}"\n')
    for action in ("status", "unlock", "open"):
        result = _cli(action, "--settings", str(settings))
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "Errno" not in result.stderr, result.stderr
        assert f"no bridge state in {home}" in result.stderr
        assert "--demo" not in result.stderr  # there is no demo state yet
    demo.mkdir()
    hint = _cli("--settings", str(settings))
    assert f"the demo keeps its state in {demo} (add --demo)" in hint.stderr
    status = _cli("--demo", "--settings", str(settings))
    assert status.returncode == 0, status.stderr
    assert f"state directory: {demo}" in status.stdout
    assert "paired controllers: none" in status.stdout


def test_pairing_reads_the_default_settings_file_but_the_demo_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sudo mihomekit pairing open` reads the settings the service reads (its state
    directory and pairing window); `--demo` ignores them, as `run --demo` does."""
    home = tmp_path / "state"
    home.mkdir()
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(f'[bridge]\nstate_dir = "{home}"\npairing_window = 120\n')
    monkeypatch.setattr(runcmd, "DEFAULT_SETTINGS_PATH", str(settings))
    assert main(["pairing", "open"]) == 0
    assert "pairing open until" in capsys.readouterr().out
    opened = json.loads((home / WINDOW_FILE).read_text())["open_until"]
    assert 100 < opened - time.time() <= 120
    beside = demo_state_dir(str(home))  # where the demo's state would be with these settings
    beside.mkdir()
    main(["pairing", "--demo"])
    said = capsys.readouterr()
    assert str(beside) not in said.out + said.err
