"""``mihomekit key``: Tasmota's MI32Key form into the mi32cfg."""

from __future__ import annotations

from pathlib import Path

import pytest

from mihomekit.cli import main
from mihomekit.mi32cfg import DeviceEntry, load_mi32cfg, save_mi32cfg

KEY = "00112233445566778899AABBCCDDEEFF"


def test_key_sets_the_key_of_a_listed_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mi32cfg"
    save_mi32cfg(path, [DeviceEntry("A4C138123456", 0x055B, None, name="Hall", feat=0)])
    assert main(["key", KEY.lower() + "a4c138123456", "--config", str(path)]) == 0
    assert load_mi32cfg(path) == [
        DeviceEntry("A4C138123456", 0x055B, bytes.fromhex(KEY), name="Hall", feat=0)
    ]
    assert capsys.readouterr().out == f"key of A4:C1:38:12:34:56 set in {path}\n"
    assert main(["key", KEY + "A4C138123456", "--config", str(path)]) == 0
    assert "already had this key" in capsys.readouterr().out


def test_key_adds_a_new_device_with_its_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mi32cfg"
    args = ["key", KEY + "A4C138000002", "--config", str(path), "--model", "LYWSD02"]
    assert main(args) == 0
    assert load_mi32cfg(path) == [DeviceEntry("A4C138000002", 0x045B, bytes.fromhex(KEY))]
    assert main(["key", KEY + "A4C138000003", "--config", str(path), "--model", "0x0387"]) == 0
    assert load_mi32cfg(path)[-1].pid == 0x0387
    assert "added A4:C1:38:00:00:03 with its key" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([KEY + "A4C138000009"], "not in"),
        ([KEY + "A4C1380000"], "44 hex digits"),
        ([KEY + "A4C138000009", "--model", "NOPE"], "not a known model"),
    ],
)
def test_key_failures_are_one_line_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    path = tmp_path / "mi32cfg"
    save_mi32cfg(path, [DeviceEntry("A4C138123456", 0x055B, None)])
    before = path.read_bytes()
    assert main(["key", *args, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err
    assert path.read_bytes() == before


def test_key_without_a_mi32cfg_writes_the_state_directorys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(f'[bridge]\nstate_dir = "{tmp_path}/state"\n')
    args = ["key", KEY + "A4C138000002", "--settings", str(settings), "--model", "LYWSD03MMC"]
    assert main(args) == 0
    assert load_mi32cfg(tmp_path / "state" / "mi32cfg")[0].key == bytes.fromhex(KEY)
