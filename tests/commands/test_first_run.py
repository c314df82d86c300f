"""First run: a QR code that scans on any terminal, hints instead of silence, a talkative demo.

Real ``mihomekit`` processes; terminals are pseudo-terminals (``pty``).
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import segno
from gateway_helpers import GATEWAY_HOST, simulators_in_thread
from homekit_helpers import free_port
from run_helpers import (
    MIHOMEKIT,
    ROOT,
    hap_state,
    lines_until,
    run,
    run_args,
    running,
    stop,
    write_hap_state,
)

from mihomekit.setupcode import QUIET_ZONE
from mihomekit.sources.gateway.simulator import GatewaySimulator

URI = "X-HM://0023RRVZ6MI32"  # 182-11-234
ESC_DARK_ON_LIGHT = "\x1b[38;5;16;48;5;231m"
#: The example of docs/mi32cfg.md (a pvvx thermometer, encrypted).
LINE = (
    '{"mac": "A4:C1:38:8D:18:B2", "uuid": "181a", "data": "11d603fbfa7b6dfb1e26fd", '
    '"key": "b9ea895fac7eea6d30532432a516f3a3"}\n'
)


def _read_pty(fd: int, until: str, timeout: float = 20.0) -> str:
    """Read from a pty master until ``until`` shows up (or the other side closes)."""
    data = b""
    deadline = time.monotonic() + timeout
    while until.encode() not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


def _modules(lines: list[str], dark_glyphs: bool) -> list[list[bool]]:
    """Half-block lines back into rows of dark modules."""
    halves = {" ": (False, False), "▀": (True, False), "▄": (False, True), "█": (True, True)}
    rows: list[list[bool]] = []
    for line in lines:
        pairs = [halves[char] for char in line]
        rows.append([top == dark_glyphs for top, _ in pairs])
        rows.append([bottom == dark_glyphs for _, bottom in pairs])
    return rows


def _expected() -> list[list[bool]]:
    qr = segno.make_qr(URI, error="m")
    return [[bool(m) for m in row] for row in qr.matrix_iter(border=QUIET_ZONE)]


def test_qr_on_a_terminal_is_black_on_white_with_a_quiet_zone() -> None:
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLORFGBG")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [*MIHOMEKIT, "qr", "--mac", "B8:27:EB:12:34:56"],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    os.close(slave)
    try:
        text = _read_pty(master, "\x1b[0m\n\n", timeout=20) + _read_pty(master, "\0", 2)
        assert proc.wait(timeout=20) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert "Setup code: 182-11-234" in text
    lines = [line for line in text.split("\n") if line.startswith(ESC_DARK_ON_LIGHT)]
    assert lines and all(line.endswith("\x1b[0m") for line in lines)
    glyphs = [line[len(ESC_DARK_ON_LIGHT) : -len("\x1b[0m")] for line in lines]
    expected = _expected()
    # With explicit colours the glyphs paint the dark modules (black on white).
    assert _modules(glyphs, dark_glyphs=True)[: len(expected)] == expected
    assert glyphs[0].strip() == "" and glyphs[1].strip() == ""  # 4 light module rows


def test_qr_in_a_pipe_is_plain_text_with_a_quiet_zone() -> None:
    result = run("qr", "--mac", "B8:27:EB:12:34:56")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    lines = [line for line in result.stdout.split("\n") if line and set(line) <= set(" ▀▄█")]
    expected = _expected()
    assert len(lines) == (len(expected) + 1) // 2
    # Plain text paints the light modules: a dark terminal shows dark on light.
    assert _modules(lines, dark_glyphs=False)[: len(expected)] == expected
    assert lines[0] == lines[1] == "█" * len(expected)


def test_decode_on_a_terminal_explains_itself() -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*MIHOMEKIT, "decode"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    os.close(slave)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        hint = proc.stderr.readline()
        assert hint.startswith("mihomekit decode: reading JSON lines from the terminal")
        os.write(master, LINE.encode())
        result = json.loads(proc.stdout.readline())
        assert result["ok"] is True and result["model"] == "PVVX"
        os.write(master, b"\x04")  # Ctrl-D
        assert proc.wait(timeout=20) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def test_decode_from_a_pipe_prints_no_hint() -> None:
    result = subprocess.run(
        [*MIHOMEKIT, "decode"], input=LINE, capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert result.returncode == 0
    assert result.stderr == ""
    assert json.loads(result.stdout)["ok"] is True


def test_demo_keeps_the_qr_on_screen_and_says_what_it_does(tmp_path: Path) -> None:
    """On a terminal the demo's activity is one line rewritten in place: the QR code above
    it never scrolls away. It says where its state is and that it stopped."""
    state = tmp_path / "demo-state"
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLORFGBG")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [*MIHOMEKIT, *run_args(state, demo_config=False), "--demo"],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    os.close(slave)
    try:
        start = _read_pty(master, "\r\x1b[K", timeout=30)  # up to the first activity update
        # Two more updates (every 5 s) later, still no new line below the QR.
        later = _read_pty(master, "\0", timeout=11)
        proc.send_signal(signal.SIGINT)
        end = _read_pty(master, "stopped", timeout=20)
        assert proc.wait(timeout=20) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert f"demo: state in {state} (delete it to start over)" in start
    assert "Setup code: 182-11-234" in start and "mihomekit qr" in start
    updates = later.split("\r\x1b[K")[1:]
    assert len(updates) >= 2, later
    assert "\n" not in later  # rewritten in place: nothing scrolls
    words = updates[-1].split()
    assert words[0] == "demo:" and words[2] == "advertisements," and int(words[1]) > 0
    assert updates[-1].endswith(", 0 paired controllers")
    assert end.rstrip("\n").split("\n")[-1] == "mihomekit bridge 'Mi-Home-Bridge' stopped"


def test_demo_in_a_log_writes_its_activity_at_most_once_a_minute(tmp_path: Path) -> None:
    state = tmp_path / "demo-state"
    with running(*run_args(state, demo_config=False), "--demo") as proc:
        before = lines_until(proc, "mihomekit bridge")
        time.sleep(7)  # the terminal's interval (5 s) has passed
        out, err = stop(proc, signal.SIGINT)  # Ctrl-C
    assert any("Setup code: 182-11-234" in line for line in before)
    assert "demo: " not in out.replace("demo: state in", "")  # not yet: once a minute
    assert out.rstrip("\n").split("\n")[-1] == "mihomekit bridge 'Mi-Home-Bridge' stopped"
    assert "Traceback" not in err


def test_a_paired_bridge_does_not_show_its_code(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_hap_state(state, hap_state("1A:2B:3C:4D:5E:6F", paired=1))
    with running(*run_args(state)) as proc:
        lines = lines_until(proc, "mihomekit bridge")
        out, _err = stop(proc)
    assert lines[-1].endswith("paired with 1 controller (setup code not shown)"), lines
    shown = "\n".join(lines) + out
    assert "182-11-234" not in shown
    assert "█" not in shown and "X-HM://" not in shown


def test_a_gateway_alone_is_enough_to_start(tmp_path: Path) -> None:
    """No mi32cfg: the gateway's devices are found before HomeKit is offered the bridge."""
    sim = GatewaySimulator(host=GATEWAY_HOST, port=0, discovery_port=0, heartbeat_interval=None)
    with simulators_in_thread(sim):
        settings = tmp_path / "mihomekit.toml"
        settings.write_text(
            "[gateway]\n"
            "discover = false\n"
            'interface = "127.0.0.1"\n'
            f"report_port = {free_port()}\n"
            "[[gateway.gateways]]\n"
            f'host = "{GATEWAY_HOST}"\n'
            f"port = {sim.port}\n"
        )
        args = run_args(tmp_path / "state", demo_config=False, gateway=True)
        with running(*args, "--settings", str(settings), cwd=tmp_path) as proc:
            ready = lines_until(proc, "mihomekit bridge", timeout=20)[-1]
            _out, err = stop(proc)
    accessories = int(ready.split(", ")[1].split()[0])
    assert accessories == len(sim.devices) + 1  # the subdevices and the gateway itself
    assert "no mi32cfg found" in err  # said once the bridge is up
