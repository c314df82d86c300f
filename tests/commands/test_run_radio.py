"""``mihomekit run`` with the local radio: a bridge process whose bleak talks to the BlueZ
stand-in (``DBUS_SYSTEM_BUS_ADDRESS``). Advertisements reach the registry, and when
bluetoothd crashes the dashboard's Sources page and ``/metrics`` say so, the log says it
once, and readings flow again when it is back."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import aiohttp
import pytest
from ble_helpers import ATC1441, advertise_until
from bluez_fake import FakeBluez
from homekit_helpers import free_port
from run_helpers import SETUP_MAC, running

pytestmark = pytest.mark.timeout(90)

KITCHEN = '[{"MAC":"A4C138BC7C4E","PID":"0a1c","key":"","name":"Kitchen"}]'
CONNECTED = 'mihomekit_source_connected{kind="ble",source="hci0"}'
HEARD = re.compile(r'^mihomekit_advertisements_total\{receiver="local"\} (\d+)$', re.M)


class Dashboard:
    """The bridge's /metrics and /sources, read as they change."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}"
        self.metrics = ""

    async def read(self, path: str) -> str:
        try:
            async with self.session.get(self.base + path) as response:
                return await response.text() if response.status == 200 else ""
        except aiohttp.ClientError:
            return ""  # not serving yet

    async def refresh(self) -> str:
        self.metrics = await self.read("/metrics")
        return self.metrics

    def heard(self) -> int:
        found = HEARD.search(self.metrics)
        return int(found.group(1)) if found else 0

    async def until(self, condition: str, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while condition not in await self.refresh():
            assert loop.time() < deadline, f"/metrics never showed {condition!r}:\n{self.metrics}"
            await asyncio.sleep(0.1)


async def test_run_with_the_local_radio_through_a_bluetoothd_crash(tmp_path: Path) -> None:
    mi32cfg = tmp_path / "mi32cfg.json"
    mi32cfg.write_text(KITCHEN, encoding="utf-8")
    web = free_port()
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(
        f'[ble]\nadapter = "hci0"\nwatchdog_seconds = 600\n[web]\nport = {web}\n',
        encoding="utf-8",
    )
    args = ["run", "--state-dir", str(tmp_path / "state"), "--address", "127.0.0.1"]
    args += ["--port", str(free_port()), "--mac", SETUP_MAC, "--no-gateway"]
    args += ["--config", str(mi32cfg), "--settings", str(settings)]
    async with FakeBluez.running(tmp_path / "bluez") as bluez, aiohttp.ClientSession() as http:
        with running(*args, env=bluez.environ()) as proc:
            dash = Dashboard(http, web)
            await dash.until(f"{CONNECTED} 1")

            async def heard_more(than: int) -> bool:
                await dash.refresh()
                return dash.heard() > than

            await advertise_polling(bluez, lambda: heard_more(0))
            assert bluez.active_monitors()  # the bridge scans passively

            await bluez.crash()
            await dash.until(f"{CONNECTED} 0")
            assert "bluetoothd is not running" in await dash.read("/sources")
            before = dash.heard()
            await bluez.start_daemon()
            await advertise_polling(bluez, lambda: heard_more(before))
            assert f"{CONNECTED} 1" in dash.metrics

            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.to_thread(proc.communicate, timeout=30)
            assert proc.returncode == 0, err
    # one line for the transition (the recovery is logged at INFO, shown with -v)
    assert err.count("BLE scanning stopped: bluetoothd is not running") == 1
    assert "Traceback" not in err


async def advertise_polling(bluez: FakeBluez, heard: object) -> None:
    """Advertise the Kitchen thermometer until ``await heard()`` is true (polled each 0.2 s)."""
    done = False

    async def poll() -> None:
        nonlocal done
        while not await heard():  # type: ignore[operator]
            await asyncio.sleep(0.2)
        done = True

    poller = asyncio.ensure_future(poll())
    try:
        await advertise_until(bluez, lambda: done, ATC1441, timeout=30)
    finally:
        poller.cancel()
