"""Last values reach the disk soon after a change (coalesced writes), and only on a change."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from homekit_helpers import free_port, ready_line
from run_helpers import DEMO, run_args, running
from state_helpers import count_state_writes

from mihomekit.app import PERSIST_DELAY, App, AppConfig
from mihomekit.decoders import build
from mihomekit.demo.frames import MAC_TH
from mihomekit.mi32cfg import DeviceEntry

ATC = DeviceEntry(mac="A4C138445566", pid=0x0A1C, key=None)
UUID_181A = 0x181A


def _saved_temperature(state_dir: Path) -> float:
    saved = json.loads((state_dir / "bridge.json").read_text())
    value: float = saved["last_values"][ATC.mac]["values"]["temperature"]
    return value


async def test_changes_are_written_once_per_delay_and_only_when_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = count_state_writes(monkeypatch)
    app = App(
        AppConfig(
            state_dir=tmp_path,
            address="127.0.0.1",
            port=free_port(),
            setup_code_mac="B8:27:EB:12:34:56",
            entries=[ATC],
            print_setup=False,
            persist_delay=0.5,
        )
    )
    counter = 0

    def hear(temperature: float) -> None:
        nonlocal counter
        counter += 1
        frame = build.atc1441_frame(ATC.display_mac, temperature, 40, 90, 3.0, counter)
        assert app.registry.handle_advertisement(ATC.display_mac, UUID_181A, frame) is not None

    await app.start()
    try:
        start = len(writes)
        for step in range(5):  # a burst of changes ...
            hear(21.0 + step / 10)
        assert len(writes) == start  # ... is not written at once,
        await asyncio.sleep(0.9)
        assert len(writes) == start + 1  # ... but in one write within the delay
        assert _saved_temperature(tmp_path) == 21.4
        hear(21.4)  # heard again, nothing changed: no write
        await asyncio.sleep(0.9)
        assert len(writes) == start + 1
        hear(22.5)
        await asyncio.sleep(0.9)
        assert len(writes) == start + 2
        assert _saved_temperature(tmp_path) == 22.5
    finally:
        await app.stop()
    assert _saved_temperature(tmp_path) == 22.5


def test_running_bridge_has_values_on_disk_within_30_s(tmp_path: Path) -> None:
    """Killed without a chance to save at stop, the bridge has still saved what it heard."""
    assert PERSIST_DELAY <= 30
    state = tmp_path / "state"
    replay = ["--replay", str(DEMO / "recording.jsonl"), "--replay-speed", "0"]
    with running(*run_args(state, ble=True), *replay) as proc:
        assert "setup code" in ready_line(proc)
        ready = time.monotonic()
        th = MAC_TH.replace(":", "")
        saved: dict[str, Any] = {"last_values": {}}
        while time.monotonic() - ready < 30:
            saved = json.loads((state / "bridge.json").read_text())
            if th in saved["last_values"]:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - ready
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
    assert th in saved["last_values"], saved
    assert elapsed <= PERSIST_DELAY + 5
    on_disk = json.loads((state / "bridge.json").read_text())
    assert 15 < on_disk["last_values"][th]["values"]["temperature"] < 30
