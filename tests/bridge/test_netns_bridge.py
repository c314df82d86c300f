"""The bridge on a host with no default route, found and paired over mDNS only.

Two network namespaces joined by a veth pair, addresses that exist only inside them, no
default route. The bridge is started without ``--address``: it must pick the veth
address (never touching a default route), advertise it over mDNS on that interface only,
and a HomeKit controller in the other namespace must find it by device id and pair with
the MAC-derived code. Needs root (``ip netns``); CI runs as root.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from homekit_helpers import ready_line
from netns import veth_namespaces
from repo import HELPERS, ROOT

DEMO = ROOT / "mihomekit" / "demo"
CONTROLLER = str(HELPERS / "netns_homekit_controller.py")
# TEST-NET-2 addresses (RFC 5737): they exist only inside the two namespaces. Link-local
# addresses would not do: HomeKit controllers ignore them in mDNS records.
BRIDGE_ADDR, CONTROLLER_ADDR = "198.51.100.1", "198.51.100.2"


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    with veth_namespaces(
        "br", ("veth-br", f"{BRIDGE_ADDR}/24"), ("veth-hk", f"{CONTROLLER_ADDR}/24")
    ) as names:
        yield names


def test_no_default_route_discovery_and_pairing(
    namespaces: tuple[str, str], tmp_path: Path
) -> None:
    bridge_ns, controller_ns = namespaces
    routes = subprocess.run(
        ["ip", "-n", bridge_ns, "route", "show", "default"], capture_output=True, text=True
    )
    assert routes.stdout.strip() == ""  # really no default route
    state = tmp_path / "state"
    bridge = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            bridge_ns,
            sys.executable,
            "-m",
            "mihomekit",
            "run",
            "--config",
            str(DEMO / "mi32cfg.json"),
            "--replay",
            str(DEMO / "recording.jsonl"),
            "--replay-speed",
            "0",
            "--state-dir",
            str(state),
            "--port",
            "51827",
            "--mac",
            "B8:27:EB:12:34:56",
            "--no-gateway",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = ready_line(bridge)
        assert f"on {BRIDGE_ADDR}:51827" in line, line
        controller = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                controller_ns,
                sys.executable,
                CONTROLLER,
                str(state),
                "182-11-234",
                CONTROLLER_ADDR,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=ROOT,
        )
        assert controller.returncode == 0, controller.stderr[-3000:]
        found = json.loads(controller.stdout.strip().splitlines()[-1])
        assert found["address"] == BRIDGE_ADDR
        assert found["addresses"] == [BRIDGE_ADDR]  # only the chosen interface is advertised
        assert found["port"] == 51827
        assert found["category"] == 2  # bridge
        assert found["accessories"] == 9  # the bridge and the 8 demo devices
        assert "Living Room" in found["names"]
        bridge.send_signal(signal.SIGTERM)
        _out, err = bridge.communicate(timeout=20)
        assert bridge.returncode == 0, err
        saved = json.loads((state / "accessory.state").read_text())
        assert len(saved["paired_clients"]) == 1  # the pairing was stored
    finally:
        if bridge.poll() is None:
            bridge.kill()
            time.sleep(0.1)
