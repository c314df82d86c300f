"""``mihomekit bind`` through unmodified bleak against the BlueZ stand-in, with the sensor
model as a real ECDH peer that advertises encrypted MiBeacons once activated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bluez_fake import FakeBluez
from mi_peripherals import CONTROL, MmcSensor, on_bluez
from sensor_air import Beacons, on_air

from mihomekit.ble.activation import ActivationError, ActivationRefused
from mihomekit.ble.bind import BindOutcome, bind_sensor
from mihomekit.ble.link import NotAdvertisingError
from mihomekit.ble.local import LocalRadio
from mihomekit.ble.queue import GattQueue
from mihomekit.cli import main
from mihomekit.mi32cfg import DeviceEntry, load_mi32cfg, save_mi32cfg

pytestmark = pytest.mark.timeout(60)

MAC = "A4:C1:38:12:34:56"
OLD_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")


@pytest.fixture
async def bluez(tmp_path: Path) -> AsyncIterator[FakeBluez]:
    async with FakeBluez.running(tmp_path) as running:
        yield running


def air(bluez: FakeBluez):  # type: ignore[no-untyped-def]
    return lambda mac, data: bluez.advertise(mac, service_data={0xFE95: data}, rssi=-58)


def sensor_with(beacons: Beacons, **kwargs: object) -> MmcSensor:
    return MmcSensor(on_activated=beacons.take_key, **kwargs)  # type: ignore[arg-type]


async def bind(tmp_path: Path, path: Path, timeout: float = 10) -> BindOutcome:
    return await bind_sensor(
        LocalRadio(),
        MAC,
        path,
        timeout=timeout,
        queue=GattQueue(lock_dir=str(tmp_path)),
    )


async def test_bind_over_bluez_adds_the_sensor_with_its_new_key(
    bluez: FakeBluez, tmp_path: Path
) -> None:
    beacons = Beacons(MAC)
    sensor = sensor_with(beacons)
    peripheral = on_bluez(bluez, MAC, sensor)
    path = tmp_path / "mi32cfg"
    async with on_air(air(bluez), beacons):
        outcome = await bind(tmp_path, path)
    assert sensor.bind_key is not None
    assert load_mi32cfg(path) == [DeviceEntry("A4C138123456", 0x055B, sensor.bind_key)]
    assert outcome.confirmation is not None
    assert outcome.confirmation.values == {"temperature": 21.5, "humidity": 48.0}
    # the exchange really went over GATT, and the connection was closed
    control = [w.data for w in peripheral.writes if w.uuid == CONTROL]
    assert control[:1] == [bytes.fromhex("a2000000")]
    assert not peripheral.connected


async def test_rebind_replaces_the_key_and_keeps_the_entry(
    bluez: FakeBluez, tmp_path: Path
) -> None:
    path = tmp_path / "mi32cfg"
    save_mi32cfg(
        path,
        [
            DeviceEntry("A4C138000001", 0x045B, None),
            DeviceEntry("A4C138123456", 0x055B, OLD_KEY, name="Hall", feat=0),
        ],
    )
    beacons = Beacons(MAC, key=OLD_KEY)
    sensor = sensor_with(beacons, known_id=b"\0blt.3.1abcdefghijkl")
    on_bluez(bluez, MAC, sensor)
    async with on_air(air(bluez), beacons):
        outcome = await bind(tmp_path, path)
    entries = load_mi32cfg(path)
    assert entries[0] == DeviceEntry("A4C138000001", 0x045B, None)
    assert entries[1] == DeviceEntry("A4C138123456", 0x055B, sensor.bind_key, name="Hall", feat=0)
    assert sensor.bind_key != OLD_KEY
    assert outcome.previous is not None and outcome.previous.key == OLD_KEY
    # the device kept the id it had
    assert sensor.received_id == b"\0blt.3.1abcdefghijkl"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"refuse": True}, ActivationRefused, "refused"),
        ({"silent_after": "key"}, ActivationError, "stopped answering"),
    ],
)
async def test_a_failed_activation_leaves_the_mi32cfg_unchanged(
    bluez: FakeBluez,
    tmp_path: Path,
    kwargs: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    path = tmp_path / "mi32cfg"
    save_mi32cfg(path, [DeviceEntry("A4C138123456", 0x055B, OLD_KEY)])
    before = path.read_bytes()
    beacons = Beacons(MAC, key=OLD_KEY)
    on_bluez(bluez, MAC, sensor_with(beacons, **kwargs))
    async with on_air(air(bluez), beacons):
        with pytest.raises(error, match=message):
            await bind(tmp_path, path, timeout=1.5)
    assert path.read_bytes() == before


async def test_an_absent_sensor_is_not_advertising(bluez: FakeBluez, tmp_path: Path) -> None:
    path = tmp_path / "mi32cfg"
    on_bluez(bluez, MAC, MmcSensor())  # connectable, but silent
    other = Beacons("A4:C1:38:00:00:99")
    async with on_air(air(bluez), other):
        with pytest.raises(NotAdvertisingError, match="not advertising") as caught:
            await bind(tmp_path, path, timeout=0.5)
    assert "advertisements of other devices" in str(caught.value)
    assert not path.exists()


async def test_the_bind_command_warns_first_and_fails_in_one_line(
    bluez: FakeBluez, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mi32cfg"
    on_bluez(bluez, MAC, MmcSensor(refuse=True))
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(f'[bridge]\nstate_dir = "{tmp_path}/state"\n')
    args = ["bind", MAC, "--config", str(path), "--settings", str(settings), "--timeout", "5"]
    async with on_air(air(bluez), Beacons(MAC)):
        status = await asyncio.to_thread(main, args)
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out.splitlines()[0] == (
        "Activation gives A4:C1:38:12:34:56 a new bind key and unbinds it from Mi Home: it "
        "stops working in the Mi Home app until it is added there again (which changes the "
        "key once more)."
    )
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("mihomekit: the sensor refused the activation")
    assert not path.exists()


async def test_the_bind_command_succeeds_and_says_the_key_works(
    bluez: FakeBluez, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mi32cfg"
    beacons = Beacons(MAC)
    sensor = sensor_with(beacons)
    on_bluez(bluez, MAC, sensor)
    args = ["bind", MAC, "--config", str(path), "--adapter", "hci0", "--timeout", "10"]
    args += ["--settings", str(tmp_path / "none.toml")]
    (tmp_path / "none.toml").write_text("")
    async with on_air(air(bluez), beacons):
        status = await asyncio.to_thread(main, args)
    out = capsys.readouterr().out
    assert status == 0
    assert sensor.bind_key is not None
    assert f"bind key {sensor.bind_key.hex().upper()} saved in {path}" in out
    assert f"added A4:C1:38:12:34:56 (product id 055b) to {path}" in out
    assert out.rstrip().endswith("key works: temperature 21.5, humidity 48.0")
