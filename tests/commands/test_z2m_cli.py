"""``mihomekit z2m list [--json]`` against a real mosquitto and the Zigbee2MQTT simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mosquitto import HOST, Mosquitto
from run_helpers import run
from z2m_helpers import CURTAIN, LAMP, PLUG, WALL
from z2m_simulator import Z2mSimulator

pytestmark = pytest.mark.timeout(60)


def _settings(tmp_path: Path, port: int, extra: str = "") -> str:
    path = tmp_path / "mihomekit.toml"
    path.write_text(f'[mqtt]\nhost = "{HOST}"\nport = {port}\n{extra}')
    return str(path)


async def test_list_shows_the_mapping_and_why(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sim = Z2mSimulator(HOST, mosquitto.port, base="z2m")
    await sim.start()
    try:
        settings = _settings(tmp_path, mosquitto.port, '[zigbee2mqtt]\nbase_topic = "z2m"\n')
        text = run("z2m", "list", "--settings", settings)
        assert text.returncode == 0, text.stderr
        out = text.stdout
        assert out.startswith("Zigbee2MQTT (2.14.1) on z2m: 10 devices bridged, 3 not")
        assert "hall/door  0x00158d0001a2b301  Aqara MCCGQ11LM" in out
        assert "HomeKit:   ContactSensor, BatteryService" in out
        assert "MQTT only: device_temperature, linkquality, voltage" in out
        assert "not mapped: power_outage_memory: a configuration setting" in out
        assert "Coordinator  0x00124b0018e2a1c4: the coordinator" in out

        listing = run("z2m", "list", "--settings", settings, "--json")
        assert listing.returncode == 0, listing.stderr
        report = json.loads(listing.stdout)
        devices = {d["ieee_address"]: d for d in report["devices"]}
        assert devices[PLUG]["homekit"] == ["Outlet"]
        assert devices[PLUG]["writable"] == ["power"]
        assert devices[LAMP]["homekit"] == ["Lightbulb"]
        assert devices[WALL]["homekit"] == ["BatteryService", "StatelessProgrammableSwitch x3"]
        assert "pressure" in devices["0x00158d0001a2b303"]["mqtt_only"]
        # The curtain: one WindowCovering; motor_state and running are read, not unmapped.
        assert devices[CURTAIN]["homekit"] == ["BatteryService", "WindowCovering"]
        assert devices[CURTAIN]["writable"] == ["position"]
        assert "motor_state" not in str(devices[CURTAIN].get("not_mapped"))
    finally:
        await sim.stop()


def test_list_errors_are_one_line(tmp_path: Path, mosquitto: Mosquitto) -> None:
    no_mqtt = tmp_path / "none.toml"
    no_mqtt.write_text("[bridge]\n")
    result = run("z2m", "list", "--settings", str(no_mqtt))
    assert result.returncode == 2 and "needs the broker" in result.stderr
    # A broker without Zigbee2MQTT: no retained bridge/devices.
    result = run("z2m", "list", "--settings", _settings(tmp_path, mosquitto.port), "--timeout", "1")
    assert result.returncode == 1
    assert "no retained zigbee2mqtt/bridge/devices" in result.stderr
    assert "Traceback" not in result.stderr
    mosquitto.stop()
    result = run("z2m", "list", "--settings", _settings(tmp_path, mosquitto.port), "--timeout", "2")
    assert result.returncode == 1 and "cannot read from the MQTT broker" in result.stderr
