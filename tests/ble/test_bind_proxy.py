"""Binding through an ESPHome proxy: aioesphomeapi's real Bluetooth GATT calls against the
fake proxy, backed by the sensor model (a real ECDH peer)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from esphome_fake import GATT_FLAGS, Entry, FakeProxy
from mi_peripherals import CONTROL, PARCELS, MmcSensor
from sensor_air import Beacons, on_air

from mihomekit.ble.activation import ActivationRefused
from mihomekit.ble.bind import bind_sensor
from mihomekit.ble.esphome import EsphomeRadio
from mihomekit.ble.link import GattError, NotAdvertisingError
from mihomekit.ble.queue import GattQueue
from mihomekit.cli import main
from mihomekit.mi32cfg import DeviceEntry, load_mi32cfg, save_mi32cfg
from mihomekit.settings import EsphomeSettings

MAC = "A4:C1:38:12:34:56"


def sender(proxy: FakeProxy):  # type: ignore[no-untyped-def]
    return lambda mac, data: proxy.send_batch([Entry.service(mac, data, rssi=-55)])


async def test_bind_through_a_proxy_writes_the_key_and_the_beacon_proves_it(
    tmp_path: Path,
) -> None:
    beacons = Beacons(MAC)
    sensor = MmcSensor(on_activated=beacons.take_key)
    lines: list[str] = []
    async with FakeProxy(feature_flags=GATT_FLAGS) as proxy:
        proxy.add_peripheral(MAC, sensor)
        radio = EsphomeRadio(EsphomeSettings(host="127.0.0.1", port=proxy.port, name=proxy.name))
        async with on_air(sender(proxy), beacons):
            outcome = await bind_sensor(
                radio,
                MAC.lower(),
                tmp_path / "mi32cfg",
                timeout=10,
                queue=GattQueue(lock_dir=str(tmp_path)),
                say=lines.append,
            )
    assert sensor.bind_key is not None
    assert outcome.key == sensor.bind_key
    assert outcome.pid == 0x055B
    assert outcome.previous is None
    assert load_mi32cfg(tmp_path / "mi32cfg") == [
        DeviceEntry(mac="A4C138123456", pid=0x055B, key=sensor.bind_key)
    ]
    assert outcome.confirmation is not None
    assert outcome.confirmation.values == {"temperature": 21.5, "humidity": 48.0}
    # notifications were enabled in the sensor's descriptors, and it was disconnected
    assert sensor.connects == 1 and sensor.disconnects == 1
    assert any(line.startswith("bind key ") for line in lines)


async def test_a_refusal_through_a_proxy_leaves_the_mi32cfg_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "mi32cfg"
    old = DeviceEntry(mac="A4C138123456", pid=0x055B, key=bytes(16))
    save_mi32cfg(path, [old])
    before = path.read_bytes()
    sensor = MmcSensor(refuse=True)
    async with FakeProxy(feature_flags=GATT_FLAGS) as proxy:
        proxy.add_peripheral(MAC, sensor)
        radio = EsphomeRadio(EsphomeSettings(host="127.0.0.1", port=proxy.port))
        async with on_air(sender(proxy), Beacons(MAC)):
            with pytest.raises(ActivationRefused):
                await bind_sensor(
                    radio, MAC, path, timeout=10, queue=GattQueue(lock_dir=str(tmp_path))
                )
    assert path.read_bytes() == before
    assert sensor.writes_to(CONTROL)[-1] == bytes.fromhex("13000000")


async def test_a_proxy_without_active_connections_says_what_to_set(tmp_path: Path) -> None:
    async with FakeProxy() as proxy:  # passive only
        proxy.add_peripheral(MAC, MmcSensor())
        radio = EsphomeRadio(EsphomeSettings(host="127.0.0.1", port=proxy.port))
        with pytest.raises(GattError, match="active: true"):
            await radio.connect(MAC, 5)


async def test_a_sensor_out_of_the_proxys_range_fails_to_connect(tmp_path: Path) -> None:
    async with FakeProxy(feature_flags=GATT_FLAGS) as proxy:
        radio = EsphomeRadio(EsphomeSettings(host="127.0.0.1", port=proxy.port))
        with pytest.raises(GattError, match="cannot connect to A4:C1:38:12:34:56"):
            await radio.connect(MAC, 5)


async def test_nothing_heard_through_a_proxy_names_the_subscription_slot(tmp_path: Path) -> None:
    async with FakeProxy(feature_flags=GATT_FLAGS, slot_taken=True) as proxy:
        proxy.add_peripheral(MAC, MmcSensor())
        radio = EsphomeRadio(EsphomeSettings(host="127.0.0.1", port=proxy.port))
        with pytest.raises(NotAdvertisingError, match="advertisement subscription"):
            await bind_sensor(radio, MAC, tmp_path / "mi32cfg", timeout=0.5)
    assert not (tmp_path / "mi32cfg").exists()


async def test_the_bind_command_through_a_proxy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    beacons = Beacons(MAC)
    sensor = MmcSensor(on_activated=beacons.take_key)
    async with FakeProxy(name="attic", feature_flags=GATT_FLAGS) as proxy:
        proxy.add_peripheral(MAC, sensor)
        settings = tmp_path / "mihomekit.toml"
        settings.write_text(
            f'[bridge]\nstate_dir = "{tmp_path}/state"\n\n'
            f'[[esphome]]\nhost = "127.0.0.1"\nport = {proxy.port}\nname = "attic"\n'
        )
        config = tmp_path / "mi32cfg"
        async with on_air(sender(proxy), beacons):
            args = ["bind", MAC, "--proxy", "attic", "--settings", str(settings)]
            args += ["--config", str(config), "--timeout", "10"]
            status = await asyncio.to_thread(main, args)
    out = capsys.readouterr().out
    assert status == 0
    assert out.splitlines()[0].startswith("Activation gives A4:C1:38:12:34:56 a new bind key")
    assert "unbinds it from Mi Home" in out.splitlines()[0]
    assert sensor.bind_key is not None
    assert f"bind key {sensor.bind_key.hex().upper()} saved in {config}" in out
    assert "key works: temperature 21.5, humidity 48.0" in out
    assert load_mi32cfg(config)[0].key == sensor.bind_key
    assert sensor.writes_to(PARCELS)  # the exchange went through the proxy


def test_an_unknown_proxy_name_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "mihomekit.toml"
    settings.write_text('[[esphome]]\nhost = "10.0.0.9"\nname = "garage"\n')
    status = main(["bind", MAC, "--proxy", "attic", "--settings", str(settings)])
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no [[esphome]] proxy of that name or host" in err and "garage" in err
