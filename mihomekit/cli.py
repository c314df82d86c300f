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

#: Modules that add sub-commands; each has ``register(subparsers) -> None`` and sets
#: ``func(args) -> int`` on its parser.
COMMAND_MODULES = (
    "mihomekit.commands.run",
    "mihomekit.commands.qr",
    "mihomekit.commands.decode",
    "mihomekit.commands.scan",
    "mihomekit.commands.gateway",
    "mihomekit.commands.pairing",
    "mihomekit.commands.relay",
    "mihomekit.commands.z2m",
    "mihomekit.commands.webpassword",
    "mihomekit.commands.bind",
    "mihomekit.commands.key",
    "mihomekit.commands.ble",
)


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line (with where to find help), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mihomekit",
        description="HomeKit bridge for Xiaomi/Mijia BLE sensors and Aqara Zigbee gateways.",
    )
    parser.add_argument("--version", action="version", version=f"mihomekit {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``mihomekit`` command; returns its exit status (see :mod:`mihomekit.errors`).

    An error mihomekit raises on purpose is one line on stderr, never a traceback.
    """
    parser = build_parser()
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
