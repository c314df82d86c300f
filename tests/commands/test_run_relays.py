"""``mihomekit run`` as a process with ``GPIOZERO_PIN_FACTORY=mock`` and two ``[[relays]]``:
a paired controller sees two switches, switching one sets its mock pin (read by a small
test extension in the bridge's process), and after a restart with ``restore = "last"`` the
pin and the HomeKit state are as before."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from homekit_helpers import AccessoryView, controller_on_loopback, free_port, pair, ready_line
from mqtt_helpers import until
from repo import HELPERS
from run_helpers import running, settings_args, stop

pytestmark = pytest.mark.timeout(120)

SETUP_CODE = "182-11-234"


def levels(path: Path) -> dict[str, bool]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


async def test_two_relays_through_mihomekit_run(tmp_path: Path) -> None:
    probe = tmp_path / "pins.json"
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(
        f"""
[ble]
enabled = false
[web]
enabled = false

[[relays]]
name = "Fan"
pin = 17

[[relays]]
name = "Pump"
pin = 27
restore = "last"

[[extensions]]
module = "{HELPERS / "pin_probe.py"}"
options = {{ file = "{probe}", pins = [17, 27] }}
""",
        encoding="utf-8",
    )
    port = free_port()
    args = settings_args(settings, tmp_path / "state", port=port)
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}

    with running(*args, env=env) as proc:
        line = await asyncio.to_thread(ready_line, proc)
        assert "2 accessories" in line and SETUP_CODE in line, line
        await until(lambda: levels(probe) == {"17": False, "27": False}, "the pins, off")
        async with controller_on_loopback() as controller:
            hap_id = json.loads((tmp_path / "state" / "accessory.state").read_text())["mac"]
            pairing = await pair(controller, hap_id, SETUP_CODE)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            switches = {view.info(a)["Name"]: a for a in view.aids() if a != 1}
            assert set(switches) == {"Fan", "Pump"}
            for aid in switches.values():
                assert view.service_names(aid) == ["AccessoryInformation", "Switch"]
            pump = switches["Pump"]
            await pairing.put_characteristics([(pump, view.iid(pump, "Switch", "On"), True)])
            await until(lambda: levels(probe) == {"17": False, "27": True}, "pin 27 high")
            pairing_data = dict(pairing.pairing_data)
            await pairing.close()
        stop(proc)

    probe.unlink()
    with running(*args, env=env) as proc:
        line = await asyncio.to_thread(ready_line, proc)
        assert "paired with 1 controller" in line, line
        await until(lambda: levels(probe) == {"17": False, "27": True}, "pin 27 high again")
        async with controller_on_loopback() as controller:
            pairing = controller.load_pairing("test", pairing_data)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            assert view.char(pump, "Switch", "On")["value"] is True
            assert view.char(switches["Fan"], "Switch", "On")["value"] is False
            await pairing.close()
        _, err = stop(proc)
    assert "Traceback" not in err
