"""The ``mihomekit qr`` sub-command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

import mihomekit.setupcode as setupcode
from mihomekit.commands import qr as qrcmd
from mihomekit.commands import run as runcmd
from mihomekit.errors import ConfigError


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mihomekit")
    subparsers = parser.add_subparsers(dest="command")
    qrcmd.register(subparsers)
    args = parser.parse_args(argv)
    assert args.func is qrcmd.run_qr
    result: int = args.func(args)
    return result


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["qr", "--mac", "B8:27:EB:12:34:56", "--json"]) == 0
    out, err = capsys.readouterr()
    assert (
        out == '{"setup_code": "182-11-234", "setup_id": "MI32", "uri": "X-HM://0023RRVZ6MI32"}\n'
    )
    assert err == ""


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["qr", "--mac", "24:6f:28:12:34:56"]) == 0
    out, _ = capsys.readouterr()
    assert "Setup code: 246-28-234" in out
    assert "Setup ID:   MI32" in out
    assert "Setup URI:  X-HM://0023VLFD6MI32" in out
    assert "24:6F:28:12:34:56" in out
    assert "Note" not in out
    assert setupcode.qr_terminal("X-HM://0023VLFD6MI32") in out


def test_svg_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "bridge.svg"
    assert _run(["qr", "--mac", "B8:27:EB:12:34:56", "--json", "--svg", str(target)]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out)["uri"] == "X-HM://0023RRVZ6MI32"
    content = target.read_text(encoding="utf-8")
    assert "<svg" in content
    assert "</svg>" in content


def test_changed_code_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["qr", "--mac", "AA:BB:CC:DD:EE:FF"]) == 0
    out, _ = capsys.readouterr()
    assert "Setup code: 111-11-788" in out
    assert "Note:" in out
    assert "111-11-111" in out
    assert "all eight digits are equal" in out

    assert _run(["qr", "--mac", "AA:BB:CC:DD:EE:FF", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "setup_code": "111-11-788",
        "setup_id": "MI32",
        "uri": setupcode.setup_uri("111-11-788"),
    }
    assert out.count("\n") == 1
    assert "111-11-111" in err


def test_settings_code_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mihomekit.toml"
    path.write_text('[bridge]\nsetup_code = "03145154"\n', encoding="utf-8")
    assert _run(["qr", "--settings", str(path), "--json"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out) == {
        "setup_code": "031-45-154",
        "setup_id": "MI32",
        "uri": "X-HM://0023ISYWYMI32",
    }
    assert _run(["qr", "--settings", str(path), "--mac", "B8:27:EB:12:34:56"]) == 0
    out, _ = capsys.readouterr()
    assert "Setup code: 031-45-154" in out
    assert "--mac is ignored" in out


def test_the_default_settings_file_is_read_as_run_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under systemd the bridge reads /etc/mihomekit/mihomekit.toml: `sudo mihomekit qr`
    without --settings shows the code of those settings too."""
    path = tmp_path / "mihomekit.toml"
    path.write_text('[bridge]\nsetup_code = "03145154"\n', encoding="utf-8")
    monkeypatch.setattr(runcmd, "DEFAULT_SETTINGS_PATH", str(path))
    assert _run(["qr", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["setup_code"] == "031-45-154"
    monkeypatch.setattr(runcmd, "DEFAULT_SETTINGS_PATH", str(tmp_path / "missing.toml"))
    assert _run(["qr", "--mac", "B8:27:EB:12:34:56", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["setup_code"] == "182-11-234"


def test_settings_mac_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mihomekit.toml"
    path.write_text('[bridge]\nmac = "DC:A6:32:AB:CD:EF"\n', encoding="utf-8")
    assert _run(["qr", "--settings", str(path), "--json"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out)["setup_code"] == "111-32-111"
    # --mac beats the settings' MAC
    assert _run(["qr", "--settings", str(path), "--mac", "B8:27:EB:12:34:56", "--json"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out)["setup_code"] == "182-11-234"


def test_host_mac_fallback_uses_bridge_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str | None] = []

    def fake_host_mac(address: str | None = None) -> str | None:
        seen.append(address)
        return "B8:27:EB:12:34:56"

    monkeypatch.setattr(setupcode, "host_mac", fake_host_mac)
    path = tmp_path / "mihomekit.toml"
    path.write_text('[bridge]\naddress = "192.168.1.20"\n', encoding="utf-8")
    assert _run(["qr", "--settings", str(path), "--json"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out)["setup_code"] == "182-11-234"
    assert seen == ["192.168.1.20"]


def test_no_host_mac_uses_the_persisted_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(setupcode, "host_mac", lambda address=None: None)
    state = tmp_path / "state"
    assert _run(["qr", "--state-dir", str(state), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    saved = json.loads((state / "bridge.json").read_text())
    code, _ = setupcode.valid_setup_code_from_mac(saved["device_id"])
    assert first["setup_code"] == code
    assert _run(["qr", "--state-dir", str(state)]) == 0
    out, _ = capsys.readouterr()
    assert f"Setup code: {code}" in out
    assert f"the bridge's own id {saved['device_id']}" in out


def test_bad_mac_and_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--mac"):
        _run(["qr", "--mac", "B8:27:EB"])
    path = tmp_path / "bad.toml"
    path.write_text("[bridge]\nport = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bridge\.port: expected an integer"):
        _run(["qr", "--settings", str(path), "--mac", "B8:27:EB:12:34:56"])
