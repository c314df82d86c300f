"""Where things are in the checkout, for tests and their helper scripts."""

from __future__ import annotations

from pathlib import Path

#: The repository's root.
ROOT = Path(__file__).resolve().parents[2]
#: ``tests/``.
TESTS = ROOT / "tests"
#: Test data: real captures, reference tables, Zigbee2MQTT listings.
DATA = TESTS / "data"
#: Helper modules and scripts the tests run (this folder).
HELPERS = Path(__file__).resolve().parent
#: Example configuration shipped with the project.
CONFIG = ROOT / "config"
