"""Gateway adapter against the simulator over real UDP on loopback (v1 and v2)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from gateway_helpers import (
    CLIENT_HOST,
    GATEWAY_HOST,
    GATEWAY_SID,
    PASSWORD,
    RecordingSink,
    unicast_pair,
    wait_for,
)

from mihomekit.errors import GatewayError
from mihomekit.readings import Event
from mihomekit.settings import GatewayNetworkSettings, GatewaySettings
from mihomekit.sources.gateway.client import GatewayClient
from mihomekit.sources.gateway.simulator import (
    GatewaySimulator,
    SimDevice,
    demo_devices,
    demo_settings,
)
from mihomekit.sources.gateway.transport import MAINS_WINDOW, SLEEPY_WINDOW, GatewayAdapter

MAGNET, MOTION, WEATHER, PLUG, RELAY, SWITCH, LEAK = (f"158d000100000{i}" for i in range(1, 8))
STATUS = {1: "status", 2: "window_status"}


@pytest.mark.parametrize("proto", [1, 2])
async def test_start_lists_and_reads_every_device(proto: int) -> None:
    async with unicast_pair(proto=proto) as (sim, adapter, sink):
        assert set(sink.devices) == {GATEWAY_SID, *sim.devices}
        assert sink.devices[GATEWAY_SID].controls == ("light",)
        assert sink.devices[PLUG].controls == ("outlet",)
        reads = {r.device_id: r for r in sink.readings}
        assert all(r.heartbeat and not r.events for r in sink.readings)
        assert reads[WEATHER].values["temperature"] == 23.33
        assert reads[WEATHER].values["pressure"] == 1007.9
        assert reads[MAGNET].values["opening"] is False
        assert reads[GATEWAY_SID].values["illuminance"] == 52.0
        assert adapter.gateways[GATEWAY_SID].proto == proto
        assert adapter.values(RELAY) == {"power": False, "power_2": False}
        assert adapter.is_alive(MAGNET) and adapter.is_alive(GATEWAY_SID)


@pytest.mark.parametrize("proto", [1, 2])
async def test_reports_give_values_and_events(proto: int) -> None:
    async with unicast_pair(proto=proto) as (sim, _adapter, sink):
        sink.readings.clear()
        sim.report(MAGNET, {STATUS[proto]: "open"})
        sim.report(SWITCH, {"status" if proto == 1 else "button_0": "double_click"})
        await wait_for(lambda: len(sink.readings) >= 2)
        assert sink.readings[0].values == {"opening": True}
        assert not sink.readings[0].heartbeat
        assert sink.readings[1].events == [Event("double_press")]


async def test_heartbeats_refresh_values_without_events() -> None:
    async with unicast_pair(proto=1) as (sim, adapter, sink):
        sink.readings.clear()
        sim.devices[SWITCH].properties["status"] = "click"  # stale state repeated in heartbeats
        sim.devices[WEATHER].properties["temperature"] = "2500"
        sim.device_heartbeat(SWITCH)
        sim.device_heartbeat(WEATHER)
        await wait_for(lambda: len(sink.readings) >= 2)
        assert all(r.heartbeat and not r.events for r in sink.readings)
        assert sink.readings[1].values["temperature"] == 25.0
        assert adapter.stats["heartbeats"] == 2


async def test_gateway_heartbeat_carries_the_token() -> None:
    async with unicast_pair(proto=2) as (sim, adapter, sink):
        sim.heartbeat()
        await wait_for(lambda: adapter.gateways[GATEWAY_SID].token == sim.token)
        assert sink.readings[-1].device_id == GATEWAY_SID and sink.readings[-1].heartbeat


@pytest.mark.parametrize("proto", [1, 2])
async def test_write_with_password_then_report(proto: int) -> None:
    async with unicast_pair(proto=proto) as (sim, adapter, sink):
        sink.readings.clear()
        await adapter.send_command(RELAY, {"power": True, "power_2": True})
        await adapter.send_command(PLUG, {"power": True})
        await wait_for(lambda: len(sink.readings) >= 2)
        assert sink.readings[0].values == {"power": True, "power_2": True}
        assert sink.readings[1].values == {"power": True}
        plug_write = sim.writes[1]
        assert dict(plug_write.properties) == (
            {"status": "on"} if proto == 1 else {"channel_0": "on"}
        )
        assert adapter.stats["invalid_key_retries"] == 0


async def test_gateway_light_write() -> None:
    async with unicast_pair(proto=1) as (sim, adapter, sink):
        values = {"light_on": True, "brightness": 40, "hue": 120.0, "saturation": 100.0}
        await adapter.send_command(GATEWAY_SID, values)
        await wait_for(lambda: sink.readings[-1].values.get("light_on") is True)
        assert sim.state["rgb"] == (40 << 24) | 0x00FF00
        assert sink.readings[-1].values == values
        await adapter.send_command(GATEWAY_SID, {"light_on": False})
        await wait_for(lambda: sim.state["rgb"] == 0)


@pytest.mark.parametrize("proto", [1, 2])
async def test_stale_token_is_refreshed_once(proto: int) -> None:
    async with unicast_pair(proto=proto) as (sim, adapter, _sink):
        sim.rotate_token()  # as if the adapter had missed a heartbeat
        await adapter.send_command(PLUG, {"power": True})
        assert sim.rejected_writes == 1 and len(sim.writes) == 1
        assert adapter.stats["invalid_key_retries"] == 1
        assert adapter.gateways[GATEWAY_SID].token == sim.token


@pytest.mark.parametrize("proto", [1, 2])
async def test_wrong_password_is_refused(proto: int) -> None:
    async with unicast_pair(proto=proto, password="wrongwrongwrong!") as (sim, adapter, _sink):
        with pytest.raises(GatewayError, match="Invalid key"):
            await adapter.send_command(PLUG, {"power": True})
        assert sim.rejected_writes == 2 and sim.writes == []


async def test_no_password_is_read_only() -> None:
    async with unicast_pair(proto=1, password=None) as (sim, adapter, sink):
        assert PLUG in sink.devices
        with pytest.raises(GatewayError, match=f"no password configured for gateway {GATEWAY_SID}"):
            await adapter.send_command(PLUG, {"power": True})
        assert sim.received and sim.writes == []


async def test_command_errors() -> None:
    async with unicast_pair(proto=1) as (_sim, adapter, _sink):
        with pytest.raises(GatewayError, match="unknown gateway device"):
            await adapter.send_command("158d00ffffffff", {"power": True})
        with pytest.raises(GatewayError, match="cannot set power"):
            await adapter.send_command(MAGNET, {"power": True})


async def test_unresponsive_gateway_write_times_out() -> None:
    async with unicast_pair(proto=1, adapter_kwargs={"request_timeout": 0.2}) as (sim, adapter, _):
        await sim.stop()
        with pytest.raises(GatewayError, match="no answer from gateway"):
            await adapter.send_command(PLUG, {"power": True})
        assert adapter.stats["request_timeouts"] >= 2


async def test_new_device_from_report_is_added() -> None:
    async with unicast_pair(proto=1) as (sim, _adapter, sink):
        sim.devices["158d0001000099"] = SimDevice("158d0001000099", "sensor_ht", {})
        sim.report("158d0001000099", {"temperature": "1900"})
        await wait_for(lambda: "158d0001000099" in sink.devices)
        await wait_for(lambda: sink.readings[-1].values.get("temperature") == 19.0)


async def test_v2_motion_is_cleared_locally() -> None:
    kwargs = {"motion_clear_seconds": 0.2, "request_timeout": 0.5}
    async with unicast_pair(proto=2, adapter_kwargs=kwargs) as (sim, _adapter, sink):
        sink.readings.clear()
        sim.report(MOTION, {"motion_status": "motion"})
        await wait_for(lambda: any(r.values.get("motion") is True for r in sink.readings))
        await wait_for(lambda: sink.readings[-1].values == {"motion": False}, timeout=1.0)


async def test_liveness_windows_with_a_fake_clock() -> None:
    now = [1000.0]
    kwargs = {"loop_time": lambda: now[0], "request_timeout": 0.5}
    async with unicast_pair(proto=1, adapter_kwargs=kwargs) as (sim, adapter, _sink):
        assert adapter.is_alive(GATEWAY_SID) and adapter.is_alive(MAGNET) and adapter.is_alive(PLUG)
        assert not adapter.is_alive("158d00ffffffff")
        now[0] += 66.0  # no gateway heartbeat for > heartbeat_timeout (65 s)
        assert not adapter.is_alive(GATEWAY_SID)
        assert not adapter.is_alive(MAGNET)  # a subdevice is only alive with its gateway
        sim.heartbeat()
        await wait_for(lambda: adapter.is_alive(GATEWAY_SID))
        assert adapter.is_alive(MAGNET)
        now[0] += MAINS_WINDOW  # mains devices: 25 min
        sim.heartbeat()
        await wait_for(lambda: adapter.stats["heartbeats"] >= 2)
        assert adapter.is_alive(MAGNET) and not adapter.is_alive(PLUG)
        now[0] += SLEEPY_WINDOW - MAINS_WINDOW + 1  # battery devices: 150 min
        sim.heartbeat()
        sim.device_heartbeat(PLUG)
        await wait_for(lambda: adapter.stats["heartbeats"] >= 4)
        assert not adapter.is_alive(MAGNET) and adapter.is_alive(PLUG)


async def test_reports_from_other_hosts_are_dropped() -> None:
    async with unicast_pair(proto=1) as (sim, adapter, sink):
        count = len(sink.readings)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rogue:
            rogue.bind(("127.0.0.9", 0))
            rogue.sendto(
                b'{"cmd":"report","model":"magnet","sid":"158d0001000001","data":"{\\"status\\":\\"open\\"}"}',
                (CLIENT_HOST, adapter.report_address[1]),
            )
        await wait_for(lambda: adapter.stats["dropped_foreign_sender"] == 1)
        assert len(sink.readings) == count
        assert sim.host == GATEWAY_HOST


async def test_multicast_discovery_on_loopback() -> None:
    """Discovery, heartbeats and reports by multicast in the host namespace.

    Both sides send with IP_MULTICAST_IF=127.0.0.1 and TTL 0, so nothing leaves the host.
    """
    sim = GatewaySimulator(
        proto=2,
        host=GATEWAY_HOST,
        port=0,
        discovery_port=0,
        multicast_interface=CLIENT_HOST,
        heartbeat_interval=0.2,
    )
    await sim.start()
    assert sim.multicast_ttl == 0
    sink = RecordingSink()
    settings = GatewayNetworkSettings(
        interface=CLIENT_HOST,
        discovery_port=sim.discovery_port,
        report_port=0,
        gateways=(GatewaySettings(sid=GATEWAY_SID, password=PASSWORD),),
    )
    adapter = GatewayAdapter(settings, sink, discovery_timeout=0.4, request_timeout=0.5)
    try:
        await adapter.start()
        gateway = adapter.gateways[GATEWAY_SID]
        assert (gateway.host, gateway.port, gateway.proto) == (GATEWAY_HOST, sim.port, 2)
        assert adapter._client is not None and adapter._client.ttl == 0
        assert len(sink.devices) == 8
        sim.report_port = adapter.report_address[1]
        await wait_for(lambda: adapter.stats["heartbeats"] >= 1)
        await adapter.send_command(PLUG, {"power": True})
        await wait_for(lambda: sink.readings[-1].values == {"power": True})
        assert adapter.stats["dropped_foreign_sender"] == 0
    finally:
        await adapter.stop()
        await sim.stop()


async def test_client_discover_and_probe() -> None:
    async with (
        GatewaySimulator(
            proto=1,
            host=GATEWAY_HOST,
            port=0,
            discovery_port=0,
            multicast_interface=CLIENT_HOST,
            heartbeat_interval=None,
        ) as sim,
        GatewayClient(CLIENT_HOST, discovery_port=sim.discovery_port, timeout=0.5) as client,
    ):
        found = await client.discover(0.3)
        assert [(g.sid, g.host, g.port, g.proto) for g in found] == [
            (GATEWAY_SID, GATEWAY_HOST, sim.port, 1)
        ]
        probed = await client.probe(GATEWAY_HOST, sim.port)
        assert (probed.sid, probed.proto) == (GATEWAY_SID, 1)
        refs = await client.list_devices(probed)
        assert len(refs) == len(demo_devices(1)) and probed.token == sim.token
        with pytest.raises(GatewayError, match="Invalid device"):
            await client.read(probed, "158d00ffffffff")


async def test_configured_gateway_that_does_not_answer() -> None:
    sink = RecordingSink()
    settings = GatewayNetworkSettings(
        discover=False,
        interface=CLIENT_HOST,
        report_port=0,
        gateways=(GatewaySettings(host="127.0.0.4", port=9, password=PASSWORD),),
    )
    adapter = GatewayAdapter(settings, sink, request_timeout=0.1)
    try:
        await adapter.start()  # logs, keeps trying in the background, does not raise
        assert sink.devices == {} and adapter.gateways == {}
        assert adapter.stats["request_timeouts"] >= 1
    finally:
        await adapter.stop()
    await asyncio.sleep(0)


async def test_gateway_that_comes_up_later_is_found_by_its_heartbeat() -> None:
    sim = GatewaySimulator(
        proto=1, host=GATEWAY_HOST, port=0, discovery_port=0, heartbeat_interval=None
    )
    await sim.start()
    sink = RecordingSink()
    settings = GatewayNetworkSettings(
        interface=CLIENT_HOST,
        discovery_port=sim.discovery_port,
        report_port=0,
        gateways=(GatewaySettings(sid=GATEWAY_SID, password=PASSWORD),),
    )
    adapter = GatewayAdapter(settings, sink, discovery_timeout=0.2, request_timeout=0.5)
    try:
        await adapter.start()  # the simulator answers no multicast: nothing found yet
        assert adapter.gateways == {}
        sim.report_to = (CLIENT_HOST, adapter.report_address[1])
        sim.heartbeat()
        await wait_for(lambda: len(sink.devices) == 8)
        assert adapter.gateways[GATEWAY_SID].password == PASSWORD
        assert adapter.stats["dropped_foreign_sender"] == 1
        await adapter.send_command(PLUG, {"power": True})
        await wait_for(lambda: sink.readings[-1].values == {"power": True})
    finally:
        await adapter.stop()
        await sim.stop()


@pytest.mark.parametrize("proto", [1, 2])
async def test_demo_wiring_and_activity(proto: int) -> None:
    sim = GatewaySimulator(
        proto=proto, host=GATEWAY_HOST, port=0, discovery_port=0, heartbeat_interval=None
    )
    await sim.start()
    sink = RecordingSink()
    adapter = GatewayAdapter(demo_settings(sim), sink, request_timeout=0.5)
    try:
        await adapter.start()
        sim.report_to = (CLIENT_HOST, adapter.report_address[1])
        sink.readings.clear()
        changed = [sim.step_activity(tick) for tick in range(2 * len(sim.devices))]
        await wait_for(lambda: len(sink.readings) >= len([c for c in changed if c]))
        assert {MAGNET, MOTION, WEATHER, SWITCH} <= {c for c in changed if c}
        seen = {r.device_id: r for r in sink.readings}
        assert "opening" in seen[MAGNET].values and "temperature" in seen[WEATHER].values
        assert any(e.event == "press" for _, e in sink.events())
    finally:
        await adapter.stop()
        await sim.stop()


async def test_bad_interface_is_a_clear_error() -> None:
    adapter = GatewayAdapter(GatewayNetworkSettings(interface="nosuch0"), RecordingSink())
    with pytest.raises(GatewayError, match="interface 'nosuch0' has no IPv4 address"):
        await adapter.start()
    with pytest.raises(GatewayError, match="not started"):
        adapter.report_address  # noqa: B018


async def test_disabled_adapter_does_nothing() -> None:
    sink = RecordingSink()
    adapter = GatewayAdapter(GatewayNetworkSettings(enabled=False), sink)
    await adapter.start()
    assert adapter.gateways == {} and sink.devices == {}
    with pytest.raises(GatewayError, match="unknown gateway device"):
        await adapter.send_command(PLUG, {"power": True})
    await adapter.stop()


async def test_interface_given_by_name() -> None:
    async with GatewayClient("lo") as client:
        assert client.interface == "127.0.0.1" and client.ttl == 0
        assert client.address[0] == "127.0.0.1"
