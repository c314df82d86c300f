"""``mihomekit pairing``: who is paired, the failed pair-setup count, and unlocking it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mihomekit.errors import StateError
from mihomekit.homekit import ATTEMPTS_FILE, PairingAttempts, ServerLimits, reset_attempts
from mihomekit.settings import load_settings
from mihomekit.state import HAP_STATE_FILE


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
    parser.set_defaults(func=run_pairing)


def run_pairing(args: argparse.Namespace) -> int:
    settings = load_settings(args.settings)
    state_dir = Path(args.state_dir or settings.bridge.state_dir).expanduser()
    if args.action == "unlock":
        reset_attempts(state_dir / ATTEMPTS_FILE)
        print(f"pair-setup allowed again ({state_dir / ATTEMPTS_FILE} reset)")
        return 0
    attempts = PairingAttempts(state_dir / ATTEMPTS_FILE, ServerLimits())
    controllers = _controllers(state_dir / HAP_STATE_FILE)
    limit = ServerLimits().max_failed_attempts
    print(f"state directory: {state_dir}")
    if not controllers:
        print("paired controllers: none (the bridge can be added in Apple Home)")
    for controller, admin in controllers:
        print(f"paired controller: {controller} ({'admin' if admin else 'user'})")
    locked = (
        " — pair-setup refused; `mihomekit pairing unlock` allows it"
        if (attempts.total >= limit)
        else ""
    )
    print(f"failed pair-setup attempts: {attempts.total} of {limit}{locked}")
    return 0


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
