"""The documentation: a short README with its sections, generated product tables, links that
resolve, and a commands page that lists what ``mihomekit COMMAND --help`` shows."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown import anchors, headings, links, section
from products_table import block, current_block
from repo import ROOT

from mihomekit.cli import build_parser

README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: The README's sections, in order.
SECTIONS = [
    "Supported products",
    "Quick start",
    "On a Raspberry Pi, under systemd",
    "Adding a sensor later",
    "Bind keys",
    "Update",
    "Back up",
    "Uninstall",
    "Troubleshooting",
    "More",
]
#: Every Markdown file whose relative links must resolve.
PAGES = [README, *sorted(DOCS.glob("*.md")), ROOT / "benchmarks" / "README.md"]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_readme_is_at_most_300_lines() -> None:
    assert len(_text(README).splitlines()) <= 300


def test_readme_has_its_sections_in_order() -> None:
    found = [h.title for h in headings(_text(README)) if h.level == 2]
    assert found == SECTIONS


def test_readme_products_are_the_generated_tables() -> None:
    """Run ``python tests/helpers/products_table.py --write`` after changing a device table."""
    assert current_block(_text(README)) == block()


def test_the_products_name_every_model_once_per_product() -> None:
    products = section(_text(README), "Supported products")
    for model in ("LYWSD03MMC\\*", "MJYD02YL", "sensor_magnet.aq2", "ctrl_ln2.aq1", "PVVX"):
        assert products.count(model) == 1, model
    assert "Zigbee2MQTT" in products


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in links(_text(page)):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto
        path_part, _, fragment = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif (
            fragment and destination.suffix == ".md" and fragment not in anchors(_text(destination))
        ):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


def test_more_links_every_docs_page() -> None:
    more = section(_text(README), "More")
    linked = {Path(target).name for target in links(more)}
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages - linked == set()


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every leaf command: ``("mihomekit ble time", its parser)``."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield " ".join(path), parser
        return
    for name, child in subparsers[0].choices.items():
        yield from _commands(child, (*path, name))


def test_commands_page_has_every_command_and_option() -> None:
    page = _text(DOCS / "commands.md")
    missing = []
    commands = list(_commands(build_parser(), ("mihomekit",)))
    assert len(commands) >= 20
    for name, parser in commands:
        text = section(page, f"`{name}`")
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if action.option_strings:
                words = [s for s in action.option_strings if s.startswith("--")]
            elif action.choices:
                words = [str(c) for c in action.choices]
            else:
                words = [action.metavar or action.dest]
            missing += [f"{name} {word}" for word in words if word not in text]
    assert missing == []


def test_quick_start_installs_as_ci_does() -> None:
    """The README's two commands: the bridge, installed from the lock as `.ci/run` installs
    it (without the test extra), and `.ci/run` itself."""
    quick = section(_text(README), "Quick start")
    ci = _text(ROOT / ".ci" / "run")
    assert "bash .ci/run" in quick
    run = "python3 -m venv .venv && .venv/bin/pip install -c requirements.lock -e ."
    assert f"{run} && .venv/bin/mihomekit run --demo" in quick
    assert (
        "python3 -m venv .venv && .venv/bin/pip install -q -c requirements.lock -e '.[test]'" in ci
    )
    assert "mihomekit qr" in quick and "Pairing" in quick
