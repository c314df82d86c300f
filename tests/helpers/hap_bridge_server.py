"""The test bridge, and a process serving it: ``hap_bridge_server.py STATE_DIR PORT LIMITS_JSON``.

The bridge has one bridged switch whose On characteristic is :data:`SWITCH_ON`. Run as a
script it prints "ready" once it serves and stops on SIGTERM; logs go to stderr at the
product's default level (warnings). Only pyhap and mihomekit are imported, so it starts fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from pyhap.accessory import Accessory, Bridge

from mihomekit.homekit import BridgeDriver, ServerLimits

LOOPBACK = "127.0.0.1"
SETUP_CODE = "031-45-154"
SWITCH_ON = (2, 9)  # aid, iid of the bridged switch's On characteristic


def build_driver(
    loop: asyncio.AbstractEventLoop, state_dir: Path, port: int, limits: dict[str, Any]
) -> Any:
    """A BridgeDriver on 127.0.0.1 serving a bridge with one bridged switch (aid 2)."""
    driver = BridgeDriver(
        loop=loop,
        address=LOOPBACK,
        port=port,
        persist_file=str(state_dir / "accessory.state"),
        pincode=SETUP_CODE.encode(),
        advertise=False,
        limits=ServerLimits(**limits),
    )
    bridge = Bridge(driver, "Test Bridge")
    lamp = Accessory(driver, "Lamp", aid=SWITCH_ON[0])
    on = lamp.add_preload_service("Switch").get_characteristic("On")
    bridge.add_accessory(lamp)
    driver.add_accessory(bridge)
    assert lamp.iid_manager.get_iid(on) == SWITCH_ON[1]
    return driver


async def serve(state_dir: Path, port: int, limits: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    driver = build_driver(loop, state_dir, port, limits)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await driver.async_start()
    print("ready", flush=True)
    await stop.wait()
    await driver.async_stop()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])))


if __name__ == "__main__":
    main()
