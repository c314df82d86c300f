"""``mihomekit web-password``: set the Mi Dashboard's password (stored as a scrypt hash).

Asks for the password twice on a terminal (or reads one line from standard input), then
writes ``password_hash`` into the ``[web]`` table of the settings file, atomically: the
file is checked whole before it replaces the old one, other lines stay as they are. With
``--print`` it only prints the ``password_hash = "…"`` line to paste by hand. A running
bridge reads the new hash at its next start.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from typing import Any

from mihomekit.atomicfile import write_atomic
from mihomekit.commands.run import DEFAULT_SETTINGS_PATH
from mihomekit.errors import ConfigError
from mihomekit.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password
from mihomekit.settings import parse_settings

_TABLE = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*password_hash\s*=")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "web-password",
        help="set the Mi Dashboard's password",
        description=(
            "Set the password that every change on the Mi Dashboard needs. It is stored as a "
            "scrypt hash in [web] password_hash of the settings file."
        ),
    )
    parser.add_argument(
        "--settings",
        metavar="FILE",
        default=DEFAULT_SETTINGS_PATH,
        help=f"settings file to write (default {DEFAULT_SETTINGS_PATH}; made if missing)",
    )
    parser.add_argument(
        "--print", action="store_true", help="only print the line to paste into [web]"
    )
    parser.set_defaults(func=run_web_password)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Dashboard password: ")
        if getpass.getpass("Again: ") != first:
            raise ConfigError("the two passwords differ; nothing written")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def set_password_hash(text: str, password_hash: str) -> str:
    """``text`` (TOML settings) with ``[web] password_hash`` set; other lines unchanged."""
    lines = text.splitlines()
    line = f'password_hash = "{password_hash}"'
    table: str | None = None
    web_at: int | None = None
    for index, current in enumerate(lines):
        match = _TABLE.match(current)
        if match:
            table = match.group(1)
            if table == "web":
                web_at = index
            continue
        if table == "web" and _KEY.match(current):
            lines[index] = line
            return "\n".join(lines) + "\n"
    if web_at is not None:
        lines.insert(web_at + 1, line)
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines += ["[web]", line]
    return "\n".join(lines) + "\n"


def run_web_password(args: argparse.Namespace) -> int:
    password = _read_password()
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ConfigError(
            f"a dashboard password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} "
            "characters; nothing written"
        )
    password_hash = hash_password(password)
    if args.print:
        print(f'password_hash = "{password_hash}"')
        return 0
    path = args.settings
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        text, mode = "", 0o600
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the settings: {err}", path=path) from None
    parse_settings(text, path=path)  # a broken file is reported, not rewritten
    new_text = set_password_hash(text, password_hash)
    if parse_settings(new_text, path=path).web.password_hash != password_hash:
        raise ConfigError(
            "could not place password_hash in [web] (is web an inline table?); add this "
            f'line to [web] by hand: password_hash = "{password_hash}"',
            path=path,
        )
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_atomic(path, new_text, mode=mode & 0o640, keep_mode=False)
    except OSError as err:
        raise ConfigError(f"cannot write the settings: {err.strerror or err}", path=path) from None
    print(f"dashboard password set in {path}; restart the bridge to use it")
    return 0
