"""Real multicast between two network namespaces joined by a veth pair.

The gateway simulator runs in one namespace (169.254.98.1), the adapter in the other
(169.254.98.2), with the default ports and group. The link-local addresses exist only
inside the namespaces, which the test creates and deletes: nothing leaves the machine.
Needs root (``ip netns``); CI runs as root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from gateway_helpers import GATEWAY_SID
from netns import veth_namespaces
from repo import HELPERS, ROOT

HELPER = str(HELPERS / "gateway_netns_helper.py")
GW_ADDR, CL_ADDR = "169.254.98.1", "169.254.98.2"


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """Two namespaces with a veth pair and a multicast route on each side."""
    with veth_namespaces(
        "gw", ("veth-gw", f"{GW_ADDR}/24"), ("veth-cl", f"{CL_ADDR}/24"), multicast_route=True
    ) as names:
        yield names


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
