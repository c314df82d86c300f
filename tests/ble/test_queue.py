"""One GATT connection at a time per radio: in one process and between processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mihomekit.ble.link import GattError
from mihomekit.ble.queue import GattQueue


class _Link:
    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name

    async def close(self) -> None:
        self.log.append(f"close {self.name}")


class _Radio:
    def __init__(self, key: str, log: list[str]) -> None:
        self.key = key
        self.name = key
        self.log = log

    @property
    def lock_key(self) -> str:
        return self.key

    async def connect(self, mac: str, timeout: float) -> Any:
        self.log.append(f"open {mac}")
        return _Link(self.log, mac)

    def listener(self, sink: Any) -> Any:
        raise NotImplementedError


async def test_sessions_on_one_radio_take_turns(tmp_path: Path) -> None:
    log: list[str] = []
    queue = GattQueue(lock_dir=str(tmp_path))
    radio = _Radio("hci0", log)

    async def job(mac: str) -> None:
        async with queue.session(radio, mac, timeout=1):
            await asyncio.sleep(0.05)
            log.append(f"done {mac}")

    await asyncio.gather(job("A"), job("B"), job("C"))
    # each connection is opened only after the previous one closed
    assert [entry.split()[0] for entry in log] == ["open", "done", "close"] * 3


async def test_different_radios_do_not_wait_for_each_other(tmp_path: Path) -> None:
    log: list[str] = []
    queue = GattQueue(lock_dir=str(tmp_path))
    inside = asyncio.Event()

    async def holder() -> None:
        async with queue.session(_Radio("hci0", log), "A", timeout=1):
            inside.set()
            await asyncio.sleep(0.2)

    task = asyncio.create_task(holder())
    await inside.wait()
    async with queue.session(_Radio("proxy", log), "B", timeout=1):
        assert queue.busy(_Radio("hci0", log))
    await task
    assert log.index("open B") < log.index("close A")


async def test_a_connection_of_another_process_holds_the_radio(tmp_path: Path) -> None:
    log: list[str] = []
    queue = GattQueue(lock_dir=str(tmp_path), wait=0.3)
    radio = _Radio("hci0", log)
    lock_file = queue._path(radio.lock_key)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({lock_file!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.to_thread(holder.stdout.readline) == "held\n"
        with pytest.raises(GattError, match="another mihomekit process"):
            async with queue.session(radio, "A", timeout=1):
                pass
        assert log == []
    finally:
        holder.kill()
        holder.wait()
    async with queue.session(radio, "A", timeout=1):
        pass
    assert log == ["open A", "close A"]
