"""What ``mihomekit bind``, ``key`` and ``ble`` share: settings, the mi32cfg they write,
and the radio (``--adapter``, ``--proxy``) they reach sensors through."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mihomekit.errors import ConfigError
from mihomekit.settings import Settings, load_settings

from .options import SETTINGS_HELP

__all__ = [
    "add_mi32cfg_options",
    "add_radio_options",
    "command_settings",
    "mi32cfg_to_write",
    "radio_from_args",
]

DEFAULT_TIMEOUT = 30.0


def add_mi32cfg_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="PATH", help="the mi32cfg to write (default: the one `run` reads)"
    )
    parser.add_argument("--settings", metavar="FILE", help=SETTINGS_HELP)


def add_radio_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--adapter", metavar="HCI", help="Bluetooth adapter, e.g. hci1")
    where.add_argument(
        "--proxy",
        metavar="NAME",
        help="reach the sensor through this ESPHome proxy of the settings ([[esphome]] name "
        "or host)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds for each step (default {DEFAULT_TIMEOUT:g})",
    )


def command_settings(args: argparse.Namespace) -> Settings:
    """``--settings``, else the default settings file if it exists, else the defaults.

    As ``mihomekit run`` reads them: ``qr`` and ``pairing`` use it too, so that they show
    the running bridge's code and state directory.
    """
    from mihomekit.commands.run import settings_file

    return load_settings(settings_file(args.settings))


def mi32cfg_to_write(args: argparse.Namespace, settings: Settings) -> str:
    """The mi32cfg ``mihomekit run`` reads (see ``find_mi32cfg``); when there is none, the
    one the dashboard would write in the state directory (created)."""
    from mihomekit.commands.run import WEB_MI32CFG, find_mi32cfg

    state_dir = Path(settings.bridge.state_dir).expanduser()
    found = find_mi32cfg(args.config, settings, state_dir)
    if found is not None:
        return found
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"no mi32cfg found and the state directory cannot be made: {err.strerror or err}",
            path=str(state_dir),
        ) from err
    return str(state_dir / WEB_MI32CFG)


def radio_from_args(args: argparse.Namespace, settings: Settings) -> Any:
    """The :class:`~mihomekit.ble.link.Radio` the options name."""
    if args.proxy:
        from mihomekit.ble.esphome import EsphomeRadio

        wanted = args.proxy.strip().lower()
        for proxy in settings.esphome:
            if wanted in ((proxy.name or "").lower(), proxy.host.lower()):
                return EsphomeRadio(proxy)
        known = ", ".join(p.name or p.host for p in settings.esphome) or "none"
        raise ConfigError(
            f"--proxy {args.proxy}: no [[esphome]] proxy of that name or host in the settings "
            f"(known: {known})"
        )
    from mihomekit.ble.local import LocalRadio

    return LocalRadio(args.adapter or settings.ble.adapter, scan_mode=settings.ble.scan_mode)
