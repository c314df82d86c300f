"""The BlueZ stand-in itself, through unmodified bleak and raw D-Bus calls.

The BLE tests trust it to behave like bluetoothd as bleak sees it; these tests pin that down.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from bleak import BleakClient, BleakScanner
from bleak.args.bluez import OrPattern
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import (
    BleakDBusError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from bluez_fake import AttError, FakeBluez, GattCharacteristic, GattService, full_uuid
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

pytestmark = pytest.mark.timeout(30)

MAC = "A4:C1:38:12:34:56"
OTHER = "11:22:33:44:55:66"
MI_PATTERN = [OrPattern(0, 0x16, b"\x95\xfe")]
BATTERY = full_uuid(0x2A19)
CONTROL = "00000010-0000-1000-8000-00805f9b34fb"

Heard = list[tuple[str, dict[str, bytes], dict[int, bytes], int]]


def recorder(heard: Heard) -> Any:
    def callback(device: BLEDevice, adv: AdvertisementData) -> None:
        heard.append(
            (device.address, dict(adv.service_data), dict(adv.manufacturer_data), adv.rssi)
        )

    return callback


async def call(
    bus: MessageBus, path: str, interface: str, member: str, signature: str = "", body: Any = ()
) -> Message:
    reply = await bus.call(
        Message(
            destination="org.bluez",
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
        )
    )
    assert reply is not None
    return reply


async def test_passive_scanning_reports_only_matching_advertisements(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        heard: Heard = []
        scanner = BleakScanner(
            recorder(heard), scanning_mode="passive", bluez={"or_patterns": MI_PATTERN}
        )
        await scanner.start()
        await bluez.wait_for(lambda: bluez.active_monitors() == [[(0, 0x16, b"\x95\xfe")]])
        assert bluez.advertise(MAC, service_data={0xFE95: b"\x30\x58"}, rssi=-61)
        assert not bluez.advertise(OTHER, service_data={0x181A: b"\x01"})
        assert not bluez.discovering()
        await bluez.wait_for(lambda: len(heard) == 1)
        await scanner.stop()
        assert heard == [(MAC, {full_uuid(0xFE95): b"\x30\x58"}, {}, -61)]
        assert [c.member for c in bluez.calls] == [
            "GetManagedObjects",
            "RegisterMonitor",
            "UnregisterMonitor",
        ]
        assert bluez.active_monitors() == []


@pytest.mark.parametrize(
    ("monitor", "error"),
    [
        ("unknown-method", "requires BlueZ >= 5.56 with --experimental"),
        ("not-supported", "org.bluez.Error.NotSupported"),
    ],
)
async def test_passive_scanning_refused_then_active_hears_everything(
    tmp_path: Path, monitor: Any, error: str
) -> None:
    async with FakeBluez.running(tmp_path, monitor=monitor) as bluez:
        passive = BleakScanner(
            lambda _d, _a: None, scanning_mode="passive", bluez={"or_patterns": MI_PATTERN}
        )
        with pytest.raises(BleakError, match=error):
            await passive.start()
        heard: Heard = []
        active = BleakScanner(recorder(heard))
        await active.start()
        assert bluez.discovering()
        bluez.advertise(MAC, service_data={0xFE95: b"\x01"})
        bluez.advertise(OTHER, manufacturer_data={0x004C: b"\x02\x15"})
        await bluez.wait_for(lambda: len(heard) == 2)
        await active.stop()
        assert not bluez.discovering()
        assert [c.member for c in bluez.calls][-4:] == [
            "SetDiscoveryFilter",
            "StartDiscovery",
            "StopDiscovery",
            "SetDiscoveryFilter",
        ]
        assert bluez.called("SetDiscoveryFilter")[0].args[0] == {
            "Transport": "le",
            "DuplicateData": False,
        }


async def test_device_data_is_merged_and_identical_repeats_are_silent(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        heard: Heard = []
        scanner = BleakScanner(recorder(heard))
        await scanner.start()
        bluez.advertise(MAC, service_data={0xFE95: b"\x01"}, manufacturer_data={0x0157: b"a"})
        bluez.advertise(MAC, service_data={0xFE95: b"\x01"}, manufacturer_data={0x0157: b"a"})
        bluez.advertise(MAC, service_data={0x181A: b"\x02"}, rssi=-60)
        bluez.advertise(MAC, service_data={0xFE95: b"\x03"}, rssi=-70)
        await bluez.wait_for(lambda: len(heard) == 3)
        await asyncio.sleep(0.05)
        await scanner.stop()
    sd, fe95, env = full_uuid(0xFE95), full_uuid(0xFE95), full_uuid(0x181A)
    assert sd == fe95
    assert heard == [
        (MAC, {fe95: b"\x01"}, {0x0157: b"a"}, -60),
        (MAC, {fe95: b"\x01", env: b"\x02"}, {0x0157: b"a"}, -60),
        (MAC, {fe95: b"\x03", env: b"\x02"}, {0x0157: b"a"}, -70),
    ]


async def test_discovery_is_per_client_with_bluez_errors(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        one, two = MessageBus(bus_address=bluez.address), MessageBus(bus_address=bluez.address)
        await one.connect()
        await two.connect()
        adapter, iface = "/org/bluez/hci0", "org.bluez.Adapter1"
        stop = await call(one, adapter, iface, "StopDiscovery")
        assert (stop.error_name, stop.body) == ("org.bluez.Error.Failed", ["No discovery started"])
        assert (await call(one, adapter, iface, "StartDiscovery")).message_type is (
            MessageType.METHOD_RETURN
        )
        again = await call(one, adapter, iface, "StartDiscovery")
        assert again.error_name == "org.bluez.Error.InProgress"
        assert (await call(two, adapter, iface, "StartDiscovery")).error_name is None
        two.disconnect()  # a client leaving the bus loses its session
        await bluez.wait_for(lambda: len(bluez.daemon.adapters["hci0"].sessions) == 1)  # type: ignore[union-attr]
        await bluez.set_powered("hci0", False)
        assert not bluez.discovering()
        off = await call(one, adapter, iface, "StartDiscovery")
        assert off.error_name == "org.bluez.Error.NotReady"
        powered = await call(
            one, adapter, "org.freedesktop.DBus.Properties", "Get", "ss", [iface, "Powered"]
        )
        assert powered.body[0].value is False
        # Properties.Set Powered, as `bluetoothctl power on` does
        await call(
            one,
            adapter,
            "org.freedesktop.DBus.Properties",
            "Set",
            "ssv",
            [iface, "Powered", Variant("b", True)],
        )
        assert bluez.controllers["hci0"].powered
        monitor = await call(
            one, adapter, "org.bluez.AdvertisementMonitorManager1", "UnregisterMonitor", "o", ["/x"]
        )
        assert monitor.error_name == "org.bluez.Error.DoesNotExist"
        one.disconnect()


async def test_bluetoothd_restart_and_crash_as_a_client_sees_them(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        bus = MessageBus(bus_address=bluez.address)
        await bus.connect()
        signals: list[tuple[str, list[Any]]] = []
        bus.add_message_handler(
            lambda m: (
                signals.append((m.member, m.body)) if m.message_type is MessageType.SIGNAL else None
            )
        )
        for rule in (
            "type='signal',interface='org.freedesktop.DBus.ObjectManager'",
            "type='signal',member='NameOwnerChanged',arg0='org.bluez'",
        ):
            await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="AddMatch",
                    signature="s",
                    body=[rule],
                )
            )
        heard: Heard = []
        scanner = BleakScanner(recorder(heard))
        await scanner.start()
        bluez.advertise(MAC, service_data={0xFE95: b"\x01"})
        await bluez.wait_for(lambda: len(heard) == 1)
        first = bluez.unique_name
        await bluez.restart_daemon()
        assert bluez.unique_name != first
        # the old session is gone: nothing heard, and stop() fails like BlueZ's
        bluez.advertise(MAC, service_data={0xFE95: b"\x02"})
        await asyncio.sleep(0.05)
        assert len(heard) == 1
        with pytest.raises(BleakDBusError, match="No discovery started"):
            await scanner.stop()
        removed = [body[0] for member, body in signals if member == "InterfacesRemoved"]
        assert removed[:3] == [
            "/org/bluez/hci0/dev_A4_C1_38_12_34_56",
            "/org/bluez/hci0",
            "/org/bluez",
        ]
        owners = [body for member, body in signals if member == "NameOwnerChanged"]
        assert owners == [["org.bluez", first, ""], ["org.bluez", "", bluez.unique_name]]
        added = [body[0] for member, body in signals if member == "InterfacesAdded"]
        assert added[-2:] == ["/org/bluez", "/org/bluez/hci0"]

        # a new scanner on the same bleak manager works again
        again = BleakScanner(recorder(heard))
        await again.start()
        bluez.advertise(MAC, service_data={0xFE95: b"\x03"})
        await bluez.wait_for(lambda: len(heard) == 2)
        await again.stop()

        await bluez.crash()
        reply = await call(bus, "/org/bluez/hci0", "org.bluez.Adapter1", "StartDiscovery")
        assert reply.error_name == "org.freedesktop.DBus.Error.ServiceUnknown"
        await bluez.start_daemon()
        reply = await call(bus, "/org/bluez/hci0", "org.bluez.Adapter1", "StartDiscovery")
        assert reply.message_type is MessageType.METHOD_RETURN
        bus.disconnect()


async def test_adapter_unplugged_and_back(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path, adapters=("hci0", "hci1")) as bluez:
        heard: Heard = []
        scanner = BleakScanner(recorder(heard), bluez={"adapter": "hci1"})
        await scanner.start()
        await bluez.remove_adapter("hci1")
        assert not bluez.advertise(MAC, service_data={0xFE95: b"\x01"}, adapter="hci1")
        with pytest.raises(BleakError):
            await scanner.stop()
        with pytest.raises(BleakError, match="adapter 'hci1' not found"):
            await BleakScanner(lambda _d, _a: None, bluez={"adapter": "hci1"}).start()
        await bluez.add_adapter("hci1")
        again = BleakScanner(recorder(heard), bluez={"adapter": "hci1"})
        await again.start()
        assert bluez.advertise(MAC, service_data={0xFE95: b"\x02"}, adapter="hci1")
        await bluez.wait_for(lambda: len(heard) == 1)
        await again.stop()
        await bluez.set_powered("hci1", False, blocked=True)
        assert bluez.controllers["hci1"].power_state == "off-blocked"


class Sensor:
    """A handler: answers reads, notifies back what is written to the control point."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.peripheral: Any = None

    def on_connect(self) -> None:
        self.events.append("connect")

    async def on_disconnect(self) -> None:
        self.events.append("disconnect")

    def on_read(self, uuid: str) -> bytes | None:
        if uuid == CONTROL:
            raise AttError(0x02)
        return None  # the stored value

    async def on_write(self, uuid: str, data: bytes, with_response: bool) -> None:
        self.events.append(f"write {data.hex()} {with_response}")
        self.peripheral.notify(uuid, data[::-1])


