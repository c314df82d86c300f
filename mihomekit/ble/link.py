"""One GATT connection and the radio that makes it, as the rest of :mod:`mihomekit.ble` sees
them; and listening for one sensor's advertisements through that radio.

A :class:`Radio` is a way to reach sensors: this host's Bluetooth adapter
(:mod:`.local`) or an ESPHome Bluetooth proxy (:mod:`.esphome`). It opens
:class:`GattLink` connections and makes a listener (a source feeding advertisements to a
sink) for the same radio. Characteristics are named by their service's UUID and their
own (128-bit, lower case).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

from mihomekit.errors import MihomekitError
from mihomekit.sources import Advertisement, AdvertisementSink, Source

__all__ = [
    "GattError",
    "GattLink",
    "NotAdvertisingError",
    "NotifyCallback",
    "Radio",
    "display_mac",
    "failing_as",
    "listen_for",
]

NotifyCallback = Callable[[bytes], None]


class GattError(MihomekitError):
    """A GATT connection or operation failed; the message says which and why."""


class NotAdvertisingError(GattError):
    """The sensor was not heard: out of range, asleep, or connected to something else."""


class GattLink(Protocol):
    """An open connection to one sensor."""

    async def read(self, service: str, char: str) -> bytes:
        """The characteristic's value."""
        ...

    async def write(
        self, service: str, char: str, data: bytes, *, response: bool | None = None
    ) -> None:
        """Write ``data``; ``response`` None: with a response if the characteristic has one."""
        ...

    async def start_notify(self, service: str, char: str, callback: NotifyCallback) -> None:
        """Call ``callback`` with every notification (or indication) of the characteristic."""
        ...

    async def close(self) -> None:
        """Disconnect. Safe to call more than once."""
        ...


class Radio(Protocol):
    """A way to reach sensors (this host's adapter, an ESPHome proxy)."""

    #: How messages name it: ``hci0``, ``proxy attic``.
    name: str

    @property
    def lock_key(self) -> str:
        """The same for every :class:`Radio` object that uses the same hardware."""
        ...

    async def connect(self, mac: str, timeout: float) -> GattLink:
        """Connect to ``mac``; :class:`GattError` (or :class:`NotAdvertisingError`) if not."""
        ...

    def listener(self, sink: AdvertisementSink) -> Source:
        """A source hearing advertisements through this radio, feeding ``sink``."""
        ...


@contextlib.contextmanager
def failing_as(
    what: str, errors: tuple[type[BaseException], ...], reason: Callable[[BaseException], str]
) -> Iterator[None]:
    """Turn ``errors`` raised inside into :class:`GattError` ``"<what> failed: <reason>"``."""
    try:
        yield
    except errors as err:
        raise GattError(f"{what} failed: {reason(err)}") from err


def display_mac(mac: str) -> str:
    """``a4c138123456`` or ``a4-c1-…`` → ``A4:C1:38:12:34:56``."""
    raw = mac.replace(":", "").replace("-", "").upper()
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


async def listen_for(
    radio: Radio,
    mac: str,
    timeout: float,
    accept: Callable[[Advertisement], bool] = lambda adv: True,
) -> tuple[Advertisement | None, int]:
    """Listen through ``radio`` until ``mac`` sends an advertisement ``accept`` takes.

    Returns that advertisement (None after ``timeout`` seconds) and how many advertisements
    of other devices were heard meanwhile (0 suggests the radio hears nothing at all).
    """
    target = display_mac(mac)
    loop = asyncio.get_running_loop()
    found: asyncio.Future[Advertisement] = loop.create_future()
    others = 0

    def sink(adv: Advertisement) -> None:
        nonlocal others
        if adv.mac != target:
            others += 1
        elif not found.done() and accept(adv):
            found.set_result(adv)

    source = radio.listener(sink)
    await source.start()
    try:
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(found), timeout), others
        return None, others
    finally:
        await source.stop()
