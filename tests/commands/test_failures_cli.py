"""How ``mihomekit run`` fails: one line on stderr, its own exit status, nothing overwritten.

Real processes on 127.0.0.1; the read-only and full-disk cases use a small tmpfs (root).
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from homekit_helpers import free_port, ready_line
from run_helpers import (
    fill,
    hap_state,
    remount_read_only,
    run,
    run_args,
    running,
    snapshot,
    stop,
    tmpfs,
    write_hap_state,
)

from mihomekit.errors import (
    EXIT_CONFIG,
    EXIT_NOTHING_TO_BRIDGE,
    EXIT_PORT_IN_USE,
    EXIT_STATE_NOT_WRITABLE,
    EXIT_STATE_UNREADABLE,
)

DEVICE_ID = "1A:2B:3C:4D:5E:6F"


def _args(state: Path, port: int | None = None, *, config: bool = True) -> list[str]:
    return run_args(state, port=port, demo_config=config)


def _one_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("mihomekit: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line: no traceback, no log
    for needle in needles:
        assert needle in result.stderr, result.stderr


def _files(state: Path) -> dict[str, tuple[bytes, int]]:
    """The two state files: content and modification time (a rewrite changes it)."""
    out = {}
    for name in ("bridge.json", "accessory.state"):
        path = state / name
        if path.exists():
            out[name] = (path.read_bytes(), path.stat().st_mtime_ns)
    return out


def _valid_state(state: Path) -> None:
    """A state directory as a paired bridge leaves it."""
    write_hap_state(state, hap_state(DEVICE_ID, paired=1))
    (state / "bridge.json").write_text(
        json.dumps({"version": 1, "device_id": DEVICE_ID, "next_aid": 2, "aids": {}})
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mac": 5}, "mac"),
        ({"mac": "not a device id"}, "mac"),
        ({"paired_clients": []}, "paired_clients"),
        ({"paired_clients": {"not-a-uuid": "00" * 32}}, "paired_clients"),
        ({"paired_clients": {"5f2b6c43-8c3e-4a51-9b7e-1c0a0e1f2a3b": "00" * 5}}, "paired_clients"),
        ({"private_key": 123}, "private_key"),
        ({"public_key": "zz"}, "public_key"),
        ({"config_version": "2"}, "config_version"),
        ({"client_properties": {"5f2b6c43-8c3e-4a51-9b7e-1c0a0e1f2a3b": 1}}, "client_properties"),
        ({"client_uuid_to_bytes": {"5f2b6c43-8c3e-4a51-9b7e-1c0a0e1f2a3b": 7}}, "client_uuid"),
        ({"accessories_hash": 42}, "accessories_hash"),
    ],
)
def test_wrongly_typed_pairing_state(tmp_path: Path, change: dict[str, object], field: str) -> None:
    state = tmp_path / "state"
    document = hap_state(DEVICE_ID, paired=1)
    document.update(change)
    text = write_hap_state(state, document)
    result = run(*_args(state))
    _one_line(result, EXIT_STATE_UNREADABLE, "pairing state", field, "restore it from a backup")
    assert (state / "accessory.state").read_text() == text
    assert not (state / "bridge.json").exists()


def test_pairing_state_that_is_not_json(tmp_path: Path) -> None:
    state = tmp_path / "state"
    text = write_hap_state(state, '{"mac": "1A:2B:3C:4D:5E:6F", "paired_clients": {')
    result = run(*_args(state))
    _one_line(result, EXIT_STATE_UNREADABLE, f"pairing state {state / 'accessory.state'}")
    assert (state / "accessory.state").read_text() == text


def test_corrupt_bridge_json(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "bridge.json").write_text('{"aids": {"A": "two"}}')
    result = run(*_args(state))
    _one_line(result, EXIT_STATE_UNREADABLE, "is corrupted", "bridge.json")
    assert (state / "bridge.json").read_text() == '{"aids": {"A": "two"}}'
    assert not (state / "accessory.state").exists()


def test_read_only_state_directory(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt") as mount:
        state = mount / "state"
        _valid_state(state)
        before = snapshot(state)
        remount_read_only(mount)
        result = run(*_args(state))
        _one_line(result, EXIT_STATE_NOT_WRITABLE, f"the state directory {state} is not writable")
        assert "Read-only file system" in result.stderr
        assert snapshot(state) == before


def test_state_directory_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    result = run(*_args(tmp_path / "file" / "state"))
    _one_line(result, EXIT_STATE_NOT_WRITABLE, "is not writable", "Not a directory")


def test_full_disk(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", size="64k") as mount:
        state = mount / "state"
        _valid_state(state)
        before = snapshot(state)
        fill(mount)
        result = run(*_args(state))
        _one_line(
            result,
            EXIT_STATE_NOT_WRITABLE,
            f"disk full: cannot write to the state directory {state}",
            "No space left on device",
        )
        assert snapshot(state) == before
        assert sorted(p.name for p in state.iterdir()) == ["accessory.state", "bridge.json"]


def test_port_in_use_leaves_the_state_alone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    with running(*_args(state, port)) as first:
        assert "setup code" in ready_line(first)
        stop(first)
    before = _files(state)
    assert set(before) == {"bridge.json", "accessory.state"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = run(*_args(state, port))
    _one_line(result, EXIT_PORT_IN_USE, f"127.0.0.1:{port}: the port is in use", "--port")
    assert _files(state) == before  # not even rewritten with the same content


def test_bad_settings(tmp_path: Path) -> None:
    settings = tmp_path / "mihomekit.toml"
    settings.write_text("[bridge]\nport = 'x'\n")
    result = run(*_args(tmp_path / "state"), "--settings", str(settings))
    _one_line(result, EXIT_CONFIG, "bridge.port: expected an integer")
    assert not (tmp_path / "state").exists()


def test_nothing_to_bridge(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = run(*_args(state, config=False), cwd=tmp_path)
    _one_line(
        result,
        EXIT_NOTHING_TO_BRIDGE,
        "nothing to bridge: no mi32cfg found (looked for mi32cfg,",
        "gateways are off",
        "mihomekit scan --write mi32cfg",
        "mihomekit run --demo",
    )
    assert not (state / "accessory.state").exists()  # never offered to HomeKit


def test_mi32cfg_without_a_bridgeable_device(tmp_path: Path) -> None:
    config = tmp_path / "mi32cfg"
    config.write_text('[{"MAC":"A4C138AABBCC","PID":"ffff","key":""}]')
    result = run(*_args(tmp_path / "state", config=False), "--config", str(config))
    assert result.returncode == EXIT_NOTHING_TO_BRIDGE, result.stderr
    assert f"nothing to bridge: {config} lists no device mihomekit can bridge" in result.stderr
    assert "Traceback" not in result.stderr


def test_nothing_to_bridge_when_no_gateway_answers(tmp_path: Path) -> None:
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(
        "[gateway]\n"
        "discover = true\n"
        'interface = "127.0.0.1"\n'
        f"discovery_port = {free_port()}\n"
        f"report_port = {free_port()}\n"
    )
    args = run_args(tmp_path / "state", demo_config=False, gateway=True)
    result = run(*args, "--settings", str(settings), cwd=tmp_path)
    _one_line(
        result,
        EXIT_NOTHING_TO_BRIDGE,
        "no gateway reported a device within 10 s",
        "[[gateway.gateways]]",
    )
    assert not (tmp_path / "state" / "accessory.state").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--port", "99999"], "--port: 99999 is not a port"),
        (["run", "--web-port", "70000"], "--web-port: 70000 is not a port"),
        (["run", "--port", "http"], "--port: 'http' is not a port number"),
        (["relay", "--mqtt-host", "127.0.0.1", "--mqtt-port", "0"], "--mqtt-port: 0 is not"),
        (["run", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
)
def test_bad_options_are_one_line(args: list[str], needle: str) -> None:
    result = run(*args, timeout=30)
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # no usage block, no traceback
    assert needle in result.stderr and "--help" in result.stderr, result.stderr
