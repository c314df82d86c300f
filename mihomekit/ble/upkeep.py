"""The bridge's periodic GATT jobs: keep sensor clocks right, read batteries.

With ``[ble] set_clocks = true`` every sensor whose model has a clock (its catalog entry's
``gatt.clock``) gets this host's time and time zone shortly after the start, then daily and
whenever the host's UTC offset changes (daylight saving time). With ``[ble]
battery_poll_hours = N`` the battery of every sensor whose model has one over GATT is read
every N hours, unless its advertisements carry it; the level goes into the registry like
any reading.

Each sensor is reached through the radio that hears it best (this host's adapter or an
ESPHome proxy), one connection at a time (:mod:`.queue`), each job bounded by
``job_timeout`` with ``gap`` seconds between two, so scanning is never held off for long.
A sensor that cannot be reached is tried again after ``retry`` seconds; trouble is logged
once per sensor at WARNING, then at DEBUG.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from mihomekit.errors import MihomekitError
from mihomekit.readings import Value
from mihomekit.registry import Device, Registry
from mihomekit.sources import LOCAL_RECEIVER, SourceStatus

from .jobs import read_battery, set_clock
from .link import GattLink, Radio, display_mac
from .operations import local_utc_offset
from .queue import GattQueue

__all__ = ["SensorUpkeep", "radio_chooser"]

_LOGGER = logging.getLogger(__name__)

DAY = 86400.0
#: Seconds after the start before the first job (the scanner hears the sensors first).
FIRST_DELAY = 60.0
#: How often the jobs due are looked for (and the UTC offset is compared).
CHECK_EVERY = 60.0
#: Longest a single job (connection included) may take.
JOB_TIMEOUT = 20.0
#: Seconds kept free for scanning between two connections.
GAP = 10.0
#: A sensor that could not be reached is tried again after this many seconds.
RETRY = 900.0

#: The radio that reaches a sensor, from the receiver that hears it best (None: unknown).
RadioFor = Callable[[str | None], Radio | None]
Ingest = Callable[[str, Mapping[str, Value]], object]


class SensorUpkeep:
    """Sets clocks and reads batteries of the registry's BLE sensors, as a bridge source."""

    def __init__(
        self,
        registry: Registry,
        radio_for: RadioFor,
        *,
        set_clocks: bool = False,
        battery_poll_hours: float = 0.0,
        queue: GattQueue | None = None,
        ingest: Ingest | None = None,
        gap: float | None = None,
        first_delay: float | None = None,
        check_every: float | None = None,
        job_timeout: float | None = None,
        retry: float | None = None,
        clock: Callable[[], float] = time.time,
        utc_offset: Callable[[float], int] = local_utc_offset,
    ) -> None:
        self._registry = registry
        self._radio_for = radio_for
        self._set_clocks = set_clocks
        self._battery_every = battery_poll_hours * 3600.0
        self._queue = queue or GattQueue()
        # None: the module constants as they are now (tests shorten them)
        self._gap = GAP if gap is None else gap
        self._jobs_run = 0
        self._ingest: Ingest = ingest or registry.ingest
        self._first_delay = FIRST_DELAY if first_delay is None else first_delay
        self._check_every = CHECK_EVERY if check_every is None else check_every
        self._job_timeout = JOB_TIMEOUT if job_timeout is None else job_timeout
        self._retry = RETRY if retry is None else retry
        self._clock = clock
        self._utc_offset = utc_offset
        self._task: asyncio.Task[None] | None = None
        self._offset: int | None = None
        self._clocks_due_at = 0.0
        #: Sensors whose clock must be set, and when each may be tried (again).
        self._clock_pending: dict[str, float] = {}
        self._battery_next: dict[str, float] = {}
        #: The battery reading time this job wrote last, per sensor.
        self._battery_ours: dict[str, float | None] = {}
        self._warned: set[str] = set()
        self.status = SourceStatus("ble-upkeep", "sensor clocks and batteries")
        #: Jobs done and failed since the start.
        self.stats = {"clocks": 0, "batteries": 0, "failures": 0}

    async def start(self) -> None:
        if self._task is None and (self._set_clocks or self._battery_every > 0):
            self._task = asyncio.create_task(self._run(), name="mihomekit-ble-upkeep")
            self.status.set_connected(True)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.status.set_connected(False)

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.warning("sensor upkeep failed", exc_info=True)
            await asyncio.sleep(self._check_every)

    async def run_due(self) -> None:
        """Run every job that is due now."""
        self._jobs_run = 0
        now = self._clock()
        if self._set_clocks:
            offset = self._utc_offset(now)
            if now >= self._clocks_due_at or offset != self._offset:
                if self._offset is not None and offset != self._offset:
                    _LOGGER.info("UTC offset changed: setting sensor clocks again")
                self._offset = offset
                self._clocks_due_at = now + DAY
                for device in self._devices("clock"):
                    self._clock_pending[device.id] = now
            for device_id, when in list(self._clock_pending.items()):
                if when > now:
                    continue
                target = self._registry.get(device_id)
                if target is None or await self._job(target, "clock", self._do_clock):
                    del self._clock_pending[device_id]
                else:
                    self._clock_pending[device_id] = now + self._retry
        if self._battery_every > 0:
            for device in self._devices("battery"):
                if self._battery_next.get(device.id, now) > now:
                    continue
                if self._advertised_battery(device):
                    self._battery_next[device.id] = now + self._battery_every
                    continue
                done = await self._job(device, "battery", self._do_battery)
                self._battery_next[device.id] = now + (
                    self._battery_every if done else min(self._retry, self._battery_every)
                )

    def _devices(self, part: str) -> list[Device]:
        found = []
        for device in self._registry.devices():
            gatt = device.model.gatt if device.model is not None else None
            if device.source != "ble" or gatt is None or device.last_seen is None:
                continue
            if getattr(gatt, part) is not None:
                found.append(device)
        return found

    def _advertised_battery(self, device: Device) -> bool:
        """True if a battery level came from elsewhere since this job last wrote one."""
        heard = device.value_times.get("battery")
        return heard is not None and heard != self._battery_ours.get(device.id)

    # -- one job ------------------------------------------------------------------------

    async def _do_clock(self, link: GattLink, device: Device) -> None:
        assert device.model is not None
        now = self._clock()
        await set_clock(link, device.model, now, self._utc_offset(now))
        self.stats["clocks"] += 1
        _LOGGER.info("clock of %s (%s) set", device.name, display_mac(device.id))

    async def _do_battery(self, link: GattLink, device: Device) -> None:
        assert device.model is not None
        level = await read_battery(link, device.model, timeout=self._job_timeout)
        self._ingest(device.id, {"battery": level})
        self._battery_ours[device.id] = device.value_times.get("battery")
        self.stats["batteries"] += 1
        _LOGGER.info("battery of %s (%s): %d %%", device.name, display_mac(device.id), level)

    async def _job(
        self,
        device: Device,
        what: str,
        work: Callable[[GattLink, Device], Awaitable[None]],
    ) -> bool:
        radio = self._radio_for(device.best_receiver)
        if radio is None:
            return False
        mac = display_mac(device.id)
        if self._jobs_run:
            await asyncio.sleep(self._gap)  # scanning gets the radio back in between
        self._jobs_run += 1

        async def run() -> None:
            async with self._queue.session(radio, mac, timeout=self._job_timeout) as link:
                await work(link, device)

        try:
            await asyncio.wait_for(run(), self._job_timeout)
        except (MihomekitError, TimeoutError) as err:
            self.stats["failures"] += 1
            why = "timed out" if isinstance(err, TimeoutError) else str(err)
            self.status.error(f"{what} of {mac}: {why}")
            key = f"{device.id} {what}"
            if key in self._warned:
                _LOGGER.debug("%s of %s (%s) failed: %s", what, device.name, mac, why)
            else:
                self._warned.add(key)
                _LOGGER.warning(
                    "%s of %s (%s) failed: %s (retried every %g min; further failures "
                    "logged at debug level)",
                    what,
                    device.name,
                    mac,
                    why,
                    self._retry / 60,
                )
            return False
        self._warned.discard(f"{device.id} {what}")
        return True


def radio_chooser(local: Radio | None, proxies: Mapping[str, Radio]) -> RadioFor:
    """Pick the radio that hears a sensor best: a proxy by its receiver name, else ``local``."""

    def choose(receiver: str | None) -> Radio | None:
        if receiver is not None and receiver != LOCAL_RECEIVER and receiver in proxies:
            return proxies[receiver]
        return local

    return choose
