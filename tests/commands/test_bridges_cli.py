"""``mihomekit run`` with more devices than one bridge holds: the start-up output and ready
lines of each bridge, ``mihomekit qr --bridge N`` and ``mihomekit pairing`` per bridge."""

from __future__ import annotations

import json
import re
from pathlib import Path

from run_helpers import lines_until, run, run_args, running, stop

from mihomekit.mi32cfg import DeviceEntry, save_mi32cfg
from mihomekit.setupcode import child_setup_code

SETUP_CODE = "182-11-234"


def test_run_qr_and_pairing_with_a_child_bridge(tmp_path: Path) -> None:
    state = tmp_path / "state"
    mi32cfg = tmp_path / "mi32cfg"
    save_mi32cfg(mi32cfg, [DeviceEntry(f"A4C138{n:06X}", 0x055B, None) for n in range(160)])
    args = [*run_args(state, demo_config=False), "--config", str(mi32cfg)]
    child_code = child_setup_code(SETUP_CODE, 2)
    with running(*args) as proc:
        lines = lines_until(proc, "(bridge 2)")
        out, _err = stop(proc)
    text = "\n".join(lines)
    assert "Add bridge 1 (Mi-Home-Bridge) in Apple Home" in text
    assert "Add bridge 2 (Mi-Home-Bridge 2) in Apple Home" in text
    assert f"Setup code: {child_code}   Setup URI: X-HM://" in text
    first = next(line for line in lines if line.startswith("mihomekit bridge 'Mi-Home-Bridge' on"))
    window = r", pairing open until \d\d:\d\d:\d\d$"
    assert re.search(f", 149 accessories, setup code {SETUP_CODE}{window}", first), first
    assert lines[-1].startswith("mihomekit bridge 'Mi-Home-Bridge 2' (bridge 2) on 127.0.0.1:")
    assert re.search(f", 11 accessories, setup code {child_code}{window}", lines[-1])
    port = json.loads((state / "bridge-2" / "bridge.json").read_text())["port"]
    assert f"127.0.0.1:{port}," in lines[-1]

    qr = run(
        "qr", "--json", "--bridge", "2", "--state-dir", str(state), "--mac", "B8:27:EB:12:34:56"
    )
    assert qr.returncode == 0, qr.stderr
    shown = json.loads(qr.stdout)
    assert shown["setup_code"] == child_code
    assert shown["setup_id"] == "MB02"
    assert shown["uri"] in text
    assert run("qr", "--bridge", "3", "--state-dir", str(state)).returncode == 2

    pairing = run("pairing", "--state-dir", str(state))
    assert pairing.returncode == 0, pairing.stderr
    assert "bridge 1:" in pairing.stdout and "bridge 2:" in pairing.stdout
    assert str(state / "bridge-2") in pairing.stdout
    assert pairing.stdout.count("paired controllers: none") == 2
    only = run("pairing", "--bridge", "2", "--state-dir", str(state))
    assert only.stdout.count("paired controllers: none") == 1
    assert "stopped" in out
