"""``mihomekit run`` as users start it: a real process, real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from homekit_helpers import free_port, ready_line
from repo import ROOT
from run_helpers import run_args

from mihomekit.demo.frames import MAC_ATC, MAC_TH
from mihomekit.errors import EXIT_CONFIG, EXIT_PORT_IN_USE, EXIT_STATE_UNREADABLE

DEMO = ROOT / "mihomekit" / "demo"


def _run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mihomekit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def _base_args(state: Path) -> list[str]:
    return run_args(state, demo_config=False, ble=True)


def test_replay_through_the_bridge_persists_values(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mihomekit",
            *_base_args(state),
            "--config",
            str(DEMO / "mi32cfg.json"),
            "--replay",
            str(DEMO / "recording.jsonl"),
            "--replay-speed",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = ready_line(proc)
        assert "182-11-234" in line, line
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    saved = json.loads((state / "bridge.json").read_text())
    th = saved["last_values"][MAC_TH.replace(":", "")]["values"]
    assert 15 < th["temperature"] < 30
    assert "humidity" in th
    atc = saved["last_values"][MAC_ATC.replace(":", "")]["values"]
    assert atc["battery"] == 91
    assert len(saved["aids"]) == 8
    assert (state / "accessory.state").exists()


def test_bad_mi32cfg_names_entry_and_field(tmp_path: Path) -> None:
    config = tmp_path / "mi32cfg"
    config.write_text(
        '[{"MAC":"A4C138AABBCC","PID":"055b","key":""},{"MAC":"A4C138","PID":"055b"}]'
    )
    result = _run(*_base_args(tmp_path / "state"), "--config", str(config))
    assert result.returncode == EXIT_CONFIG
    assert "entry 1" in result.stderr and "MAC" in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupted_state_is_refused_not_reset(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "accessory.state").write_text('{"mac": "AA:BB:CC:DD:EE:FF", "paired_clients": {')
    result = _run(*_base_args(state), "--config", str(DEMO / "mi32cfg.json"))
    assert result.returncode == EXIT_STATE_UNREADABLE
    assert "pairing state" in result.stderr
    assert "Traceback" not in result.stderr
    assert (state / "accessory.state").read_text().endswith('"paired_clients": {')


def test_qr_matches_the_running_bridge_code() -> None:
    result = _run("qr", "--mac", "B8:27:EB:12:34:56", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {
        "setup_code": "182-11-234",
        "setup_id": "MI32",
        "uri": "X-HM://0023RRVZ6MI32",
    }


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        args = _base_args(tmp_path / "state")
        args[args.index("--port") + 1] = str(port)
        result = _run(*args, "--config", str(DEMO / "mi32cfg.json"))
    assert result.returncode == EXIT_PORT_IN_USE
    assert result.stderr.startswith(f"mihomekit: cannot serve HomeKit on 127.0.0.1:{port}: ")
    assert "the port is in use" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback


def test_demo_bridges_ble_and_gateway_devices(tmp_path: Path) -> None:
    state = tmp_path / "demo-state"
    args = run_args(state, demo_config=False, gateway=True, ble=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mihomekit", *args, "--demo", "--replay-speed", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = ready_line(proc)
        assert "mihomekit bridge" in line, line
        time.sleep(5.0)  # a full pass of the 120 s recording at 30x, and gateway reads
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    saved = json.loads((state / "bridge.json").read_text())
    ble = [d for d in saved["aids"] if len(d) == 12 and d.isupper()]
    zigbee = list(saved["known_devices"])
    assert len(ble) == 8
    assert len(zigbee) >= 5  # the gateway itself and its subdevices
    values = saved["last_values"]
    assert "temperature" in values[MAC_TH.replace(":", "")]["values"]
    assert any("temperature" in values.get(sid, {}).get("values", {}) for sid in zigbee)
