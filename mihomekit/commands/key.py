"""``mihomekit key HEX44``: Tasmota's ``MI32Key`` form (bind key then MAC) into the mi32cfg.

A device the mi32cfg does not list yet needs ``--model`` (a model name such as
``LYWSD03MMC`` or a product id such as ``055b``).
"""

from __future__ import annotations

import argparse
from typing import Any

from mihomekit.errors import ConfigError

from .sensor_options import add_mi32cfg_options, command_settings, mi32cfg_to_write


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "key",
        help="write a bind key in Tasmota's MI32Key form (key + MAC) into the mi32cfg",
        description=(
            "Write a bind key into the mi32cfg from Tasmota's MI32Key form: 32 hex digits "
            "of key followed by the 12 of the MAC (44 in all)."
        ),
    )
    parser.add_argument("value", metavar="HEX44", help="bind key and MAC, 44 hex digits")
    parser.add_argument(
        "--model",
        metavar="MODEL",
        help="model name or product id, for a device not yet in the mi32cfg",
    )
    add_mi32cfg_options(parser)
    parser.set_defaults(func=run_key)


def product_id(text: str) -> int:
    """A model name (``LYWSD03MMC``) or a 4-hex-digit product id (``055b``) → product id."""
    from mihomekit.catalog import by_model
    from mihomekit.mi32cfg import parse_pid

    model = by_model(text.strip())
    if model is not None and model.pid is not None:
        return model.pid
    try:
        return parse_pid(text)
    except ValueError:
        raise ConfigError(
            f"--model {text}: not a known model name nor a 4-hex-digit product id (`mihomekit "
            "scan` shows both)"
        ) from None


def run_key(args: argparse.Namespace) -> int:
    from mihomekit.ble.link import display_mac
    from mihomekit.mi32cfg import parse_tasmota_key, set_key

    try:
        mac, key = parse_tasmota_key(args.value)
    except ValueError as err:
        raise ConfigError(f"HEX44: {err}") from None
    pid = product_id(args.model) if args.model else None
    settings = command_settings(args)
    path = mi32cfg_to_write(args, settings)
    try:
        previous = set_key(path, mac, key, pid)
    except ValueError:
        raise ConfigError(
            f"{display_mac(mac)} is not in {path}: give its model with --model (for example "
            "--model LYWSD03MMC; `mihomekit scan` shows it)"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot write the mi32cfg: {err.strerror or err}", path=path) from err
    if previous is None:
        print(f"added {display_mac(mac)} with its key to {path}")
    elif previous.key == key:
        print(f"{display_mac(mac)} already had this key in {path}")
    else:
        print(f"key of {display_mac(mac)} set in {path}")
    return 0
