"""``mihomekit gateway …`` and ``mihomekit miio …`` through real sockets on 127.0.0.x."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from gateway_helpers import (
    CLIENT_HOST,
    GATEWAY_HOST,
    GATEWAY_SID,
    MIIO_HOST,
    run_cli,
    simulators_in_thread,
)
from repo import ROOT

from mihomekit.sources.gateway.simulator import GatewaySimulator
from mihomekit.sources.miio.simulator import MiioSimulator

TOKEN = "00112233445566778899aabbccddeeff"
MIHOMEKIT = (sys.executable, "-m", "mihomekit")
QUICK_FAIL = ("--token", TOKEN, "--port", "9", "--timeout", "0.1")


def _gateway(proto: int, **kwargs: object) -> GatewaySimulator:
    options: dict[str, object] = {
        "proto": proto,
        "host": GATEWAY_HOST,
        "port": 0,
        "discovery_port": 0,
        "heartbeat_interval": None,
    }
    options.update(kwargs)
    return GatewaySimulator(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("proto", [1, 2])
def test_gateway_list_unicast_json(proto: int) -> None:
    sim = _gateway(proto)
    with simulators_in_thread(sim):
        result = run_cli("gateway", "list", "--gateway", f"{GATEWAY_HOST}:{sim.port}", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    [gateway] = data["gateways"]
    assert gateway["sid"] == GATEWAY_SID and gateway["ip"] == GATEWAY_HOST
    assert gateway["proto"] == proto and gateway["model"] == sim.model
    devices = {d["sid"]: d for d in gateway["devices"]}
    assert set(devices) == set(sim.devices)
    weather = devices["158d0001000003"]
    assert weather["model"] == ("weather.v1" if proto == 1 else "weather")
    assert weather["values"]["temperature"] == 23.33
    assert devices["158d0001000005"]["values"] == {"power": False, "power_2": False}


def test_gateway_list_multicast_text() -> None:
    sim = _gateway(1, multicast_interface=CLIENT_HOST)
    with simulators_in_thread(sim):
        result = run_cli(
            "gateway",
            "list",
            "--interface",
            CLIENT_HOST,
            "--discovery-port",
            str(sim.discovery_port),
            "--timeout",
            "0.4",
        )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith(f"gateway {GATEWAY_SID}  gateway  protocol v1  {GATEWAY_HOST}:")
    assert any("158d0001000001  magnet" in line and "opening=False" in line for line in lines)
    assert len(lines) == 1 + len(sim.devices)


def test_gateway_list_nothing_found() -> None:
    result = run_cli(
        "gateway", "list", "--interface", CLIENT_HOST, "--discovery-port", "9", "--timeout", "0.2"
    )
    assert result.code == 1
    assert "no gateway answered the multicast whois on 127.0.0.1" in result.err


def test_gateway_list_unreachable_host() -> None:
    result = run_cli("gateway", "list", "--gateway", "127.0.0.4:9", "--timeout", "0.2")
    assert result.code == 1 and "no answer from gateway 127.0.0.4:9" in result.err


def test_gateway_key_read_and_set() -> None:
    sim = MiioSimulator(TOKEN, host=MIIO_HOST, port=0, password="0987654321qwerty")
    with simulators_in_thread(sim):
        port = str(sim.port)
        read = run_cli("gateway", "key", MIIO_HOST, "--token", TOKEN, "--port", port)
        assert (read.code, read.out) == (0, "0987654321qwerty\n")
        new = "abcdefgh12345678"
        key_args = ("gateway", "key", MIIO_HOST, "--token", TOKEN, "--port", port)
        changed = run_cli(*key_args, "--set", new)
        assert (changed.code, changed.out) == (0, "abcdefgh12345678\n")
        assert sim.password == "abcdefgh12345678"
        bad = run_cli("gateway", "key", MIIO_HOST, "--token", TOKEN, "--port", port, "--set", "x")
        assert bad.code == 1 and "16 printable ASCII" in bad.err
        wrong = run_cli(
            "gateway", "key", MIIO_HOST, "--token", "ff" * 16, "--port", port, "--timeout", "0.1"
        )
        assert wrong.code == 1 and f"no answer from {MIIO_HOST}" in wrong.err


def test_gateway_key_not_set() -> None:
    sim = MiioSimulator(TOKEN, host=MIIO_HOST, port=0, password="")
    with simulators_in_thread(sim):
        result = run_cli("gateway", "key", MIIO_HOST, "--token", TOKEN, "--port", str(sim.port))
    assert result.code == 1 and "no LAN password set" in result.err


def test_miio_discover_and_call() -> None:
    sim = MiioSimulator(TOKEN, host=MIIO_HOST, port=0)
    with simulators_in_thread(sim):
        port = str(sim.port)
        found = run_cli(
            "miio", "discover", "--interface", MIIO_HOST, "--port", port, "--timeout", "0.3"
        )
        assert found.code == 0
        assert found.out.startswith(f"{MIIO_HOST}  did {sim.did}  stamp ")
        assert "token not revealed" in found.out
        info = run_cli("miio", "call", MIIO_HOST, "--token", TOKEN, "miIO.info", "--port", port)
        assert info.code == 0 and json.loads(info.out)["model"] == "lumi.gateway.v3"
        devices = run_cli(
            "miio",
            "call",
            MIIO_HOST,
            "--token",
            TOKEN,
            "get_device_prop",
            '["lumi.0", "device_list"]',
            "--port",
            port,
        )
        assert devices.code == 0 and json.loads(devices.out)[0] == "lumi.158d0001000001"
        unknown = run_cli("miio", "call", MIIO_HOST, "--token", TOKEN, "nope", "--port", port)
        assert unknown.code == 1 and "error -32601: Method not found." in unknown.err
        bad = run_cli("miio", "call", MIIO_HOST, "--token", TOKEN, "x", "{oops", "--port", port)
        assert bad.code == 1 and "PARAMS is not JSON" in bad.err


def test_commands_without_subcommand_show_help() -> None:
    assert run_cli("gateway").code == 2
    assert run_cli("miio").code == 2


def test_real_entry_point_prints_errors_without_traceback() -> None:
    """``python -m mihomekit`` wires the commands and prints errors in one line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    sim = MiioSimulator(TOKEN, host=MIIO_HOST, port=0, password="0987654321qwerty")
    with simulators_in_thread(sim):
        ok = subprocess.run(
            [*MIHOMEKIT, "gateway", "key", MIIO_HOST, "--token", TOKEN, "--port", str(sim.port)],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
    assert (ok.returncode, ok.stdout) == (0, "0987654321qwerty\n"), ok.stderr
    failed = subprocess.run(
        [*MIHOMEKIT, "miio", "call", "127.0.0.4", "miIO.info", *QUICK_FAIL],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().startswith("mihomekit: no answer from 127.0.0.4")
    assert "Traceback" not in failed.stderr
