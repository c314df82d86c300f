"""A sensor on the air for bind tests: it advertises MiBeacon frames, plain until it is
activated and then encrypted with its new bind key, through any ``send(mac, data)``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from mihomekit.decoders.build import mibeacon_frame, obj_temp_humidity

LYWSD03MMC = 0x055B


class Beacons:
    """The MiBeacon frames of one sensor: ``frame()`` is the next one to send."""

    def __init__(
        self,
        mac: str,
        pid: int = LYWSD03MMC,
        *,
        celsius: float = 21.5,
        humidity: float = 48.0,
        key: bytes | None = None,
    ) -> None:
        self.mac = mac
        self.pid = pid
        self.celsius = celsius
        self.humidity = humidity
        #: The bind key frames are encrypted with (None: plain frames).
        self.key = key
        self.counter = 0

    def take_key(self, key: bytes) -> None:
        """Encrypt with ``key`` from now on (a sensor's ``on_activated``)."""
        self.key = key

    def frame(self) -> bytes:
        self.counter += 1
        objects = [obj_temp_humidity(self.celsius, self.humidity)]
        return mibeacon_frame(self.pid, self.counter, objects, mac=self.mac, key=self.key)


@contextlib.asynccontextmanager
async def on_air(
    send: Callable[[str, bytes], object], beacons: Beacons, interval: float = 0.05
) -> AsyncIterator[Beacons]:
    """Send ``beacons`` every ``interval`` seconds while the block runs."""

    async def loop() -> None:
        while True:
            send(beacons.mac, beacons.frame())
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop())
    try:
        yield beacons
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
