"""Real multicast between two network namespaces joined by a veth pair.

The gateway simulator runs in one namespace (169.254.98.1), the adapter in the other
(169.254.98.2), with the default ports and group. The link-local addresses exist only
inside the namespaces, which the test creates and deletes: nothing leaves the machine.
Needs root (``ip netns``); CI runs as root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from gateway_helpers import GATEWAY_SID, ROOT

HELPER = str(ROOT / "tests" / "gateway_netns_helper.py")
GW_ADDR, CL_ADDR = "169.254.98.1", "169.254.98.2"


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """Two namespaces with a veth pair and a multicast route on each side."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail(
            "test_gateway_netns needs root and iproute2 (ip netns) to create network "
            "namespaces; run the suite as root, as CI does"
        )
    gw_ns, cl_ns = f"mhk-gw-{os.getpid()}", f"mhk-cl-{os.getpid()}"
    try:
        _ip("netns", "add", gw_ns)
        _ip("netns", "add", cl_ns)
        _ip(
            "link", "add", "veth-gw", "netns", gw_ns, "type", "veth",
            "peer", "name", "veth-cl", "netns", cl_ns,
        )  # fmt: skip
        _ip("-n", gw_ns, "addr", "add", f"{GW_ADDR}/24", "dev", "veth-gw")
        _ip("-n", cl_ns, "addr", "add", f"{CL_ADDR}/24", "dev", "veth-cl")
        for ns, dev in ((gw_ns, "veth-gw"), (cl_ns, "veth-cl")):
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", dev, "up")
            # For the adapter's default configuration (no interface chosen).
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        yield gw_ns, cl_ns
    finally:
        for ns in (gw_ns, cl_ns):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=10)


def _in_ns(ns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", ns, sys.executable, HELPER, *args]


@pytest.mark.parametrize(("proto", "interface"), [(1, "-"), (2, CL_ADDR)])
def test_multicast_across_namespaces(
    namespaces: tuple[str, str], proto: int, interface: str
) -> None:
    gw_ns, cl_ns = namespaces
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    gateway = subprocess.Popen(
        _in_ns(gw_ns, "gateway", str(proto), GW_ADDR),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert gateway.stdout is not None
        assert gateway.stdout.readline().strip() == "ready"
        client = subprocess.run(
            _in_ns(cl_ns, "client", str(proto), interface),
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert client.returncode == 0, client.stderr
        seen = json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        gateway.communicate(input="", timeout=10)
    assert seen["gateways"] == [[GATEWAY_SID, GW_ADDR, proto]]
    assert len(seen["devices"]) == 8 and GATEWAY_SID in seen["devices"]
    assert seen["plug_report"] is True  # write → report by multicast across the veth
    assert seen["alive"] is True
    assert seen["stats"]["heartbeats"] >= 2
    # Heartbeats that arrive while the gateway is still being discovered are dropped as
    # foreign; nothing else is.
    dropped = {k: v for k, v in seen["stats"].items() if k.startswith("dropped_") and v}
    assert set(dropped) <= {"dropped_foreign_sender"}
    assert gateway.returncode == 0
