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
from collections.abc import Mapping, Sequence

from mihomekit.catalog import DeviceModel
from mihomekit.readings import Event, Value
from mihomekit.settings import GatewayNetworkSettings, GatewaySettings
from mihomekit.sources.gateway.simulator import DEMO_PASSWORD, GatewaySimulator
from mihomekit.sources.gateway.transport import GatewayAdapter

GATEWAY_SID = "7811dcb78b2f"
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


class Sink:
    def __init__(self) -> None:
        self.devices: list[str] = []
        self.reports: list[dict[str, object]] = []

    def on_device(self, device_id: str, model: DeviceModel, name: str | None) -> None:
        self.devices.append(device_id)

    def on_reading(
        self,
        device_id: str,
        values: Mapping[str, Value],
        events: Sequence[Event],
        *,
        heartbeat: bool = False,
    ) -> None:
        if not heartbeat:
            self.reports.append({"device": device_id, "values": dict(values)})


async def client(proto: int, interface: str | None) -> None:
    settings = GatewayNetworkSettings(
        interface=interface,
        gateways=(GatewaySettings(sid=GATEWAY_SID, password=DEMO_PASSWORD),),
    )
    sink = Sink()
    adapter = GatewayAdapter(settings, sink, discovery_timeout=0.6, request_timeout=1.0)
    await adapter.start()
    try:
        await adapter.send_command(PLUG, {"power": True})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        wanted = {"device": PLUG, "values": {"power": True}}
        while loop.time() < deadline and (
            wanted not in sink.reports or adapter.stats["heartbeats"] < 2
        ):
            await asyncio.sleep(0.05)
        result = {
            "gateways": [[g.sid, g.host, g.proto] for g in adapter.gateways.values()],
            "devices": sorted(sink.devices),
            "plug_report": wanted in sink.reports,
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
