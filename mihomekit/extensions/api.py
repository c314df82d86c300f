"""The API an extension gets: advertisements, devices, values, timers, GATT connections.

Everything an extension hands to the API (a callback, a job) runs on the bridge's event
loop, guarded: if it raises, the extension is logged once with the traceback and
disabled (its subscriptions and jobs end); the bridge goes on. Callbacks must be quick
and must not block (an advertisement callback runs for every matching advertisement).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from mihomekit.ble.link import GattError, GattLink, display_mac
from mihomekit.readings import Value
from mihomekit.registry import Device, DeviceSink
from mihomekit.tap import AdvertisementTap, Interest, RawAdvertisement

if TYPE_CHECKING:
    from mihomekit.ble.queue import GattQueue
    from mihomekit.ble.upkeep import RadioFor

#: ``on_failure(api, err, where)``: an extension's code raised (it is then disabled).
FailureHandler = Callable[["ExtensionApi", BaseException, str], None]

__all__ = ["AdvertisementCallback", "DeviceInfo", "ExtensionApi", "GattError", "GattLink", "Job"]

#: ``callback(advertisement)``, called for every advertisement subscribed to.
AdvertisementCallback = Callable[[RawAdvertisement], object]
#: ``job()``: a function or a coroutine function run by :meth:`ExtensionApi.every`.
Job = Callable[[], Awaitable[object] | object]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as an extension sees it (a copy: changing it changes nothing).

    ``model`` is the model name (``LYWSD03MMC``) or None; ``mac`` the address of a
    Bluetooth device (``A4:C1:38:12:34:56``), else None; ``age`` the seconds since it was
    last heard (None: never).
    """

    id: str
    name: str
    source: str
    model: str | None
    mac: str | None
    values: Mapping[str, Value]
    age: float | None

    @classmethod
    def of(cls, device: Device, now: float) -> DeviceInfo:
        mac = None
        if device.source == "ble" and len(device.id) == 12:
            mac = ":".join(device.id[i : i + 2] for i in range(0, 12, 2))
        return cls(
            id=device.id,
            name=device.name,
            source=device.source,
            model=device.model.model if device.model is not None else None,
            mac=mac,
            values=MappingProxyType(dict(device.values)),
            age=None if device.last_seen is None else max(0.0, now - device.last_seen),
        )


