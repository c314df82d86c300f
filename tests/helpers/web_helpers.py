"""A bridge with the Mi Dashboard on 127.0.0.1, run in a thread of its own (for browser tests).

Selenium calls block, so the bridge (and any aiohomekit controller) lives in an event
loop on a background thread; tests hand it work with :meth:`BridgeThread.run` and
:meth:`BridgeThread.call`. Frames are built with the project's own encoder.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from homekit_helpers import free_port

from mihomekit.app import App, AppConfig
from mihomekit.commands.run import web_output as web_output_factory
from mihomekit.decoders import build
from mihomekit.demo import demo_entries
from mihomekit.mi32cfg import DeviceEntry, save_mi32cfg
from mihomekit.outputs.web.server import WebOutput

T = TypeVar("T")
SETUP_MAC = "B8:27:EB:12:34:56"
SETUP_CODE = "182-11-234"
PASSWORD = "correct horse battery"
#: The demo's Living Room thermometer (LYWSD03MMC with a bind key).
LIVING = next(e for e in demo_entries() if e.name == "Living Room")


def display(mac: str) -> str:
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))


def th_frame(entry: DeviceEntry, counter: int, temperature: float) -> bytes:
    """An encrypted LYWSD03MMC temperature frame (MiBeacon v5) for ``entry``."""
    return build.mibeacon_frame(
        0x055B,
        counter & 0xFF,
        [(0x1004, struct.pack("<h", round(temperature * 10)))],
        mac=display(entry.mac),
        key=entry.key,
        ext_counter=counter,
    )


def dashboard_config(
    state_dir: Path,
    mi32cfg: Path,
    *,
    password_hash: str | None,
    entries: list[DeviceEntry] | None = None,
    web_port: int = 0,
    sources: list[Any] | None = None,
) -> AppConfig:
    """A bridge on 127.0.0.1 with the demo devices (written to ``mi32cfg``) and the dashboard."""
    devices = demo_entries() if entries is None else entries
    save_mi32cfg(mi32cfg, devices)

    return AppConfig(
        state_dir=state_dir,
        address="127.0.0.1",
        port=free_port(),
        setup_code_mac=SETUP_MAC,
        entries=devices,
        mi32cfg=mi32cfg,
        print_setup=False,
        outputs=[web_output_factory(port=web_port, password_hash=password_hash)],
        sources=list(sources or []),
        child_bridges=False,
    )


def web_output(app: App) -> WebOutput:
    return next(o for o in app.outputs if isinstance(o, WebOutput))


class BridgeThread:
    """An event loop on a thread, running one bridge."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.app: App | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, func: Callable[..., T], *args: Any) -> T:
        async def call() -> T:
            return func(*args)

        return self.run(call())

    def start(self, config: AppConfig) -> App:
        async def start() -> App:
            app = App(config)
            await app.start()
            return app

        self.app = self.run(start())
        return self.app

    @property
    def web(self) -> WebOutput:
        assert self.app is not None
        return web_output(self.app)

    @property
    def url(self) -> str:
        return self.web.url

    def feed(self, entry: DeviceEntry | str, data: bytes, rssi: int = -60) -> None:
        """One advertisement (service data 0xFE95) to the registry, in the bridge's loop."""
        mac = entry if isinstance(entry, str) else display(entry.mac)
        assert self.app is not None
        self.call(self.app.registry.handle_advertisement, mac, 0xFE95, data, rssi)

    def stop(self) -> None:
        if self.app is not None:
            self.run(self.app.stop())
            self.app = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
