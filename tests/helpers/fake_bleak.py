"""A stand-in for ``BleakScanner`` (injected through ``scanner_factory``) and real frames.

For the pure logic of the BLE adapter only (scanning through bleak runs against the BlueZ
stand-in, ``bluez_fake``): it records the arguments a scanner was built
with and calls the detection callback with real ``BLEDevice``/``AdvertisementData`` objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from mihomekit.sources import Advertisement


def entries(adv: Advertisement) -> list[tuple[str, int, bytes, int | None]]:
    """An advertisement as (mac, uuid, data, rssi) per service-data entry."""
    return [(adv.mac, uuid, data, adv.rssi) for uuid, data in adv.service_data.items()]


BASE_UUID = "0000{:04x}-0000-1000-8000-00805f9b34fb"

# Real advertisements (service data after the UUID) from the test vectors in tests/data.
LYWSD03MMC_ENCRYPTED = (
    "A4:C1:38:02:83:F4",
    0xFE95,
    "58585b0550f4830238c1a495ef58763c26000097e2abb5",
)
LYWSD03MMC_V3 = ("A4:C1:38:B4:94:4C", 0xFE95, "50305b05034c94b438c1a40d10041001ea01")
ATC1441 = ("A4:C1:38:BC:7C:4E", 0x181A, "a4c138bc7c4e0102284f0b6720")
QINGPING = ("58:2D:34:52:65:BF", 0xFDCD, "080cbf6552342d580104f100ad01020125")
BTHOME = ("54:48:E6:8F:80:A5", 0xFCD2, "4000090161")

PASSIVE_UNSUPPORTED = BleakError(
    "passive scanning on Linux requires BlueZ >= 5.56 with --experimental enabled "
    "and Linux kernel >= 5.10"
)


def advertisement(
    address: str,
    service_data: dict[int, str] | None = None,
    *,
    rssi: int = -70,
    manufacturer_data: dict[int, bytes] | None = None,
) -> tuple[BLEDevice, AdvertisementData]:
    """A (BLEDevice, AdvertisementData) pair as bleak's BlueZ backend reports it."""
    data = {
        BASE_UUID.format(uuid): bytes.fromhex(hexdata)
        for uuid, hexdata in (service_data or {}).items()
    }
    device = BLEDevice(address, None, {"path": f"/org/bluez/hci0/dev_{address.replace(':', '_')}"})
    adv = AdvertisementData(
        local_name=None,
        manufacturer_data=manufacturer_data or {},
        service_data=data,
        service_uuids=list(data),
        tx_power=None,
        rssi=rssi,
        platform_data=(),
    )
    return device, adv


class FakeBleak:
    """Builds stand-in scanners; ``start_errors`` are raised by successive start() calls."""

    def __init__(self, *, start_errors: list[BaseException | None] | None = None) -> None:
        self.start_errors = list(start_errors or [])
        self.scanners: list[FakeScanner] = []

    def __call__(self, **kwargs: Any) -> FakeScanner:
        scanner = FakeScanner(self, kwargs)
        self.scanners.append(scanner)
        return scanner

    @property
    def current(self) -> FakeScanner:
        running = [s for s in self.scanners if s.running]
        assert len(running) == 1, f"expected one running scanner, got {len(running)}"
        return running[0]


class FakeScanner:
    def __init__(self, owner: FakeBleak, kwargs: dict[str, Any]) -> None:
        self.owner = owner
        self.kwargs = kwargs
        self.callback: Callable[[BLEDevice, AdvertisementData], None] = kwargs["detection_callback"]
        self.running = False
        self.stopped = False

    async def start(self) -> None:
        if self.owner.start_errors:
            error = self.owner.start_errors.pop(0)
            if error is not None:
                raise error
        self.running = True

    async def stop(self) -> None:
        self.running = False
        self.stopped = True

    def feed(self, *pairs: tuple[BLEDevice, AdvertisementData]) -> None:
        for device, adv in pairs:
            self.callback(device, adv)


def recorded(
    *packets: tuple[str, int, str], rssi: int = -70
) -> list[tuple[BLEDevice, AdvertisementData]]:
    return [advertisement(mac, {uuid: data}, rssi=rssi) for mac, uuid, data in packets]


async def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)
