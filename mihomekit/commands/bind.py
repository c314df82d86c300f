"""``mihomekit bind MAC``: give a sensor a new bind key by Mi activation, no cloud needed.

The sensor is activated over Bluetooth (this host's adapter, or an ESPHome proxy with
``--proxy``), its new key goes into the mi32cfg (with the device, if it was not listed),
and the command waits for the sensor's next encrypted advertisement to show that the key
works. Activation unbinds the sensor from Mi Home; the command says so first.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from mihomekit.readings import Value

from .sensor_options import (
    add_mi32cfg_options,
    add_radio_options,
    command_settings,
    mi32cfg_to_write,
    radio_from_args,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bind",
        help="get a sensor's bind key over Bluetooth (Mi activation) into the mi32cfg",
        description=(
            "Activate a Xiaomi sensor over Bluetooth to give it a new bind key, and write "
            "the key into the mi32cfg. This unbinds the sensor from Mi Home."
        ),
    )
    parser.add_argument("mac", metavar="MAC", help="the sensor's address, e.g. A4:C1:38:12:34:56")
    add_mi32cfg_options(parser)
    add_radio_options(parser)
    parser.set_defaults(func=run_bind)


def describe(values: dict[str, Value]) -> str:
    """``temperature 21.5, humidity 48.2``."""
    return ", ".join(f"{name} {value}" for name, value in values.items()) or "no values"


def run_bind(args: argparse.Namespace) -> int:
    from mihomekit.ble.bind import bind_sensor, warning_for
    from mihomekit.mi32cfg import normalize_mac

    try:
        normalize_mac(args.mac)
    except ValueError as err:
        from mihomekit.errors import ConfigError

        raise ConfigError(f"MAC: {err}") from None
    settings = command_settings(args)
    path = mi32cfg_to_write(args, settings)
    radio = radio_from_args(args, settings)
    print(warning_for(args.mac), flush=True)
    outcome = asyncio.run(
        bind_sensor(
            radio,
            args.mac,
            path,
            timeout=args.timeout,
            say=lambda line: print(line, flush=True),
        )
    )
    if outcome.confirmation is not None:
        print(f"key works: {describe(dict(outcome.confirmation.values))}")
    else:
        print(
            f"no encrypted advertisement from {outcome.mac} came in {args.timeout:g} s; the "
            "key is saved (`mihomekit scan` shows whether it works)"
        )
    return 0
