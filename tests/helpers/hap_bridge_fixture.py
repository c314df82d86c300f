"""The bridge's HAP server on 127.0.0.1 for attack and durability tests, and its controllers.

``running_bridge`` starts a :class:`mihomekit.homekit.BridgeDriver` in the test's loop;
``BridgeProcess`` runs one in a subprocess (``tests/hap_bridge_server.py``). Both serve a
bridge with one bridged switch whose On characteristic is :data:`SWITCH_ON`.
Controllers are either the raw client (:mod:`hapraw`) or aiohomekit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hapraw
from aiohomekit.characteristic_cache import CharacteristicCacheMemory
from aiohomekit.controller.ip.connection import HomeKitConnection
from aiohomekit.controller.ip.pairing import IpPairing
from aiohomekit.protocol import perform_pair_setup_part1, perform_pair_setup_part2
from hap_bridge_server import LOOPBACK, SETUP_CODE, SWITCH_ON, build_driver
from homekit_helpers import free_port

WRONG_CODE = "031-45-155"
SERVER_SCRIPT = Path(__file__).with_name("hap_bridge_server.py")


class Endpoint:
    """Connections, pairing and the "still serves" check for a bridge at ``port``."""

    port: int

    async def connect(self, local_host: str | None = None) -> hapraw.HapConnection:
        """A new connection (from ``local_host``, another loopback address, if given)."""
        return await hapraw.HapConnection.open(LOOPBACK, self.port, local_host=local_host)

    async def pair(self, controller: hapraw.Controller | None = None) -> hapraw.PairingRecord:
        """Pair a controller with the right code (raw client)."""
        return await hapraw.pair_setup(LOOPBACK, self.port, SETUP_CODE, controller)

    async def verified(self, pairing: hapraw.PairingRecord) -> hapraw.HapConnection:
        return await hapraw.open_verified(LOOPBACK, self.port, pairing)

    async def remove(self, pairing: hapraw.PairingRecord) -> None:
        """``pairing``'s controller removes its own pairing (acknowledged)."""
        async with await self.verified(pairing) as conn:
            reply = await hapraw.remove_pairing(conn, pairing.controller.pairing_id)
        assert hapraw.state_error(reply) == (2, None), reply

    async def assert_serves(self, pairing: hapraw.PairingRecord) -> None:
        """A new connection of ``pairing``'s controller pair-verifies and reads the switch."""
        async with await self.verified(pairing) as conn:
            values = await hapraw.get_characteristics(conn, [SWITCH_ON])
        assert values[SWITCH_ON] in (False, True, 0, 1), values


@dataclass
class RunningBridge(Endpoint):
    """A bridge started in the test's own event loop."""

    driver: Any
    port: int
    state_dir: Path

    @property
    def paired(self) -> bool:
        return bool(self.driver.state.paired)


@asynccontextmanager
async def running_bridge(state_dir: Path, **limits: Any) -> AsyncIterator[RunningBridge]:
    """Start a bridge with ``ServerLimits(**limits)`` on a free port; stop it afterwards."""
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    driver = build_driver(asyncio.get_running_loop(), state_dir, port, limits)
    await driver.async_start()
    try:
        yield RunningBridge(driver, port, state_dir)
    finally:
        await driver.async_stop()


class BridgeProcess(Endpoint):
    """``tests/hap_bridge_server.py`` in a subprocess, with its stderr in a file."""

    def __init__(
        self,
        state_dir: Path,
        port: int | None = None,
        limits: dict[str, Any] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.port = port if port is not None else free_port()
        self.limits = limits or {}
        self.preexec_fn = preexec_fn
        self.stderr_path = state_dir.parent / f"{state_dir.name}.stderr"
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> None:
        """Start the process and wait for its "ready" line."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.stderr_path.open("a") as stderr:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(SERVER_SCRIPT),
                    str(self.state_dir),
                    str(self.port),
                    json.dumps(self.limits),
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                preexec_fn=self.preexec_fn,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # HAP-python prints a line of its own first
        while line and line.strip() != "ready":
            line = self.proc.stdout.readline()
        assert line.strip() == "ready", self.stderr()

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind in the bridge."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_stdout()

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL if it hangs)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_stdout()

    def _close_stdout(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def stderr(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.stderr_path.read_text(errors="replace")
        return ""

    def __enter__(self) -> BridgeProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def assert_clean_stderr(text: str, limit: int = 50_000) -> None:
    """No traceback in a bridge's stderr, and not a flood of lines."""
    assert "Traceback" not in text, text[-5000:]
    assert len(text.encode()) < limit, text[-2000:]


# --------------------------------------------------------------------------- aiohomekit


def _aiohomekit_owner() -> Any:
    """What an IpPairing needs from its controller: a characteristic cache."""
    return SimpleNamespace(_char_cache=CharacteristicCacheMemory())


def aiohomekit_pairing(pairing: hapraw.PairingRecord, port: int) -> IpPairing:
    """An aiohomekit IpPairing for a pairing made by the raw client."""
    data = {
        "AccessoryPairingID": pairing.accessory_id,
        "AccessoryLTPK": pairing.accessory_ltpk.hex(),
        "iOSPairingId": pairing.controller.pairing_id,
        "iOSDeviceLTSK": pairing.controller.ltsk.hex(),
        "iOSDeviceLTPK": pairing.controller.ltpk.hex(),
        "AccessoryIP": LOOPBACK,
        "AccessoryIPs": [LOOPBACK],
        "AccessoryPort": port,
        "Connection": "IP",
    }
    return IpPairing(_aiohomekit_owner(), data)


async def _drive(connection: HomeKitConnection, machine: Generator[Any, Any, Any]) -> Any:
    """Run one of aiohomekit's pair-setup state machines over ``connection``; its result."""
    request, expected = machine.send(None)
    while True:
        response = await connection.post_tlv("/pair-setup", body=request, expected=expected)
        try:
            request, expected = machine.send(response)
        except StopIteration as done:
            return done.value


async def aiohomekit_pair(port: int, code: str = SETUP_CODE) -> IpPairing:
    """Pair-setup with aiohomekit's own protocol code; its IpPairing."""
    connection = HomeKitConnection(None, [LOOPBACK], port)
    await connection.ensure_connection()
    try:
        salt, public_b = await _drive(connection, perform_pair_setup_part1(with_auth=False))
        controller_id = hapraw.Controller().pairing_id
        data = await _drive(
            connection, perform_pair_setup_part2(code, controller_id, salt, public_b)
        )
    finally:
        await connection.close()
    data.update(AccessoryIP=LOOPBACK, AccessoryIPs=[LOOPBACK], AccessoryPort=port, Connection="IP")
    return IpPairing(_aiohomekit_owner(), data)


async def assert_aiohomekit_reads(pairing: IpPairing) -> None:
    """The aiohomekit controller reads the switch (connecting and pair-verifying if needed)."""
    values = await asyncio.wait_for(pairing.get_characteristics([SWITCH_ON]), 15)
    assert "value" in values[SWITCH_ON], values


@asynccontextmanager
async def aiohomekit_controller(
    port: int, pairing: hapraw.PairingRecord | None = None
) -> AsyncIterator[IpPairing]:
    """An aiohomekit controller: paired now with the right code, or as ``pairing``."""
    controller = (
        aiohomekit_pairing(pairing, port) if pairing is not None else await aiohomekit_pair(port)
    )
    try:
        yield controller
    finally:
        await controller.close()
