"""``[zigbee2mqtt]`` settings, and ``mihomekit run`` bridging Zigbee2MQTT's devices."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from homekit_helpers import free_port, ready_line
from mosquitto import HOST, Mosquitto
from run_helpers import SETUP_MAC, popen
from z2m_simulator import Z2mSimulator

from mihomekit.errors import ConfigError
from mihomekit.settings import Zigbee2mqttSettings, parse_settings

pytestmark = pytest.mark.timeout(60)


def test_settings() -> None:
    assert parse_settings("").zigbee2mqtt is None
    settings = parse_settings('[mqtt]\nhost = "h"\n[zigbee2mqtt]\nbase_topic = "zb/home"\n')
    assert settings.zigbee2mqtt == Zigbee2mqttSettings(enabled=True, base_topic="zb/home")
    assert parse_settings('[mqtt]\nhost = "h"\n[zigbee2mqtt]\n').zigbee2mqtt == (
        Zigbee2mqttSettings()
    )
    # Off without a broker is fine; on without one is an error naming the table.
    assert parse_settings("[zigbee2mqtt]\nenabled = false\n").zigbee2mqtt is not None
    with pytest.raises(ConfigError, match=r"zigbee2mqtt.*\[mqtt\]"):
        parse_settings("[zigbee2mqtt]\n")
    with pytest.raises(ConfigError, match="base_topc"):
        parse_settings('[mqtt]\nhost = "h"\n[zigbee2mqtt]\nbase_topc = "x"\n')
    with pytest.raises(ConfigError, match="wildcards"):
        parse_settings('[mqtt]\nhost = "h"\n[zigbee2mqtt]\nbase_topic = "z/#"\n')


async def test_run_bridges_zigbee2mqtt_devices(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sim = Z2mSimulator(HOST, mosquitto.port)
    await sim.start()
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(f'[mqtt]\nhost = "{HOST}"\nport = {mosquitto.port}\n[zigbee2mqtt]\n')
    args = ["run", "--no-web", "--settings", str(settings), "--state-dir", str(tmp_path / "state")]
    args += ["--address", HOST, "--port", str(free_port()), "--mac", SETUP_MAC, "--no-ble"]
    proc = popen(*args, cwd=tmp_path)
    try:
        line = ready_line(proc)
        assert "10 accessories" in line, line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        await sim.stop()
    assert proc.returncode == 0
