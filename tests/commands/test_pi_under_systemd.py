"""The README's Raspberry Pi steps, as written, as far as they run here.

The steps of "On a Raspberry Pi, under systemd" that set up files run as written, as root,
with ``/etc/mihomekit`` moved into a temporary directory and the service's user
``mihomekit`` replaced by a numeric uid that has no passwd entry; ``mihomekit scan`` replays
a recording instead of listening to a radio. Then ``mihomekit run`` runs as that user, with
the unit file's command line, its state directory and working directory as systemd would
give them: it must read the device list root's scan wrote, reach its ready line, and write
a change made on the dashboard back into that list. The unit file and the README must agree
on the user, the paths and the state directory.
"""

from __future__ import annotations

import configparser
import http.cookiejar
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from homekit_helpers import free_port
from markdown import code_blocks, section
from repo import CONFIG, ROOT
from run_helpers import DEMO, SETUP_MAC, lines_until, needs_root

from mihomekit.commands.run import DEFAULT_MI32CFG_PATHS
from mihomekit.mi32cfg import load_mi32cfg

pytestmark = pytest.mark.timeout(120)

#: The service's user and group here: numbers without a passwd entry.
UID = GID = 4321
README = ROOT / "README.md"
UNIT = CONFIG / "mihomekit.service"
ETC = "/etc/mihomekit"
#: Steps that cannot run here, by how they start, and why.
NOT_HERE = {
    "sudo apt install": "installs system packages",
    "sudo git clone": "this checkout is the clone",
    "sudo python3 -m venv": "the suite runs in the project's virtualenv",
    "sudo /opt/mihomekit/.venv/bin/pip install": "the suite runs in the project's virtualenv",
    "sudo ln -s": "puts mihomekit on the PATH; the test calls it by the Python in use",
    "sudo useradd": "no passwd entry here: the service's user is a bare uid",
    "sudo install -m 0644 /opt/mihomekit/src/config/mihomekit.service": "no systemd here",
    "sudo systemctl": "no systemd here: the test starts the unit's command itself",
    "journalctl": "no journal: the test reads the bridge's output",
}


def _steps() -> list[str]:
    """The commands of the README's Pi section, one a line."""
    block = code_blocks(
        section(README.read_text(encoding="utf-8"), "On a Raspberry Pi, under systemd")
    )
    return [line.strip() for line in block[0].splitlines() if line.strip()]


def _unit() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser["Service"]


def _here(command: str, etc: Path, recording: Path) -> list[str]:
    """A README step as it runs here: as root already, /etc/mihomekit in ``etc``, the
    service's user as numbers, ``mihomekit`` by this Python, a replay for the radio."""
    command = command.removeprefix("sudo ")
    command = command.replace(ETC, str(etc)).replace("/opt/mihomekit/src", str(ROOT))
    command = command.replace("-o mihomekit -g mihomekit", f"-o {UID} -g {GID}")
    words = shlex.split(command)
    if words[0] == "mihomekit":
        words = [sys.executable, "-m", "mihomekit", *words[1:]]
        if "--seconds" in words:
            at = words.index("--seconds")
            words[at : at + 2] = ["--replay", str(recording), "--speed", "0"]
    return words


