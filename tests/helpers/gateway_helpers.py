"""Shared pieces for the gateway and miIO tests: sinks, simulator wiring, CLI runner.

Everything stays on loopback: simulators bind 127.0.0.2/127.0.0.3 on ephemeral ports,
reports go unicast to the adapter (or multicast with IP_MULTICAST_IF=127.0.0.1, TTL 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mihomekit.catalog import DeviceModel
from mihomekit.commands import gateway as gateway_cli
from mihomekit.errors import MihomekitError
from mihomekit.readings import Event, Value
from mihomekit.settings import GatewayNetworkSettings, GatewaySettings
from mihomekit.sources.gateway.simulator import DEMO_PASSWORD, GatewaySimulator
from mihomekit.sources.gateway.transport import GatewayAdapter

GATEWAY_HOST = "127.0.0.2"
MIIO_HOST = "127.0.0.3"
CLIENT_HOST = "127.0.0.1"
PASSWORD = DEMO_PASSWORD
GATEWAY_SID = "7811dcb78b2f"


@dataclass
class Reading:
    device_id: str
    values: dict[str, Value]
    events: list[Event]
    heartbeat: bool


@dataclass
class RecordingSink:
    """A :class:`~mihomekit.sources.gateway.ReadingSink` that keeps everything it is given."""

    devices: dict[str, DeviceModel] = field(default_factory=dict)
    readings: list[Reading] = field(default_factory=list)

    def on_device(self, device_id: str, model: DeviceModel, name: str | None) -> None:
        self.devices[device_id] = model

    def on_reading(
        self,
        device_id: str,
        values: Mapping[str, Value],
        events: Sequence[Event],
        *,
        heartbeat: bool = False,
    ) -> None:
        self.readings.append(Reading(device_id, dict(values), list(events), heartbeat))

    def for_device(self, device_id: str) -> list[Reading]:
        return [r for r in self.readings if r.device_id == device_id]

    def events(self) -> list[tuple[str, Event]]:
        return [(r.device_id, e) for r in self.readings for e in r.events]


async def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def unicast_settings(
    sim: GatewaySimulator, *, password: str | None = PASSWORD, **kwargs: Any
) -> GatewayNetworkSettings:
    """Settings for an adapter on 127.0.0.1 that asks ``sim`` directly (no multicast)."""
    values: dict[str, Any] = {
        "discover": False,
        "interface": CLIENT_HOST,
        "report_port": 0,
        "gateways": (GatewaySettings(host=sim.host, port=sim.port, password=password),),
    }
    values.update(kwargs)
    return GatewayNetworkSettings(**values)


@contextlib.asynccontextmanager
async def unicast_pair(
    *,
    proto: int = 1,
    password: str | None = PASSWORD,
    sim_kwargs: Mapping[str, Any] | None = None,
    adapter_kwargs: Mapping[str, Any] | None = None,
) -> AsyncIterator[tuple[GatewaySimulator, GatewayAdapter, RecordingSink]]:
    """A simulator on 127.0.0.2 and a started adapter; reports go unicast to the adapter."""
    options: dict[str, Any] = {
        "proto": proto,
        "host": GATEWAY_HOST,
        "port": 0,
        "discovery_port": 0,
        "heartbeat_interval": None,
    }
    options.update(sim_kwargs or {})
    sim = GatewaySimulator(**options)
    await sim.start()
    sink = RecordingSink()
    extra: dict[str, Any] = {"request_timeout": 0.5}
    extra.update(adapter_kwargs or {})
    adapter = GatewayAdapter(unicast_settings(sim, password=password), sink, **extra)
    try:
        await adapter.start()
        sim.report_to = (CLIENT_HOST, adapter.report_address[1])
        yield sim, adapter, sink
    finally:
        await adapter.stop()
        await sim.stop()


class LoopThread:
    """An asyncio loop in a thread, to host simulators while CLI code runs its own loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def run(self, coro: Awaitable[Any]) -> Any:
        async def wrapper() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


@contextlib.contextmanager
def simulators_in_thread(*sims: Any) -> Iterator[LoopThread]:
    """Start gateway/miIO simulators on a background loop for the duration."""
    with LoopThread() as thread:
        for sim in sims:
            thread.run(sim.start())
        try:
            yield thread
        finally:
            for sim in sims:
                thread.run(sim.stop())


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*argv: str) -> CliResult:
    """Run a ``gateway``/``miio`` command like ``mihomekit`` does (errors → exit 1)."""
    parser = argparse.ArgumentParser(prog="mihomekit")
    gateway_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = int(args.func(args))
        except MihomekitError as error:
            print(f"mihomekit: {error}", file=err)
            code = 1
    return CliResult(code, out.getvalue(), err.getvalue())
