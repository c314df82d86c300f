"""One side of the gateway protocol, run inside a network namespace by test_gateway_netns.

gateway_netns_helper.py gateway PROTO ADDRESS
    A simulated gateway on ADDRESS (default ports 9898/4321, multicast on ADDRESS);
    prints "ready", runs until its standard input closes.
gateway_netns_helper.py client PROTO INTERFACE|-
    A GatewayAdapter (default settings, interface INTERFACE or the default route),
    switches the plug on and prints one JSON line describing what it saw.
"""

from __future__ import annotations

import asyncio
import json
import sys

from gateway_helpers import GATEWAY_SID, RecordingSink

from mihomekit.settings import GatewayNetworkSettings, GatewaySettings
from mihomekit.sources.gateway.simulator import DEMO_PASSWORD, GatewaySimulator
from mihomekit.sources.gateway.transport import GatewayAdapter

PLUG = "158d0001000004"


async def gateway(proto: int, address: str) -> None:
    sim = GatewaySimulator(
        proto=proto,
        host=address,
        multicast_interface=address,
        heartbeat_interval=0.3,
    )
    await sim.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await sim.stop()


async def client(proto: int, interface: str | None) -> None:
    settings = GatewayNetworkSettings(
        interface=interface,
        gateways=(GatewaySettings(sid=GATEWAY_SID, password=DEMO_PASSWORD),),
    )
    sink = RecordingSink()
    adapter = GatewayAdapter(settings, sink, discovery_timeout=0.6, request_timeout=1.0)
    await adapter.start()
    try:
        await adapter.send_command(PLUG, {"power": True})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0

        def plug_reported() -> bool:
            return any(
                r.device_id == PLUG and r.values == {"power": True} and not r.heartbeat
                for r in sink.readings
            )

        while loop.time() < deadline and (not plug_reported() or adapter.stats["heartbeats"] < 2):
            await asyncio.sleep(0.05)
        result = {
            "gateways": [[g.sid, g.host, g.proto] for g in adapter.gateways.values()],
            "devices": sorted(sink.devices),
            "plug_report": plug_reported(),
            "alive": adapter.is_alive(GATEWAY_SID),
            "stats": dict(adapter.stats),
        }
    finally:
        await adapter.stop()
    print(json.dumps(result), flush=True)


def main(argv: list[str]) -> int:
    role, proto = argv[0], int(argv[1])
    if role == "gateway":
        asyncio.run(gateway(proto, argv[2]))
    else:
        asyncio.run(client(proto, None if argv[2] == "-" else argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
