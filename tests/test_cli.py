"""The command line loads only the module of the command it runs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from mihomekit.cli import COMMANDS, build_parser, command_of


def _command_help(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return str(action.choices[name].format_help())
    raise AssertionError("no sub-commands")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_alone_parses_as_with_all_of_them(name: str) -> None:
    assert _command_help(build_parser(name), name) == _command_help(build_parser(), name)


def test_command_of_finds_the_sub_command() -> None:
    assert command_of(["-v", "run", "--config", "x"]) == "run"
    assert command_of(["web-password"]) == "web-password"
    assert command_of(["--help", "run"]) is None  # the list of every command
    assert command_of(["-v"]) is None
    assert command_of(["nope"]) == "nope"  # unknown: every module, argparse names them
    assert "miio" in _command_help(build_parser("nope"), "miio")


def test_run_loads_no_other_command_nor_unused_clients() -> None:
    probe = (
        "import json, sys\n"
        "from mihomekit.cli import build_parser\n"
        "build_parser('run').parse_args(['run', '--no-web'])\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out))
    others = {m for m in COMMANDS.values() if m != "mihomekit.commands.run"}
    assert not others & loaded
    for module in ("aiomqtt", "aiohttp", "bleak", "aioesphomeapi", "mihomekit.outputs.web"):
        assert module not in loaded, module
