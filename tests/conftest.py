"""Fixtures shared by the whole suite.

The helper modules the tests import (``homekit_helpers``, ``mosquitto``, ``repo``...) are in
``tests/helpers/``, which pytest puts on ``sys.path`` (``pythonpath`` in ``pyproject.toml``).
The test folders mirror ``mihomekit/``: ``tests/sources/esphome/`` tests
``mihomekit/sources/esphome/``, and so on.
"""

from __future__ import annotations

from bluez_fake import bluez_fixture
from mosquitto import mosquitto_fixture

__all__ = ["bluez_fixture", "mosquitto_fixture"]
