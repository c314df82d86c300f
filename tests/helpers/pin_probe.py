"""A test extension for ``mihomekit run`` with ``GPIOZERO_PIN_FACTORY=mock``: it writes the
mock pins' levels (``{"17": true}``) to the file its options name, every 0.05 s, so that a
test outside the bridge's process can see them."""

from __future__ import annotations

import json
import os
from typing import Any


def setup(api: Any) -> None:
    path = str(api.options["file"])
    pins = [int(pin) for pin in api.options["pins"]]

    def write() -> None:
        from gpiozero import Device

        factory = Device.pin_factory
        if factory is None:
            return  # no relay opened a pin yet
        levels = {str(pin): bool(factory.pin(pin).state) for pin in pins}
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(levels, handle)
        os.replace(path + ".tmp", path)

    api.every(0.05, write, first=0)
