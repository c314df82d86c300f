"""The BLE source against the BlueZ stand-in: a sensor that keeps advertising, and timing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bluez_fake import FakeBluez
from fake_bleak import ATC1441, LYWSD03MMC_V3

from mihomekit.sources import Advertisement

__all__ = ["ATC1441", "LYWSD03MMC_V3", "Heard", "advertise_until"]


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
