"""A real HomeKit controller (aiohomekit) for tests, talking to the bridge over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohomekit.characteristic_cache import CharacteristicCacheMemory
from aiohomekit.controller import Controller
from aiohomekit.uuid import normalize_uuid
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

LOOPBACK = "127.0.0.1"

# HAP service and characteristic types (short form).
SERVICE = {
    "AccessoryInformation": "3E",
    "TemperatureSensor": "8A",
    "HumiditySensor": "82",
    "LightSensor": "84",
    "MotionSensor": "85",
    "ContactSensor": "80",
    "LeakSensor": "83",
    "SmokeSensor": "87",
    "OccupancySensor": "86",
    "BatteryService": "96",
    "StatelessProgrammableSwitch": "89",
    "ServiceLabel": "CC",
    "Outlet": "47",
    "Switch": "49",
    "Lightbulb": "43",
    "WindowCovering": "8C",
    "CarbonDioxideSensor": "97",
    "AirQualitySensor": "8D",
}
CHAR = {
    "Name": "23",
    "Manufacturer": "20",
    "Model": "21",
    "SerialNumber": "30",
    "FirmwareRevision": "52",
    "CurrentTemperature": "11",
    "CurrentRelativeHumidity": "10",
    "CurrentAmbientLightLevel": "6B",
    "MotionDetected": "22",
    "ContactSensorState": "6A",
    "LeakDetected": "70",
    "SmokeDetected": "76",
    "OccupancyDetected": "71",
    "BatteryLevel": "68",
    "StatusLowBattery": "79",
    "StatusActive": "75",
    "ProgrammableSwitchEvent": "73",
    "ServiceLabelIndex": "CB",
    "On": "25",
    "Brightness": "8",
    "Hue": "13",
    "Saturation": "2F",
    "CurrentPosition": "6D",
    "TargetPosition": "7C",
    "PositionState": "72",
    "CarbonDioxideLevel": "93",
    "CarbonDioxideDetected": "92",
    "AirQuality": "95",
    "PM2.5Density": "C6",
    "PM10Density": "C7",
    "VOCDensity": "C8",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def driver_args(state_dir: Path) -> dict[str, Any]:
    """Keyword arguments of a HAP-python driver on 127.0.0.1 that is never started."""
    return {
        "address": LOOPBACK,
        "port": free_port(),
        "persist_file": str(state_dir / "accessory.state"),
        "pincode": b"182-11-234",
        "interface_choice": [LOOPBACK],
    }


def ready_line(proc: subprocess.Popen[str]) -> str:
    """Read a ``mihomekit run`` process's output up to its "... setup code ..." line."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    while line and "setup code" not in line:
        line = proc.stdout.readline()
    return line


def same_type(value: str, short: str) -> bool:
    return normalize_uuid(value) == normalize_uuid(short)


class AccessoryView:
    """The /accessories listing, navigable by service and characteristic names."""

    def __init__(self, listing: list[dict[str, Any]]) -> None:
        self.by_aid = {acc["aid"]: acc for acc in listing}

    def aids(self) -> set[int]:
        return set(self.by_aid)

    def services(self, aid: int, service: str) -> list[dict[str, Any]]:
        return [s for s in self.by_aid[aid]["services"] if same_type(s["type"], SERVICE[service])]

    def service_names(self, aid: int) -> list[str]:
        names = []
        for svc in self.by_aid[aid]["services"]:
            for name, short in SERVICE.items():
                if same_type(svc["type"], short):
                    names.append(name)
        return names

    def char(self, aid: int, service: str, char: str, index: int = 0) -> dict[str, Any]:
        svc = self.services(aid, service)[index]
        for c in svc["characteristics"]:
            if same_type(c["type"], CHAR[char]):
                return dict(c)
        raise KeyError(f"{service}.{char} not on aid {aid}")

    def iid(self, aid: int, service: str, char: str, index: int = 0) -> int:
        return int(self.char(aid, service, char, index)["iid"])

    def info(self, aid: int) -> dict[str, Any]:
        return {
            name: self.char(aid, "AccessoryInformation", name)["value"]
            for name in ("Name", "Manufacturer", "Model", "SerialNumber", "FirmwareRevision")
        }

    def aid_by_serial(self, serial: str) -> int:
        for aid in self.by_aid:
            if aid != 1 and self.info(aid)["SerialNumber"] == serial:
                return aid
        raise KeyError(serial)


class EventLog:
    """Collects events from a pairing; ``wait_for`` returns when a matching one arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, tuple[int, int], Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, data: dict[tuple[int, int], dict[str, Any]]) -> None:
        now = asyncio.get_running_loop().time()
        for key, payload in data.items():
            if "value" in payload:
                self.events.append((now, key, payload["value"]))
        self._changed.set()

    def values(self, key: tuple[int, int]) -> list[Any]:
        return [v for _, k, v in self.events if k == key]

    def __iter__(self) -> Iterator[tuple[float, tuple[int, int], Any]]:
        return iter(self.events)

    async def wait_for(self, key: tuple[int, int], value: Any, timeout: float = 5.0) -> float:
        """Wait for ``key`` to report ``value``; returns the loop time it arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for t, k, v in self.events:
                if k == key and v == value:
                    return t
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no event {key}={value!r}; got {self.events}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


async def assert_sent_immediately(
    log: EventLog,
    alert: tuple[tuple[int, int], Any],
    coalesced: tuple[tuple[int, int], Any],
) -> None:
    """The alert event came in an earlier EVENT message than a value changed right after it.

    HAP-python holds ordinary changes for its coalescing window (~0.5 s) and sends them in
    one message; an immediately sent alert arrives on its own, before that message.
    """
    alert_at = await log.wait_for(*alert)
    coalesced_at = await log.wait_for(*coalesced)
    assert alert_at < coalesced_at, (alert, coalesced, log.events)


@asynccontextmanager
async def controller_on(interface: str) -> Any:
    """An aiohomekit controller whose mDNS is bound to the address ``interface`` only."""
    zeroconf = AsyncZeroconf(interfaces=[interface])
    # aiohomekit expects the application to run the _hap._tcp browser (as Home Assistant does).
    browser = AsyncServiceBrowser(
        zeroconf.zeroconf,
        ["_hap._tcp.local.", "_hap._udp.local."],
        handlers=[lambda **_kwargs: None],
    )
    controller = Controller(
        async_zeroconf_instance=zeroconf, char_cache=CharacteristicCacheMemory()
    )
    await controller.async_start()
    try:
        yield controller
    finally:
        await controller.async_stop()
        await browser.async_cancel()
        await zeroconf.async_close()


def controller_on_loopback() -> Any:
    """An aiohomekit controller whose mDNS is bound to 127.0.0.1 only."""
    return controller_on(LOOPBACK)


async def pair(controller: Controller, device_id: str, code: str, alias: str = "test") -> Any:
    discovery = await controller.async_find(device_id, timeout=15)
    finish = await discovery.async_start_pairing(alias)
    return await finish(code)
