"""``mihomekit qr``: show the bridge's setup code, setup URI and QR code.

The code is resolved exactly as ``mihomekit run`` resolves it
(:func:`~mihomekit.setupcode.resolve_setup_code`), so both show the same code for the same
settings and state directory, even before the bridge's first start. ``--bridge N`` shows
child bridge N's (derived from bridge 1's code, :func:`~mihomekit.setupcode.child_setup_code`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mihomekit.errors import ConfigError
from mihomekit.mi32cfg import normalize_mac
from mihomekit.network import default_address
from mihomekit.setupcode import (
    SETUP_ID,
    child_setup_code,
    qr_for_stream,
    resolve_setup_code,
    setup_uri,
    write_qr_svg,
)
from mihomekit.state import (
    HAP_STATE_FILE,
    BridgeState,
    check_hap_state,
    child_state_dirs,
    load_state,
)
from mihomekit.wording import counted

from .options import SETTINGS_HELP
from .sensor_options import command_settings

__all__ = ["register", "run_qr"]

_SOURCES = {
    "settings": "From the settings (bridge.setup_code)",
    "random": "A random code, made once and kept in {state_dir}",
    "mac": "Derived from MAC {mac}",
    "host": "Derived from MAC {mac} (this host's)",
    "identity": "Derived from the bridge's own id {mac}, kept in {state_dir} (no host MAC)",
}


def register(subparsers: Any) -> None:
    """Add the ``qr`` sub-command to ``subparsers`` (from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "qr",
        help="show the HomeKit setup code and QR code",
        description=(
            "Print the bridge's HomeKit setup code, setup ID, X-HM:// URI and a QR code to "
            "scan with the Home app. The code comes from the settings (bridge.setup_code) or "
            "is derived from a MAC address the way Tasmota's MI32 bridge does it: --mac, "
            "else the host's, else the bridge's own id kept in the state directory."
        ),
    )
    parser.add_argument(
        "--mac", help="derive the code from this MAC (default: bridge.mac, else this host's)"
    )
    parser.add_argument("--settings", metavar="FILE", help=SETTINGS_HELP)
    parser.add_argument("--address", metavar="IP", help="the bridge's address, as for run")
    parser.add_argument("--state-dir", metavar="DIR", help="the bridge's state, as for run")
    parser.add_argument(
        "--bridge",
        type=int,
        default=1,
        metavar="N",
        help="child bridge N (2, 3, ...: see the start-up output); default: bridge 1",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON line: setup_code, setup_id, uri"
    )
    parser.add_argument("--svg", metavar="FILE", help="also write the QR code as SVG to FILE")
    parser.set_defaults(func=run_qr)


def run_qr(args: argparse.Namespace) -> int:
    """Run ``mihomekit qr``; returns the exit status."""
    settings = command_settings(args)
    mac: str | None = args.mac
    if mac is not None:
        try:
            normalize_mac(mac)
        except ValueError as err:
            raise ConfigError(f"--mac: {err}") from None
    else:
        mac = settings.bridge.mac
    state_dir = Path(args.state_dir or settings.bridge.state_dir).expanduser()
    loaded: list[BridgeState] = []

    def state() -> BridgeState:
        # Read (and, for a new identity or random code, written) only when needed.
        if not loaded:
            loaded.append(load_state(state_dir))
        return loaded[0]

    choice = resolve_setup_code(
        configured=settings.bridge.setup_code,
        mac=mac,
        address=args.address or settings.bridge.address or default_address(),
        state=state,
    )
    code, setup_id, hap_dir = choice.code, SETUP_ID, state_dir
    children = child_state_dirs(state_dir) if state_dir.is_dir() else {}
    if args.bridge != 1:
        if args.bridge not in children:
            known = ", ".join(str(n) for n in [1, *children])
            raise ConfigError(f"--bridge {args.bridge}: no such bridge in {state_dir} ({known})")
        hap_dir = children[args.bridge]
        code = child_setup_code(choice.code, args.bridge)
        setup_id = load_state(hap_dir).setup_id
    uri = setup_uri(code, setup_id)

    notes: list[str] = []
    if choice.note:
        notes.append(f"Note: {choice.note}.")
    if choice.source in ("settings", "random") and args.mac is not None:
        notes.append("Note: --mac is ignored because the settings fix bridge.setup_code.")
    hap = check_hap_state(hap_dir / HAP_STATE_FILE) if hap_dir.is_dir() else None
    if hap is not None and hap.paired:
        notes.append(
            f"Note: the bridge is paired ({counted(hap.paired, 'controller')}); the code is only "
            f"needed again after it is removed from Apple Home."
        )

    if args.svg:
        write_qr_svg(uri, args.svg)

    if args.json:
        print(json.dumps({"setup_code": code, "setup_id": setup_id, "uri": uri}))
        for note in notes:
            print(note, file=sys.stderr)
        return 0

    for note in notes:
        print(note)
    if args.bridge != 1:
        print(f"Child bridge {args.bridge} (state in {hap_dir})")
    print(f"Setup code: {code}")
    print(f"Setup ID:   {setup_id}")
    print(f"Setup URI:  {uri}")
    source = _SOURCES[choice.source].format(mac=choice.mac, state_dir=state_dir)
    if args.bridge != 1:
        source = (
            f"Derived from bridge 1's code {choice.code}, which is: {source[0].lower()}{source[1:]}"
        )
    print(source)
    if args.bridge == 1 and children:
        others = ", ".join(str(n) for n in children)
        print(f"Child bridges {others}: mihomekit qr --bridge N")
    print()
    print(qr_for_stream(uri, sys.stdout))
    if args.svg:
        print(f"\nQR code written to {args.svg}")
    return 0
