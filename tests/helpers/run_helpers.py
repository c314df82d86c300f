"""Helpers for tests that start real ``mihomekit`` processes: state files, mounts, no MAC.

Mounts and namespaces need root (CI runs as root); without it the test fails saying so.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from homekit_helpers import free_port
from repo import ROOT

DEMO = ROOT / "mihomekit" / "demo"
MIHOMEKIT = (sys.executable, "-m", "mihomekit")
#: The MAC of the example in docs/homekit.md: setup code 182-11-234.
SETUP_MAC = "B8:27:EB:12:34:56"


def needs_root(what: str) -> None:
    """Fail (never skip) with a clear message when not root."""
    if os.geteuid() != 0:
        raise AssertionError(f"this test needs root to {what}; run the suite as root, as CI does")


def run(
    *args: str, cwd: Path = ROOT, timeout: float = 60, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``mihomekit ARGS`` to completion, output captured."""
    return subprocess.run(
        [*prefix, *MIHOMEKIT, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def popen(
    *args: str,
    cwd: Path = ROOT,
    prefix: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[str]:
    """``mihomekit ARGS`` in the background, stdout and stderr piped."""
    return subprocess.Popen(
        [*prefix, *MIHOMEKIT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


def run_args(
    state: Path,
    *,
    port: int | None = None,
    mac: str | None = SETUP_MAC,
    demo_config: bool = True,
    gateway: bool = False,
    ble: bool = False,
    address: str = "127.0.0.1",
) -> list[str]:
    """``run`` options for a bridge on ``address`` with its state in ``state``.

    By default: the code from :data:`SETUP_MAC`, the demo's mi32cfg, no gateway, no BLE.
    """
    args = ["run", "--state-dir", str(state), "--address", address]
    args += ["--port", str(port or free_port())]
    if mac is not None:
        args += ["--mac", mac]
    if not gateway:
        args.append("--no-gateway")
    if not ble:
        args.append("--no-ble")
    if demo_config:
        args += ["--config", str(DEMO / "mi32cfg.json")]
    return args


def settings_args(
    settings: Path, state: Path, *, mi32cfg: Path | None = None, port: int | None = None
) -> list[str]:
    """``run`` options for a bridge on 127.0.0.1 (the code from :data:`SETUP_MAC`) that
    reads ``settings``, with no gateways; ``mi32cfg`` None: an empty device list."""
    if mi32cfg is None:
        mi32cfg = settings.parent / "empty-mi32cfg.json"
        mi32cfg.write_text("[]", encoding="utf-8")
    args = run_args(state, port=port, demo_config=False, ble=True)
    return [*args, "--settings", str(settings), "--config", str(mi32cfg)]


@contextlib.contextmanager
def running(
    *args: str,
    cwd: Path = ROOT,
    prefix: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """:func:`popen`, killed on the way out if the test did not stop it."""
    proc = popen(*args, cwd=cwd, prefix=prefix, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[str, str]:
    """Signal ``proc``, wait for it to exit 0; returns the rest of stdout and stderr."""
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return out, err


def lines_until(proc: subprocess.Popen[str], needle: str, timeout: float = 30) -> list[str]:
    """Lines of stdout up to and including the first one containing ``needle``."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if needle in line:
            return lines
    raise AssertionError(f"no line with {needle!r} in {lines}")


def no_mac_prefix() -> list[str]:
    """A command prefix that runs the rest in a network namespace with loopback only.

    With sysfs mounted again inside it, the process sees no interface with a MAC (as in a
    container without one).
    """
    needs_root("create a network namespace")
    assert shutil.which("unshare"), "unshare (util-linux) is needed"
    script = 'mount -t sysfs sysfs /sys && ip link set lo up && exec "$@"'
    return ["unshare", "--net", "--mount", "sh", "-c", script, "sh"]


def hap_state(mac: str, *, paired: int = 0) -> dict[str, object]:
    """A valid ``accessory.state`` with ``paired`` controllers, as HAP-python writes it."""
    key = ed25519.Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    clients = {
        str(uuid.uuid4()): ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(raw, serialization.PublicFormat.Raw)
        .hex()
        for _ in range(paired)
    }
    return {
        "mac": mac,
        "config_version": 2,
        "paired_clients": clients,
        "client_properties": {client: {"permissions": 1} for client in clients},
        "accessories_hash": None,
        "client_uuid_to_bytes": {client: client.encode().hex() for client in clients},
        "accessory_states": {},
        "private_key": key.private_bytes(
            raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        ).hex(),
        "public_key": key.public_key().public_bytes(raw, serialization.PublicFormat.Raw).hex(),
    }


def write_hap_state(state_dir: Path, content: dict[str, object] | str) -> str:
    """Write ``accessory.state`` (a dict as JSON, a string as it is); returns the text."""
    state_dir.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else json.dumps(content)
    (state_dir / "accessory.state").write_text(text, encoding="utf-8")
    return text


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` and its bytes."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@contextlib.contextmanager
def tmpfs(directory: Path, *, size: str = "64k") -> Iterator[Path]:
    """A small tmpfs mounted on ``directory`` for the duration (unmounted in any case)."""
    needs_root("mount a tmpfs")
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(directory)],
        check=True,
        timeout=10,
    )
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False, timeout=10)


def remount_read_only(directory: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True, timeout=10)


def fill(directory: Path) -> None:
    """Write to ``directory`` until its file system is full."""
    with open(directory / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
