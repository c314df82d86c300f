"""``mihomekit qr``: show the bridge's setup code, setup URI and QR code."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .errors import ConfigError
from .mi32cfg import normalize_mac
from .settings import load_settings
from .setupcode import SETUP_ID, qr_terminal, resolve_setup_code, setup_uri, write_qr_svg

__all__ = ["register", "run_qr"]


def register(subparsers: Any) -> None:
    """Add the ``qr`` sub-command to ``subparsers`` (from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "qr",
        help="show the HomeKit setup code and QR code",
        description=(
            "Print the bridge's HomeKit setup code, setup ID, X-HM:// URI and a QR code to "
            "scan with the Home app. The code comes from the settings (bridge.setup_code) or "
            "is derived from a MAC address the way Tasmota's MI32 bridge does it."
        ),
    )
    parser.add_argument(
        "--mac", help="derive the code from this MAC (default: bridge.mac, else this host's)"
    )
    parser.add_argument("--settings", metavar="FILE", help="settings file (TOML)")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON line: setup_code, setup_id, uri"
    )
    parser.add_argument("--svg", metavar="FILE", help="also write the QR code as SVG to FILE")
    parser.set_defaults(func=run_qr)


def run_qr(args: argparse.Namespace) -> int:
    """Run ``mihomekit qr``; returns the exit status."""
    settings = load_settings(args.settings)
    mac: str | None = args.mac
    if mac is not None:
        try:
            normalize_mac(mac)
        except ValueError as err:
            raise ConfigError(f"--mac: {err}") from None
    else:
        mac = settings.bridge.mac
    choice = resolve_setup_code(
        configured=settings.bridge.setup_code, mac=mac, address=settings.bridge.address
    )
    uri = setup_uri(choice.code, SETUP_ID)

    notes: list[str] = []
    if choice.note:
        notes.append(f"Note: {choice.note}.")
    if choice.source == "settings" and args.mac is not None:
        notes.append("Note: --mac is ignored because the settings fix bridge.setup_code.")

    if args.svg:
        write_qr_svg(uri, args.svg)

    if args.json:
        print(json.dumps({"setup_code": choice.code, "setup_id": SETUP_ID, "uri": uri}))
        for note in notes:
            print(note, file=sys.stderr)
        return 0

    for note in notes:
        print(note)
    print(f"Setup code: {choice.code}")
    print(f"Setup ID:   {SETUP_ID}")
    print(f"Setup URI:  {uri}")
    if choice.source == "mac":
        print(f"Derived from MAC {choice.mac}")
    else:
        print("From the settings (bridge.setup_code)")
    print()
    print(qr_terminal(uri))
    if args.svg:
        print(f"\nQR code written to {args.svg}")
    return 0