@pytest.fixture
def pi() -> Iterator[Path]:
    """A directory tree the service's user can walk (pytest's tmp_path is root's only)."""
    needs_root("run commands as root and as another user")
    base = Path(tempfile.mkdtemp(prefix="mihomekit-pi-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _owner(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_the_unit_file_is_the_one_the_readme_sets_up() -> None:
    steps = _steps()
    service = _unit()
    user = service["User"]
    assert service["Group"] == user
    useradd = next(s for s in steps if s.startswith("sudo useradd"))
    assert shlex.split(useradd)[-1] == user
    assert f"--groups {service['SupplementaryGroups']}" in useradd
    assert f"sudo install -d -o {user} -g {user} -m 0750 {ETC}" in steps
    exec_start = shlex.split(service["ExecStart"])
    assert exec_start[0] == "/opt/mihomekit/.venv/bin/mihomekit"
    assert "sudo python3 -m venv /opt/mihomekit/.venv" in steps
    assert exec_start[1] == "run"
    settings = exec_start[exec_start.index("--settings") + 1]
    assert any(s.startswith("sudo install -o") and s.endswith(settings) for s in steps)
    assert "--config" not in exec_start  # the mi32cfg is found where the README writes it
    # The bridge writes the mi32cfg: /etc/mihomekit must stay writable under the unit.
    assert service.get("ProtectSystem", "no") in ("no", "false") or ETC in service.get(
        "ReadWritePaths", ""
    )
    scan = next(s for s in steps if " scan " in s)
    written = shlex.split(scan)[shlex.split(scan).index("--write") + 1]
    assert written in DEFAULT_MI32CFG_PATHS
    state = f"/var/lib/{service['StateDirectory']}"
    assert service["WorkingDirectory"] == state
    assert f"--home-dir {state}" in useradd
    assert state in section(README.read_text(encoding="utf-8"), "On a Raspberry Pi, under systemd")
    assert (
        f"sudo install -m 0644 /opt/mihomekit/src/config/{UNIT.name} /etc/systemd/system/" in steps
    )


def test_the_readme_pi_steps_work_for_the_service_user(pi: Path) -> None:
    etc = pi / "etc" / "mihomekit"
    etc.parent.mkdir()
    recording = pi / "recording.jsonl"
    shutil.copy(DEMO / "recording.jsonl", recording)
    recording.chmod(0o644)

    ran = []
    for step in _steps():
        if any(step.startswith(prefix) for prefix in NOT_HERE):
            continue
        words = _here(step, etc, recording)
        result = subprocess.run(words, capture_output=True, text=True, timeout=60, cwd=pi)
        assert result.returncode == 0, f"{step}: {result.stderr}"
        ran.append(step)
    assert len(ran) == 3, ran  # the directory, the settings, the scan
    assert _owner(etc) == (UID, GID, 0o750)
    assert _owner(etc / "mihomekit.toml") == (UID, GID, 0o640)
    mi32cfg = etc / "mi32cfg"
    assert _owner(mi32cfg) == (UID, GID, 0o600)  # root's scan gave the file to the service
    entries = load_mi32cfg(mi32cfg)
    assert len(entries) >= 5

    # The service, as systemd starts it: its user, its state directory, its command line.
    service = _unit()
    state = pi / "var" / "lib" / service["StateDirectory"]
    state.mkdir(parents=True)
    os.chown(state, UID, GID)
    state.chmod(int(service["StateDirectoryMode"], 8))
    command = _here(service["ExecStart"].replace("/opt/mihomekit/.venv/bin/", ""), etc, recording)
    command += [
        # Found at /etc/mihomekit/mi32cfg on a Pi; here /etc/mihomekit is elsewhere.
        *("--config", str(mi32cfg)),
        # No radio, no LAN, no gateway discovery here.
        *("--replay", str(recording), "--loop"),
        *("--address", "127.0.0.1", "--port", str(free_port()), "--mac", SETUP_MAC),
        *("--web-port", "0", "--no-gateway"),
    ]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(state),
        "STATE_DIRECTORY": str(state),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    as_user = ["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups"]
    proc = subprocess.Popen(
        [*as_user, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=state,
        env=env,
    )
    try:
        try:
            lines = lines_until(proc, "Mi Dashboard: ", timeout=60)
        except AssertionError:
            proc.kill()
            raise AssertionError(proc.communicate(timeout=20)[1]) from None
        assert any(
            line.startswith("mihomekit bridge 'Mi-Home-Bridge' on 127.0.0.1:") for line in lines
        )
        uid_line = next(
            line
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
            if line.startswith("Uid:")
        )
        assert uid_line.split()[1:] == [str(UID)] * 4
        url = lines[-1].split("Mi Dashboard: ", 1)[1].strip()

        # A change on the dashboard, from the bridge's own host (no password set).
        target = entries[0]
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        with opener.open(url + "devices", timeout=20) as response:
            page = response.read().decode()
        match = re.search(r'data-csrf="([^"]+)"', page)
        assert match, page[:300]
        form = {"mac": target.mac, "name": "Hall by the stairs", "csrf": match.group(1)}
        body = urllib.parse.urlencode(form).encode()
        with opener.open(url + "devices/rename", data=body, timeout=20) as response:
            answer = response.read().decode()
        assert response.status == 200 and "to Hall by the stairs" in answer, answer[:400]

        renamed = {e.mac: e.name for e in load_mi32cfg(mi32cfg)}
        assert renamed[target.mac] == "Hall by the stairs"
        assert _owner(mi32cfg) == (UID, GID, 0o600)
        for path in [*etc.iterdir(), *state.rglob("*")]:
            assert path.stat().st_uid == UID, path  # nothing the service cannot change
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
            assert proc.returncode == 0, err
