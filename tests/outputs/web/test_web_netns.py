"""The dashboard of an unpaired bridge, read from another host on a simulated LAN.

Two network namespaces joined by a veth pair: the bridge (``mihomekit run`` with the
dashboard, no password) in one, a client in the other. The client reads every page and
the live stream: the setup code and the setup URI are nowhere, the pairing page says how
to get them, a foreign ``Host`` header gets 4xx and a change is refused. On the bridge's
own host the code is there. Needs root (``ip netns``); CI runs as root.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from homekit_helpers import ready_line
from netns import veth_namespaces
from repo import HELPERS, ROOT
from run_helpers import DEMO, popen, run_args, stop

CLIENT = str(HELPERS / "netns_web_client.py")
# TEST-NET-3 addresses (RFC 5737): they exist only inside the two namespaces.
BRIDGE_ADDR, CLIENT_ADDR = "203.0.113.1", "203.0.113.2"
WEB_PORT = 8089
SETUP_CODE = "182-11-234"  # from SETUP_MAC

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    with veth_namespaces(
        "web", ("veth-wb", f"{BRIDGE_ADDR}/24"), ("veth-wc", f"{CLIENT_ADDR}/24")
    ) as names:
        yield names


def _in(namespace: str) -> list[str]:
    return ["ip", "netns", "exec", namespace]


def test_another_host_never_sees_the_setup_code(
    namespaces: tuple[str, str], tmp_path: Path
) -> None:
    bridge_ns, client_ns = namespaces
    args = run_args(tmp_path / "state", port=51827, address=BRIDGE_ADDR)
    replay = ["--replay", str(DEMO / "recording.jsonl"), "--replay-speed", "0"]
    bridge = popen(*args, *replay, "--web-port", str(WEB_PORT), prefix=_in(bridge_ns))
    try:
        line = ready_line(bridge)
        assert f"setup code {SETUP_CODE}, pairing open until" in line, line  # the terminal
        assert bridge.stdout is not None
        while "Mi Dashboard:" not in line:
            line = bridge.stdout.readline()
            assert line, "the dashboard did not start"
        base = f"http://{BRIDGE_ADDR}:{WEB_PORT}"
        client = subprocess.run(
            [*_in(client_ns), sys.executable, CLIENT, base],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert client.returncode == 0, client.stderr[-3000:]
        result = json.loads(client.stdout)
        secrets = (SETUP_CODE, SETUP_CODE.replace("-", ""), "X-HM://", "setup-code")
        for path, (status, body) in ((k, v) for k, v in result.items() if isinstance(v, list)):
            assert status < 500, (path, status)
            for secret in secrets:
                assert secret not in body, (path, secret)
        status, pairing = result["/pairing"]
        assert status == 200
        assert "mihomekit qr" in pairing and "shown only to the owner" in pairing
        assert "Pairing is open until" in pairing
        assert 'action="/pairing/open"' not in pairing  # no button for a stranger
        assert result["/devices/export"][0] == 403
        assert 400 <= result["foreign_host"] < 500
        assert result["open"] == 403

        # On the bridge's own host (no password set), the owner sees the code: a browser
        # there opens the dashboard by the address it listens on.
        own = subprocess.run(
            [
                *_in(bridge_ns),
                sys.executable,
                "-c",
                "import urllib.request,sys;"
                "print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())",
                f"{base}/pairing",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert own.returncode == 0, own.stderr[-2000:]
        assert f'setup-code">{SETUP_CODE}' in own.stdout
        assert "X-HM://" in own.stdout
    finally:
        stop(bridge)