async def test_gatt_connect_read_write_notify_disconnect(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        sensor = Sensor()
        peripheral = bluez.add_peripheral(
            MAC,
            [
                GattService(0x180F, [GattCharacteristic(0x2A19, ["read"], b"\x5a")]),
                GattService(
                    0xFE95,
                    [
                        GattCharacteristic(
                            CONTROL, ["read", "write", "write-without-response", "notify"]
                        )
                    ],
                ),
            ],
            sensor,
        )
        sensor.peripheral = peripheral
        device = await bluez.discover(MAC, service_data={0xFE95: b"\x01"})

        notified: list[bytes] = []
        async with BleakClient(device) as client:
            assert peripheral.connected
            assert {s.uuid for s in client.services} == {full_uuid(0x180F), full_uuid(0xFE95)}
            assert await client.read_gatt_char(BATTERY) == b"\x5a"
            with pytest.raises(BleakGATTProtocolError) as refused:
                await client.read_gatt_char(CONTROL)  # the handler's ATT error 0x02
            assert refused.value.code is BleakGATTProtocolErrorCode.READ_NOT_PERMITTED
            with pytest.raises(BleakGATTProtocolError) as refused:
                await client.write_gatt_char(BATTERY, b"\x00", response=True)  # no write flag
            assert refused.value.code is BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED
            assert not peripheral.notify(CONTROL, b"early")  # nobody listens yet
            await client.start_notify(CONTROL, lambda _c, data: notified.append(bytes(data)))
            assert peripheral.notifying(CONTROL)
            await client.write_gatt_char(CONTROL, b"\x01\x02", response=True)
            await client.write_gatt_char(CONTROL, b"\x03\x04", response=False)
            await bluez.wait_for(lambda: len(notified) == 2)
            assert peripheral.notify(CONTROL, b"\x02\x01")  # a repeat still arrives
            await bluez.wait_for(lambda: len(notified) == 3)
            await client.stop_notify(CONTROL)
            assert not peripheral.notifying(CONTROL)
        assert not peripheral.connected
        await bluez.wait_for(lambda: "disconnect" in sensor.events)
        daemon = bluez.daemon
        assert daemon is not None
        assert not [p for p in daemon.tree.objects if "/service" in p]
    assert notified == [b"\x02\x01", b"\x04\x03", b"\x02\x01"]
    assert sensor.events == ["connect", "write 0102 True", "write 0304 False", "disconnect"]
    assert [(w.data, w.with_response) for w in peripheral.writes] == [
        (b"\x01\x02", True),
        (b"\x03\x04", False),
    ]
    write_types = [c.args[1]["type"] for c in bluez.called("WriteValue")]
    assert write_types == ["request", "request", "command"]


async def test_connect_to_an_absent_device_fails(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        device = await bluez.discover(OTHER, manufacturer_data={0x004C: b"\x02"})
        with pytest.raises(BleakDBusError, match="connection abort"):
            async with BleakClient(device, timeout=5):
                pass
