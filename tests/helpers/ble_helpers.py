"""The BLE source against the BlueZ stand-in: a sensor that keeps advertising, and timing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bluez_fake import FakeBluez

from mihomekit.sources import Advertisement

# Real advertisements (service data after the UUID) from the test vectors in tests/data.
ATC1441 = ("A4:C1:38:BC:7C:4E", 0x181A, "a4c138bc7c4e0102284f0b6720")
LYWSD03MMC_V3 = ("A4:C1:38:B4:94:4C", 0xFE95, "50305b05034c94b438c1a40d10041001ea01")


class Heard:
    """A sink that keeps what the BLE source forwarded."""

    def __init__(self) -> None:
        self.advertisements: list[Advertisement] = []

    def __call__(self, advertisement: Advertisement) -> None:
        self.advertisements.append(advertisement)

    def __len__(self) -> int:
        return len(self.advertisements)

    def macs(self) -> list[str]:
        return [a.mac for a in self.advertisements]


async def advertise_until(
    bluez: FakeBluez,
    condition: Callable[[], bool],
    packet: tuple[str, int, str] = ATC1441,
    *,
    adapter: str = "hci0",
    every: float = 0.05,
    timeout: float = 15.0,
) -> float:
    """Let a sensor advertise ``packet`` every ``every`` seconds (its RSSI wavering, as on air)
    until ``condition()`` holds; the seconds it took, by the loop clock."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    mac, uuid, data = packet
    n = 0
    while not condition():
        assert loop.time() - started < timeout, f"not heard within {timeout} s"
        bluez.advertise(
            mac, service_data={uuid: bytes.fromhex(data)}, rssi=-60 - n % 2, adapter=adapter
        )
        n += 1
        await asyncio.sleep(every)
    return loop.time() - started