class ExtensionApi:
    """What one extension may do with the bridge.

    ``name`` is the extension's name (its module or entry point), ``options`` its
    ``[extensions.options]`` table and ``log`` its logger (``mihomekit.extensions.<name>``).
    """

    def __init__(
        self,
        name: str,
        options: Mapping[str, Any],
        *,
        sink: DeviceSink,
        tap: AdvertisementTap,
        queue: GattQueue,
        radio_for: RadioFor | None,
        on_failure: FailureHandler,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.options: Mapping[str, Any] = MappingProxyType(dict(options))
        self.log = logging.getLogger(f"mihomekit.extensions.{name}")
        self._queue = queue
        self._radio_for = radio_for
        self._on_failure = on_failure
        self._sink = sink
        self._tap = tap
        self._clock = clock
        self._unsubscribe: list[Callable[[], object]] = []
        self._on_stop: list[Callable[[], object]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: False once the extension was disabled (or the bridge stopped).
        self.enabled = True

    # -- advertisements ------------------------------------------------------------------

    def on_advertisement(
        self,
        callback: AdvertisementCallback,
        *,
        addresses: Iterable[str] = (),
        uuids: Iterable[int | str] = (),
        companies: Iterable[int] = (),
    ) -> Callable[[], None]:
        """Call ``callback`` with every advertisement from one of ``addresses``, listing or
        carrying data for one of the service ``uuids``, or with manufacturer data of one of
        the ``companies``; with none of them, every advertisement every radio hears.
        Returns the function that ends the subscription.

        Subscribe in ``setup``: the radios learn what to listen for when they start.
        ValueError for an address or UUID that is not one.
        """
        addresses, uuids, companies = list(addresses), list(uuids), list(companies)
        if addresses or uuids or companies:
            interest = Interest.of(addresses=addresses, service_uuids=uuids, company_ids=companies)
        else:
            interest = Interest(everything=True)
        guarded = self._guarded(callback, "an advertisement callback")
        unwatch = self._tap.watch(guarded, interest, name=f"extension {self.name}")
        self._unsubscribe.append(unwatch)
        return unwatch

    # -- devices -------------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        """Every device the bridge knows."""
        now = self._clock()
        return [DeviceInfo.of(device, now) for device in self._sink.devices()]

    def device(self, device_id: str) -> DeviceInfo | None:
        """One device by id (a BLE MAC as 12 hex digits or with colons), or None."""
        device = self._sink.get(_device_id(device_id))
        return None if device is None else DeviceInfo.of(device, self._clock())

    def set_values(self, device_id: str, values: Mapping[str, Value]) -> bool:
        """Give a device new values (``{"battery": 87}``): they reach HomeKit, MQTT and the
        dashboard like any reading. False if the device is unknown (or the extension is
        disabled). Names and units are those of :mod:`mihomekit.readings`."""
        if not self.enabled:
            return False
        clean: dict[str, Value] = {}
        for key, value in values.items():
            if not isinstance(key, str) or not isinstance(value, bool | int | float | str):
                raise TypeError(f"values are names → bool, int, float or str, got {key!r}")
            clean[key] = value
        return self._sink.ingest(_device_id(device_id), clean)

    # -- GATT ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def connect(self, device: str, *, timeout: float = 20.0) -> AsyncIterator[GattLink]:
        """A GATT connection to a Bluetooth sensor (its MAC, or its device id), closed at
        the end of the ``async with`` block.

        It goes through the radio that hears the sensor best (this host's adapter or an
        ESPHome proxy) and waits for that radio to be free: one connection at a time per
        radio, in the same queue as ``mihomekit ble`` and the bridge's clock and battery
        jobs. The link reads, writes and subscribes to characteristics named by their
        service's UUID and their own (``await link.read(service, char)``,
        ``await link.write(service, char, data)``, ``await link.start_notify(service, char,
        callback)``). Raises :class:`~mihomekit.ble.link.GattError` when the sensor cannot
        be reached: catch it (an exception that escapes a job disables the extension).
        """
        device_id = _device_id(device)
        if len(device_id) != 12 or not all(c in "0123456789ABCDEF" for c in device_id):
            raise ValueError(f"not a Bluetooth address: {device!r}")
        if self._radio_for is None:
            raise GattError("this bridge has no radio to connect with")
        known = self._sink.get(device_id)
        radio = self._radio_for(known.best_receiver if known is not None else None)
        mac = display_mac(device_id)
        if radio is None:
            raise GattError(f"no radio of this bridge reaches {mac}")
        async with self._queue.session(radio, mac, timeout=timeout) as link:
            yield link

    # -- time ----------------------------------------------------------------------------

    def every(self, seconds: float, job: Job, *, first: float | None = None) -> Callable[[], None]:
        """Run ``job`` (a function or coroutine function) every ``seconds``, the first time
        after ``first`` seconds (default: ``seconds``). Runs never overlap. Returns the
        function that stops it."""
        if seconds <= 0:
            raise ValueError("every() needs a positive number of seconds")
        guarded = self._guarded(job, "a job")

        async def loop() -> None:
            await asyncio.sleep(seconds if first is None else max(0.0, first))
            while self.enabled:
                result = guarded()
                if inspect.isawaitable(result):
                    await self._await_guarded(result, "a job")
                await asyncio.sleep(seconds)

        task = asyncio.get_running_loop().create_task(loop(), name=f"extension {self.name} job")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

        def stop() -> None:
            task.cancel()

        return stop

    def on_stop(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` when the bridge stops (or the extension is disabled)."""
        self._on_stop.append(callback)

    # -- the host's side -----------------------------------------------------------------

    def _guarded(self, fn: Callable[..., Any], where: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            if not self.enabled:
                return None
            try:
                return fn(*args)
            except Exception as err:
                self._on_failure(self, err, where)
                return None

        return call

    async def _await_guarded(self, result: Awaitable[object], where: str) -> None:
        """Await what the extension's callback returned; if it raises, it is disabled."""
        try:
            await result
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self._on_failure(self, err, where)

    def close(self) -> None:
        """End every subscription and job, then call the stop callbacks (once)."""
        if not self.enabled:
            return
        self.enabled = False
        unsubscribe, self._unsubscribe = self._unsubscribe, []
        for done in unsubscribe:
            with contextlib.suppress(Exception):
                done()
        for task in list(self._tasks):
            task.cancel()
        on_stop, self._on_stop = self._on_stop, []
        for callback in on_stop:
            try:
                callback()
            except Exception:
                self.log.warning("the stop callback failed", exc_info=True)


def _device_id(text: str) -> str:
    """A BLE MAC (``a4:c1:…`` or 12 hex digits) as the registry's id; other ids as they are."""
    compact = text.replace(":", "").replace("-", "")
    if len(compact) == 12 and all(c in "0123456789abcdefABCDEF" for c in compact):
        return compact.upper()
    return text
