"""``mihomekit scan`` through the receivers of the settings: a fake ESPHome proxy over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import aiomqtt
import pytest
from esphome_fake import Entry, FakeProxy
from mosquitto import Mosquitto

from mihomekit.commands import scan
from mihomekit.errors import AdapterError

THERMO_MAC = "A4:C1:38:B4:94:4C"
THERMO_27_2 = bytes.fromhex("50305b05034c94b438c1a40d10041001ea01")  # xiaomi-ble-017


def _options(settings: Path) -> scan.ScanOptions:
    return scan.ScanOptions(seconds=1.5, settings=str(settings), radio=False)


async def test_scan_lists_devices_heard_through_a_proxy(tmp_path: Path) -> None:
    async with FakeProxy(name="attic") as proxy:
        settings = tmp_path / "settings.toml"
        settings.write_text(f'[[esphome]]\nhost = "127.0.0.1"\nport = {proxy.port}\n')
        table = scan.ScanTable()

        async def feed() -> None:
            await proxy.wait_subscribed()
            assert proxy.send_batch([Entry.service(THERMO_MAC, THERMO_27_2, rssi=-67)])

        await asyncio.gather(scan.scan(_options(settings), table, out=io.StringIO()), feed())
    (row,) = table.rows
    assert row.mac == THERMO_MAC
    assert row.receivers == {"attic": -67}
    assert row.values["temperature"] == 27.2
    rendered = table.render()
    assert "RECEIVERS" in rendered.splitlines()[0]
    assert "esphome attic: " in rendered
    assert table.to_json()["sources"][0]["advertisements"] == 1


async def test_no_radio_and_no_receiver_is_a_clear_error(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("")
    with pytest.raises(AdapterError, match="no receiver"):
        await scan.scan(_options(settings), scan.ScanTable(), out=io.StringIO())


async def test_scan_listens_through_mqtt_receivers_without_announcing_itself(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\n\n'
        '[[mqtt_receivers]]\ntopic = "home/+/BTtoMQTT/#"\nformat = "theengs"\n'
    )
    message = json.dumps(
        {
            "id": THERMO_MAC,
            "rssi": -71,
            "servicedatauuid": "0xfe95",
            "servicedata": THERMO_27_2.hex(),
        }
    )
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="gateway") as gateway:
        await gateway.publish("home/hall/BTtoMQTT/A4C138B4944C", message, qos=1, retain=True)
    table = scan.ScanTable()
    await scan.scan(_options(settings), table, out=io.StringIO())
    (row,) = table.rows
    assert row.receivers == {"hall": -71}
    assert row.values["temperature"] == 27.2
    assert [s.kind for s in table.sources] == ["mqtt", "mqtt_receiver"]
    # The scan published nothing: no retained status of its own on the broker.
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="watcher") as watcher:
        await watcher.subscribe("mihomekit/#")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                async for heard in watcher.messages:
                    raise AssertionError(f"the scan published {heard.topic}")
