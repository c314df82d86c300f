"""The ``mihomekit`` command line: one sub-command per module, wired here."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .errors import EXIT_INTERRUPTED, MihomekitError

#: Each sub-command and the module that adds it (``register(subparsers) -> None``, which
#: sets ``func(args) -> int`` on its parser). Only the module of the command being run is
#: imported: a bridge does not load the code of ``scan``, ``relay`` or ``z2m``.
COMMANDS = {
    "run": "mihomekit.commands.run",
    "qr": "mihomekit.commands.qr",
    "decode": "mihomekit.commands.decode",
    "scan": "mihomekit.commands.scan",
    "gateway": "mihomekit.commands.gateway",
    "miio": "mihomekit.commands.gateway",
    "pairing": "mihomekit.commands.pairing",
    "relay": "mihomekit.commands.relay",
    "z2m": "mihomekit.commands.z2m",
    "web-password": "mihomekit.commands.webpassword",
    "bind": "mihomekit.commands.bind",
    "key": "mihomekit.commands.key",
    "ble": "mihomekit.commands.ble",
}
#: Every module that adds sub-commands, in the order ``mihomekit --help`` lists them.
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line (with where to find help), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``command`` (a sub-command's name), only its module is loaded."""
    parser = _Parser(
        prog="mihomekit",
        description="HomeKit bridge for Xiaomi/Mijia BLE sensors and Aqara Zigbee gateways.",
    )
    parser.add_argument("--version", action="version", version=f"mihomekit {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` runs; None when help or the version comes first."""
    for arg in argv:
        if arg in ("-h", "--help", "--version"):
            return None
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``mihomekit`` command; returns its exit status (see :mod:`mihomekit.errors`).

    An error mihomekit raises on purpose is one line on stderr, never a traceback.
    """
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(command_of(argv))
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except MihomekitError as err:
        print(f"mihomekit: {one_line(str(err))}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def one_line(message: str) -> str:
    """``message`` with its line breaks turned into spaces (error messages are one line)."""
    return " ".join(message.splitlines())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
