"""``mihomekit pairing``: who is paired, the failed pair-setup count, and unlocking it.

Every bridge (bridge 1 and the child bridges in ``bridge-N/`` of the state directory), or
the one ``--bridge N`` names.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mihomekit.errors import ConfigError, StateError
from mihomekit.homekit import ATTEMPTS_FILE, PairingAttempts, ServerLimits, reset_attempts
from mihomekit.settings import load_settings
from mihomekit.state import HAP_STATE_FILE, child_state_dirs


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pairing",
        help="paired controllers; unlock pair-setup after too many wrong codes",
        description=(
            "Show the paired controllers and failed pair-setup attempts, or (unlock) allow "
            "pair-setup again after HomeKit's limit of failed attempts was reached. Works "
            "while the bridge runs."
        ),
    )
    parser.add_argument("action", choices=("status", "unlock"), nargs="?", default="status")
    parser.add_argument("--settings", metavar="FILE", help="TOML settings file")
    parser.add_argument("--state-dir", metavar="DIR", help="the bridge's state directory")
    parser.add_argument(
        "--bridge", type=int, metavar="N", help="only bridge N (default: every bridge)"
    )
    parser.set_defaults(func=run_pairing)


def run_pairing(args: argparse.Namespace) -> int:
    settings = load_settings(args.settings)
    state_dir = Path(args.state_dir or settings.bridge.state_dir).expanduser()
    bridges = {1: state_dir, **(child_state_dirs(state_dir) if state_dir.is_dir() else {})}
    if args.bridge is not None:
        if args.bridge not in bridges:
            known = ", ".join(str(n) for n in bridges)
            raise ConfigError(f"--bridge {args.bridge}: no such bridge in {state_dir} ({known})")
        bridges = {args.bridge: bridges[args.bridge]}
    for number, directory in bridges.items():
        if len(bridges) > 1 or number != 1:
            print(f"bridge {number}:")
        if args.action == "unlock":
            reset_attempts(directory / ATTEMPTS_FILE)
            print(f"pair-setup allowed again ({directory / ATTEMPTS_FILE} reset)")
        else:
            _status(directory, number)
    return 0


def _status(state_dir: Path, number: int) -> None:
    attempts = PairingAttempts(state_dir / ATTEMPTS_FILE, ServerLimits())
    controllers = _controllers(state_dir / HAP_STATE_FILE)
    limit = ServerLimits().max_failed_attempts
    print(f"state directory: {state_dir}")
    if not controllers:
        print("paired controllers: none (the bridge can be added in Apple Home)")
    for controller, admin in controllers:
        print(f"paired controller: {controller} ({'admin' if admin else 'user'})")
    unlock = "mihomekit pairing unlock" + ("" if number == 1 else f" --bridge {number}")
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
