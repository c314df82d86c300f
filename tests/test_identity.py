"""A stable identity: the same setup code and SerialNumber on every start, in run and qr.

The no-MAC cases run real processes in a network namespace with loopback only (root),
where the code comes from the bridge's persisted device id.
"""

from __future__ import annotations

import json
from pathlib import Path

from homekit_helpers import free_port, ready_line
from run_helpers import (
    hap_state,
    no_mac_prefix,
    run,
    run_args,
    running,
    stop,
    write_hap_state,
)

from mihomekit.app import App, AppConfig
from mihomekit.demo import demo_entries
from mihomekit.setupcode import is_valid_setup_code, valid_setup_code_from_mac


def _start_and_stop(args: list[str], prefix: list[str] | None = None) -> str:
    """Start ``mihomekit run``, return its ready line, stop it (exit 0)."""
    with running(*args, prefix=prefix or []) as proc:
        line = ready_line(proc)
        stop(proc)
    return line


def _qr_code(state: Path, *extra: str, prefix: list[str] | None = None) -> str:
    result = run("qr", "--state-dir", str(state), "--json", *extra, prefix=prefix or [])
    assert result.returncode == 0, result.stderr
    code: str = json.loads(result.stdout)["setup_code"]
    return code


def test_without_host_mac_qr_and_three_starts_show_one_code(tmp_path: Path) -> None:
    prefix = no_mac_prefix()
    state = tmp_path / "state"
    before_first_start = _qr_code(state, prefix=prefix)
    device_id = json.loads((state / "bridge.json").read_text())["device_id"]
    assert before_first_start == valid_setup_code_from_mac(device_id)[0]
    lines = [_start_and_stop(run_args(state, mac=None), prefix) for _ in range(3)]
    for line in lines:
        assert f"setup code {before_first_start}" in line, line
    hap = json.loads((state / "accessory.state").read_text())
    assert hap["mac"] == device_id  # HAP-python keeps the id it was given
    assert json.loads((state / "bridge.json").read_text())["device_id"] == device_id
    assert _qr_code(state, prefix=prefix) == before_first_start


def test_host_mac_is_used_where_there_is_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    line = _start_and_stop(run_args(state))
    assert "setup code 182-11-234" in line
    assert _qr_code(state, "--mac", "B8:27:EB:12:34:56") == "182-11-234"


def test_an_existing_pairing_keeps_its_device_id(tmp_path: Path) -> None:
    """A state from before bridge.json kept the id: accessory.state's mac is the identity."""
    state = tmp_path / "state"
    write_hap_state(state, hap_state("2E:11:22:33:44:55"))
    code = _qr_code(state, prefix=no_mac_prefix())
    assert code == valid_setup_code_from_mac("2E:11:22:33:44:55")[0]
    assert json.loads((state / "bridge.json").read_text())["device_id"] == "2E:11:22:33:44:55"


def test_random_code_is_made_once_and_shared_by_qr_and_run(tmp_path: Path) -> None:
    settings = tmp_path / "mihomekit.toml"
    settings.write_text('[bridge]\nsetup_code = "random"\n')
    state = tmp_path / "state"
    code = _qr_code(state, "--settings", str(settings), "--mac", "B8:27:EB:12:34:56")
    assert is_valid_setup_code(code)
    assert json.loads((state / "bridge.json").read_text())["setup_code"] == code
    for _ in range(2):
        line = _start_and_stop([*run_args(state, mac=None), "--settings", str(settings)])
        assert f"setup code {code}" in line, line
    other = _qr_code(tmp_path / "other", "--settings", str(settings))
    assert other != code  # another bridge, another code (1 in 10^8 to collide)


async def test_serial_number_is_the_persisted_identity(tmp_path: Path) -> None:
    serials = []
    for _ in range(2):
        app = App(
            AppConfig(
                state_dir=tmp_path,
                address="127.0.0.1",
                port=free_port(),
                entries=demo_entries(),
                print_setup=False,
            )
        )
        await app.start()
        try:
            info = app.hubs.first.accessory.get_service("AccessoryInformation")
            serials.append(info.get_characteristic("SerialNumber").get_value())
        finally:
            await app.stop()
    saved = json.loads((tmp_path / "bridge.json").read_text())["device_id"]
    hap = json.loads((tmp_path / "accessory.state").read_text())["mac"]
    assert serials == [saved, saved]
    assert hap == saved
