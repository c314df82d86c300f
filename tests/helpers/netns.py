"""Network namespaces for tests: two namespaces joined by a veth pair, deleted afterwards.

Needs root and iproute2; without them the test fails with a clear message (CI runs as
root). Addresses exist only inside the namespaces, so nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"


@contextmanager
def veth_namespaces(
    name: str,
    left: tuple[str, str],
    right: tuple[str, str],
    *,
    multicast_route: bool = False,
) -> Iterator[tuple[str, str]]:
    """Namespaces ``mhk-<name>a-<pid>`` and ``mhk-<name>b-<pid>``.

    ``left``/``right`` are ``(device name, address/prefix)`` of each veth end. With
    ``multicast_route`` each side also routes 224.0.0.0/4 to its veth (for programs that
    send multicast without choosing an interface).
    """
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise AssertionError(
            "this test needs root and iproute2 (ip netns) to create network namespaces; "
            "run the suite as root, as CI does"
        )
    ns_a, ns_b = f"mhk-{name}a-{os.getpid()}", f"mhk-{name}b-{os.getpid()}"
    (dev_a, addr_a), (dev_b, addr_b) = left, right
    try:
        ip("netns", "add", ns_a)
        ip("netns", "add", ns_b)
        ip(
            "link",
            "add",
            dev_a,
            "netns",
            ns_a,
            "type",
            "veth",
            "peer",
            "name",
            dev_b,
            "netns",
            ns_b,
        )
        ip("-n", ns_a, "addr", "add", addr_a, "dev", dev_a)
        ip("-n", ns_b, "addr", "add", addr_b, "dev", dev_b)
        for ns, dev in ((ns_a, dev_a), (ns_b, dev_b)):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", dev, "up")
            if multicast_route:
                ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        yield ns_a, ns_b
    finally:
        for ns in (ns_a, ns_b):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=10)
