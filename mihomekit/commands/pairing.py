"""``mihomekit pairing``: who is paired, the pairing window, the failed pair-setup count;
opening the window and unlocking pair-setup.

Every bridge (bridge 1 and the child bridges in ``bridge-N/`` of the state directory), or
the one ``--bridge N`` names. ``open`` and ``unlock`` write into the state directory, where
a running bridge reads them: whoever may write there is the bridge's owner.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from mihomekit.demo import demo_state_dir
from mihomekit.errors import ConfigError, StateError
from mihomekit.homekit import ATTEMPTS_FILE, PairingAttempts, ServerLimits, reset_attempts
from mihomekit.homekit.window import WINDOW_FILE, WindowStatus, read_open_until, write_open_until
from mihomekit.settings import load_settings
from mihomekit.state import HAP_STATE_FILE, child_state_dirs

from .options import SETTINGS_HELP
from .sensor_options import command_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pairing",
        help="paired controllers and the pairing window; open pairing; unlock pair-setup",
        description=(
            "Show the paired controllers, whether pairing is open and the failed pair-setup "
            "attempts; (open) open the pairing window of an unpaired bridge for "
            "[bridge] pairing_window seconds; (unlock) allow pair-setup again after "
            "HomeKit's limit of failed attempts was reached. Works while the bridge runs."
        ),
    )
    parser.add_argument("action", choices=("status", "open", "unlock"), nargs="?", default="status")
    parser.add_argument("--settings", metavar="FILE", help=SETTINGS_HELP)
    parser.add_argument("--state-dir", metavar="DIR", help="the bridge's state directory")
    parser.add_argument(
        "--demo", action="store_true", help="the demo's state (`mihomekit run --demo`)"
    )
    parser.add_argument(
        "--bridge", type=int, metavar="N", help="only bridge N (default: every bridge)"
    )
    parser.set_defaults(func=run_pairing)


def run_pairing(args: argparse.Namespace) -> int:
    # The demo never reads the default settings file (as ``run --demo``).
    settings = load_settings(args.settings) if args.demo else command_settings(args)
    state_dir = Path(args.state_dir or settings.bridge.state_dir).expanduser()
    if args.demo and not args.state_dir:
        state_dir = demo_state_dir(settings.bridge.state_dir)
    if not state_dir.is_dir():
        raise ConfigError(_no_state(state_dir, settings.bridge.state_dir, demo=args.demo))
    bridges = {1: state_dir, **(child_state_dirs(state_dir) if state_dir.is_dir() else {})}
    if args.bridge is not None:
        if args.bridge not in bridges:
            known = ", ".join(str(n) for n in bridges)
            raise ConfigError(f"--bridge {args.bridge}: no such bridge in {state_dir} ({known})")
        bridges = {args.bridge: bridges[args.bridge]}
    window = settings.bridge.pairing_window
    for number, directory in bridges.items():
        if len(bridges) > 1 or number != 1:
            print(f"bridge {number}:")
        if args.action == "unlock":
            reset_attempts(directory / ATTEMPTS_FILE)
            print(f"pair-setup allowed again ({directory / ATTEMPTS_FILE} reset)")
        elif args.action == "open":
            _open(directory, window)
        else:
            _status(directory, number, window)
    return 0


def _no_state(state_dir: Path, configured: str, *, demo: bool) -> str:
    """Why there is nothing to read in ``state_dir``, and where a bridge's state may be."""
    message = f"no bridge state in {state_dir}: no bridge has run with it yet"
    other = demo_state_dir(configured)
    if not demo and other.is_dir():
        message += f"; the demo keeps its state in {other} (add --demo)"
    elif demo:
        message += " (start `mihomekit run --demo` first)"
    return message + "; --state-dir DIR names another"


def _open(state_dir: Path, seconds: float) -> None:
    if seconds <= 0:
        print("pairing is always open ([bridge] pairing_window = 0)")
        return
    until = time.time() + seconds
    write_open_until(state_dir / WINDOW_FILE, until)
    status = WindowStatus(open=True, until=until)
    print(f"pairing {status.describe()} (a running bridge opens it at the next pair-setup)")


def _window(state_dir: Path, seconds: float) -> WindowStatus:
    if seconds <= 0:
        return WindowStatus(open=True, always=True)
    until = read_open_until(state_dir / WINDOW_FILE)
    if until is None or until <= time.time():
        return WindowStatus(open=False)
    return WindowStatus(open=True, until=until)


def _status(state_dir: Path, number: int, window: float) -> None:
    attempts = PairingAttempts(state_dir / ATTEMPTS_FILE, ServerLimits())
    controllers = _controllers(state_dir / HAP_STATE_FILE)
    limit = ServerLimits().max_failed_attempts
    print(f"state directory: {state_dir}")
    bridge = "" if number == 1 else f" --bridge {number}"
    if not controllers:
        status = _window(state_dir, window)
        if status.open:
            how = "the bridge can be added in Apple Home"
        else:
            how = f"`mihomekit pairing open{bridge}` opens it"
        print(f"paired controllers: none; pairing {status.describe()} ({how})")
    for controller, admin in controllers:
        print(f"paired controller: {controller} ({'admin' if admin else 'user'})")
    unlock = "mihomekit pairing unlock" + bridge
    locked = f" — pair-setup refused; `{unlock}` allows it" if attempts.total >= limit else ""
    print(f"failed pair-setup attempts: {attempts.total} of {limit}{locked}")


def _controllers(path: Path) -> list[tuple[str, bool]]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise StateError(f"{path}: unreadable ({err})") from err
    clients = data.get("paired_clients") if isinstance(data, dict) else None
    props = data.get("client_properties") if isinstance(data, dict) else None
    if not isinstance(clients, dict) or not isinstance(props, dict):
        raise StateError(f"{path}: not a pairing state file")
    result = []
    for controller in clients:
        perms = props.get(controller, {})
        admin = isinstance(perms, dict) and bool(perms.get("permissions", 0) & 1)
        result.append((str(controller), admin))
    return result
