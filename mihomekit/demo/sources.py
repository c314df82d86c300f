"""Sources the demo feeds the bridge with."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from mihomekit.registry import DeviceSink, Registry
from mihomekit.sources import SourceStatus
from mihomekit.sources.recording import RecordedAdvertisement, ReplaySource, parse_record
from mihomekit.wording import counted

from .data import bundled_text
from .frames import frames_for_pass

if TYPE_CHECKING:
    from mihomekit.app import App

#: Without a terminal (a log), the activity line is written at most this often (seconds).
LOG_ACTIVITY_INTERVAL = 60.0


def bundled_recording() -> list[RecordedAdvertisement]:
    return [
        parse_record(json.loads(line))
        for line in bundled_text("recording.jsonl").splitlines()
        if line.strip() and not line.startswith("#")
    ]


class Restamper:
    """Turns pass ``n`` of the bundled recording into fresh frames (newer counters)."""

    def __init__(self, records: list[RecordedAdvertisement]) -> None:
        self._index = {(r.t, r.mac, r.uuid): i for i, r in enumerate(records)}
        self._pass = -1
        self._frames: list[RecordedAdvertisement] = []

    def __call__(self, pass_number: int, record: RecordedAdvertisement) -> RecordedAdvertisement:
        if pass_number == 0:
            return record
        if pass_number != self._pass:
            self._frames = frames_for_pass(pass_number)
            self._pass = pass_number
        index = self._index.get((record.t, record.mac, record.uuid))
        return record if index is None else self._frames[index]


def replay_source(speed: float = 1.0) -> Callable[[App], Any]:
    """The bundled recording, looped, through the bridge's real decoder and registry."""

    def factory(app: App) -> Any:
        records = bundled_recording()
        return ReplaySource(
            records,
            app.registry.handle,
            speed=speed,
            loop=True,
            transform=Restamper(records),
        )

    return factory


class DemoGateway:
    """A simulated Aqara gateway on 127.0.0.2 and the real adapter talking to it."""

    def __init__(self, sink: DeviceSink, *, activity_interval: float = 7.0) -> None:
        from mihomekit.sources.gateway.simulator import GatewaySimulator

        self.sink = sink
        self.simulator = GatewaySimulator(
            host="127.0.0.2",
            port=0,
            discovery_port=0,
            heartbeat_interval=10.0,
            activity_interval=activity_interval,
        )
        self.link: Any = None
        self._status = SourceStatus("gateway", "demo gateway (simulated)")

    @property
    def status(self) -> SourceStatus:
        return self._status if self.link is None else self.link.status

    async def start(self) -> None:
        from mihomekit.sources.gateway.simulator import demo_settings
        from mihomekit.sources.gateway.source import GatewaySource

        await self.simulator.start()
        self.link = GatewaySource(self.sink, demo_settings(self.simulator))
        await self.link.start()
        self.simulator.report_to = ("127.0.0.1", self.link.adapter.report_address[1])

    async def stop(self) -> None:
        if self.link is not None:
            await self.link.stop()
        await self.simulator.stop()


def gateway_source(activity_interval: float = 7.0) -> Callable[[App], Any]:
    def factory(app: App) -> Any:
        return DemoGateway(app.registry, activity_interval=activity_interval)

    return factory


class ActivityLine:
    """Shows what went through the bridge (for the demo).

    On a terminal, one line rewritten in place every ``interval`` seconds, so that the QR
    code above it stays on screen; otherwise (a log) a line at most every
    :data:`LOG_ACTIVITY_INTERVAL` seconds.
    """

    def __init__(
        self,
        registry: Registry,
        paired: Callable[[], int],
        interval: float,
        *,
        stream: TextIO | None = None,
    ) -> None:
        self.registry = registry
        self.paired = paired
        self.stream = stream or sys.stdout
        self.in_place = self.stream.isatty()
        self.interval = interval if self.in_place else max(interval, LOG_ACTIVITY_INTERVAL)
        self._task: asyncio.Task[None] | None = None

    def line(self) -> str:
        """``demo: 120 advertisements, 4 events, 0 paired controllers``."""
        adverts = self.registry.stats["advertisements"]
        events = self.registry.stats["events"]
        paired = self.paired()
        return (
            f"demo: {counted(adverts, 'advertisement')}, {counted(events, 'event')}, "
            f"{counted(paired, 'paired controller')}"
        )

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.in_place:
                self.stream.write("\r\x1b[K" + self.line())
                self.stream.flush()
            else:
                print(self.line(), file=self.stream, flush=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            if self.in_place:
                self.stream.write("\n")
                self.stream.flush()


def activity_source(interval: float) -> Callable[[App], Any]:
    def factory(app: App) -> Any:
        return ActivityLine(app.registry, lambda: app.paired_controllers, interval)

    return factory
