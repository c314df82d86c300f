"""Run inside a network namespace: find the bridge by mDNS only, pair, list, print JSON.

Usage: netns_homekit_controller.py STATE_DIR SETUP_CODE INTERFACE_ADDRESS
(the test passes the bridge's state directory so the controller knows which device id to
look for; everything else goes over the network).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from homekit_helpers import controller_on


async def main(state_dir: Path, code: str, interface: str) -> dict[str, Any]:
    state_file = state_dir / "accessory.state"
    deadline = time.monotonic() + 20
    while not state_file.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    device_id = json.loads(state_file.read_text())["mac"]
    async with controller_on(interface) as controller:
        discovery = await controller.async_find(device_id, timeout=20)
        description = discovery.description
        finish = await discovery.async_start_pairing("netns")
        pairing = await finish(code)
        listing = await pairing.list_accessories_and_characteristics()
        names = []
        for accessory in listing:
            for service in accessory["services"]:
                for char in service["characteristics"]:
                    if char["type"].upper().startswith("00000023-"):  # Name
                        names.append(char["value"])
                        break
                break
        await pairing.close()
        return {
            "address": description.address,
            "addresses": description.addresses,
            "port": description.port,
            "category": int(description.category),
            "accessories": len(listing),
            "names": names,
        }


if __name__ == "__main__":
    result = asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
    print(json.dumps(result))
