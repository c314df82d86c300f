"""Bridges made in the test process, on 127.0.0.1 with a known setup code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mihomekit.app import App, AppConfig
from mihomekit.cli import build_parser
from mihomekit.commands.run import plan_from_args
from mihomekit.mi32cfg import DeviceEntry

SETUP_MAC = "B8:27:EB:12:34:56"
SETUP_CODE = "182-11-234"


def bridge_config(
    state_dir: Path, port: int, entries: list[DeviceEntry], **extra: Any
) -> AppConfig:
    """A bridge on 127.0.0.1 whose setup code is :data:`SETUP_CODE`; nothing printed."""
    return AppConfig(
        state_dir=state_dir,
        address="127.0.0.1",
        port=port,
        setup_code_mac=SETUP_MAC,
        entries=entries,
        print_setup=False,
        **extra,
    )


def planned_app(argv: list[str]) -> App:
    """The app ``mihomekit run ...`` (``argv`` from ``run``) would start, in this process;
    it prints nothing."""
    plan = plan_from_args(build_parser().parse_args(argv))
    plan.config.print_setup = False
    return App(plan.config)
