"""A private D-Bus daemon for one test: a unix socket in a temporary folder, everything allowed."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path

#: Unix socket paths longer than this do not fit ``sockaddr_un``.
_MAX_SOCKET_PATH = 100

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


def dbus_daemon_path() -> str:
    """The ``dbus-daemon`` binary (Debian package ``dbus``; ``.ci/run`` installs it)."""
    found = shutil.which("dbus-daemon") or (
        "/usr/bin/dbus-daemon" if Path("/usr/bin/dbus-daemon").exists() else None
    )
    if found is None:
        raise RuntimeError("dbus-daemon not found: install the Debian package 'dbus'")
    return found


class PrivateBus:
    """``dbus-daemon --nofork`` on a socket of its own; :attr:`address` once started."""

    def __init__(self, folder: Path) -> None:
        socket = folder / "bus"
        self._scratch: str | None = None
        if len(str(socket)) > _MAX_SOCKET_PATH:
            self._scratch = tempfile.mkdtemp(prefix="bz", dir="/tmp")
            socket = Path(self._scratch) / "bus"
        self.socket = socket
        self.config = folder / "dbus.conf"
        self.address = f"unix:path={socket}"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(_CONFIG.format(socket=self.socket), encoding="utf-8")
        self._process = await asyncio.create_subprocess_exec(
            dbus_daemon_path(),
            f"--config-file={self.config}",
            "--nofork",
            "--print-address=1",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), 10)
        if not line:
            raise RuntimeError("dbus-daemon did not start")
        # the printed address carries a guid; the socket path is what clients need
        self.address = line.decode().strip().split(",", 1)[0]

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
