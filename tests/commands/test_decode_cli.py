"""``mihomekit decode``: one packet from the command line, or JSON lines on stdin."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from repo import ROOT as REPO
from vectors import args, mibeacon_vectors, vector_by_id

from mihomekit import decode_advertisement
from mihomekit.commands import decode as decodecmd

LYWSDCGQ = vector_by_id("ble_monitor-001")  # plain 0x100D
LYWSD02MMC = vector_by_id("xiaomi-ble-018")  # AES-CCM, needs its key
DIMMER = vector_by_id("xiaomi-ble-069")  # legacy, needs its 24-digit key

#: Runs the sub-command through a parser of its own (independent of the other commands).
DRIVER = (
    "import argparse, sys\n"
    "from mihomekit.commands import decode as decodecmd\n"
    "parser = argparse.ArgumentParser(prog='mihomekit')\n"
    "decodecmd.register(parser.add_subparsers())\n"
    "ns = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(ns.func(ns))\n"
)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[Any]]:
    parser = argparse.ArgumentParser(prog="mihomekit")
    decodecmd.register(parser.add_subparsers())
    ns = parser.parse_args(["decode", *argv])
    code = ns.func(ns)
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines()]


def _expected(v: dict[str, Any], with_key: bool = True) -> dict[str, Any]:
    mac, uuid, data, key = args(v)
    return decode_advertisement(mac, uuid, data, key if with_key else None).to_json()


def test_single_packet(capsys: pytest.CaptureFixture[str]) -> None:
    v = LYWSDCGQ
    code, out = _run(["--mac", v["mac"], "--uuid", "fe95", "--data", v["data_hex"]], capsys)
    assert code == 0
    assert out == [
        {
            "ok": True,
            "pid": 0x01AA,
            "model": "LYWSDCGQ",
            "values": {"temperature": 25.4, "humidity": 58.4},
            "events": [],
            "error": None,
        }
    ]


def test_single_encrypted_packet_with_key(capsys: pytest.CaptureFixture[str]) -> None:
    v = LYWSD02MMC
    argv = ["--mac", v["mac"], "--uuid", "0xFE95", "--data", v["data_hex"]]
    code, out = _run([*argv, "--key", v["bindkey_hex"]], capsys)
    assert (code, out) == (0, [_expected(v)])
    assert out[0]["values"] == {"humidity": 58}
    code, out = _run(argv, capsys)
    assert code == 1
    assert out == [_expected(v, with_key=False)]
    assert out[0]["error"] == "encrypted frame: no key given" and out[0]["model"] == "LYWSD02MMC"


def test_single_legacy_packet_events(capsys: pytest.CaptureFixture[str]) -> None:
    v = DIMMER
    argv = ["--mac", v["mac"], "--data", v["data_hex"], "--key", v["bindkey_hex"]]
    code, out = _run(argv, capsys)
    assert code == 0
    assert out[0]["events"] == [{"event": "rotate_left", "button": 1, "steps": 1}]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--mac", "A4:C1:38:12:34:56", "--data", "zz"], "data is not valid hex"),
        (["--mac", "A4:C1:38:12:34:56", "--data", "50", "--key", "0q"], "key is not valid hex"),
        (["--mac", "nope", "--data", "5020"], "invalid MAC address 'nope'"),
        (["--data", "5020"], "missing or invalid 'mac'"),
        (["--mac", "A4:C1:38:12:34:56", "--uuid", "xyz", "--data", "50"], "invalid service uuid"),
        (["--mac", "A4:C1:38:12:34:56", "--uuid", "1234", "--data", "50"], "unsupported service"),
        (["--mac", "A4:C1:38:12:34:56"], "--mac and --key need --data"),
    ],
)
def test_single_packet_errors(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(argv, capsys)
    assert code == 1
    assert len(out) == 1 and out[0]["ok"] is False and out[0]["values"] == {}
    assert error in out[0]["error"]


def test_stream(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    good = LYWSDCGQ
    enc = LYWSD02MMC
    lines = [
        json.dumps({"mac": good["mac"], "uuid": "fe95", "data": good["data_hex"]}),
        "",
        "   ",
        "{not json",
        "[1, 2]",
        '"a string"',
        json.dumps({"mac": good["mac"], "uuid": "fe95"}),
        json.dumps({"uuid": "fe95", "data": good["data_hex"]}),
        json.dumps({"mac": good["mac"], "uuid": "fe95", "data": "xyz"}),
        json.dumps({"mac": good["mac"], "uuid": "fe95", "data": 12}),
        json.dumps({"mac": enc["mac"], "uuid": 0xFE95, "data": enc["data_hex"], "key": None}),
        json.dumps(
            {"mac": enc["mac"], "uuid": "0xfe95", "data": enc["data_hex"], "key": "00" * 16}
        ),
        json.dumps(
            {"mac": enc["mac"], "uuid": "FE95", "data": enc["data_hex"], "key": enc["bindkey_hex"]}
        ),
        json.dumps({"mac": good["mac"], "uuid": "fe95", "data": good["data_hex"][:22]}),
        json.dumps(
            {
                "mac": good["mac"],
                "uuid": "0000fe95-0000-1000-8000-00805f9b34fb",
                "data": good["data_hex"],
            }
        ),
        json.dumps({"mac": good["mac"], "uuid": True, "data": good["data_hex"]}),
        "[" * 100000,
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out = _run([], capsys)
    assert code == 0
    errors = [o["error"] for o in out]
    assert len(out) == len(lines) - 2
    assert out[0] == _expected(good)
    assert errors[1].startswith("invalid JSON")
    assert errors[2:4] == ["each line must be a JSON object"] * 2
    assert errors[4] == "missing 'data'"
    assert errors[5] == "missing or invalid 'mac'"
    assert errors[6] == "data is not valid hex"
    assert errors[7] == "data must be a hex string"
    assert errors[8] == "encrypted frame: no key given"
    assert errors[9] == "MIC mismatch: wrong key or damaged frame"
    assert out[10] == _expected(enc) and out[10]["ok"]
    assert errors[11] == "MiBeacon object area too short (0 bytes)"
    assert out[12] == out[0]
    assert errors[13] == "invalid service uuid True"
    assert out[14]["ok"] is False and out[14]["error"]
    for o in out:
        assert set(o) == {"ok", "pid", "model", "values", "events", "error"}
        assert o["ok"] == (o["error"] is None)


def test_stream_of_every_real_vector(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    vectors = mibeacon_vectors()
    lines = [
        json.dumps(
            {
                "mac": v["mac"],
                "uuid": v["service_uuid"],
                "data": v["data_hex"],
                "key": v["bindkey_hex"],
            }
        )
        for v in vectors
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines)))
    code, out = _run([], capsys)
    assert code == 0
    assert out == [_expected(v) for v in vectors]


def test_real_process_with_hostile_stdin() -> None:
    """A real pipe: undecodable bytes and garbage give error lines, never a traceback."""
    v = LYWSDCGQ
    good = json.dumps({"mac": v["mac"], "uuid": "fe95", "data": v["data_hex"]}).encode()
    stdin = b"\n".join([good, b"\xff\xfe{\x00}", b"null", b"{}", good, b""])
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, "decode"],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(out) == 5
    assert out[0] == out[4] == _expected(v)
    assert [o["ok"] for o in out] == [True, False, False, False, True]


def test_real_process_single_packet_exit_codes() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    v = LYWSD02MMC

    def run(*extra: str) -> tuple[int, dict[str, Any]]:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                DRIVER,
                "decode",
                "--mac",
                v["mac"],
                "--data",
                v["data_hex"],
                *extra,
            ],
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert proc.stderr == b""
        (line,) = proc.stdout.decode().splitlines()
        return proc.returncode, json.loads(line)

    assert run("--key", v["bindkey_hex"]) == (0, _expected(v))
    code, out = run("--key", "11" * 16)
    assert code == 1 and out["error"] == "MIC mismatch: wrong key or damaged frame"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("fe95", 0xFE95),
        ("0xFE95", 0xFE95),
        (" 181a ", 0x181A),
        ("0000fcd2-0000-1000-8000-00805f9b34fb", 0xFCD2),
        (0xFDCD, 0xFDCD),
        ("", None),
        ("fe955", None),
        ("-1", None),
        (-1, None),
        (0x10000, None),
        (None, None),
        (1.5, None),
        (False, None),
    ],
)
def test_parse_uuid(text: object, value: int | None) -> None:
    assert decodecmd.parse_uuid(text) == value
