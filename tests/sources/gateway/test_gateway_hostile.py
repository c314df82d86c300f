"""Hostile datagrams on the report port are counted and never stop the adapter."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from gateway_helpers import CLIENT_HOST, GATEWAY_HOST, unicast_pair, wait_for

from mihomekit.sources.gateway.transport import GatewayAdapter

MAGNET = "158d0001000001"


def _report(data: object) -> bytes:
    message = {"cmd": "report", "model": "magnet", "sid": MAGNET, "data": json.dumps(data)}
    return json.dumps(message).encode()


HOSTILE: list[tuple[bytes, str]] = [
    (b"{this is not json", "dropped_bad_json"),
    (b"\xc3\x28\xa0\xa1", "dropped_bad_json"),
    (b'{"cmd":"reboot_everything","sid":"158d0001000001"}', "dropped_unknown_cmd"),
    (b'{"cmd":"report","sid":["158d0001000001"],"data":"{}"}', "dropped_wrong_type"),
    (b'{"cmd":"report","sid":"158d0001000001","params":"open"}', "dropped_wrong_type"),
    (b'"just a string"', "dropped_wrong_type"),
    (
        b'{"cmd":"report","model":"lumi.toaster","sid":"158d00aaaaaaaa","data":"{}"}',
        "dropped_unknown_model",
    ),
    (b'{"cmd":"report","sid":"158d00bbbbbbbb","data":"{}"}', "dropped_unknown_device"),
    (b'{"cmd":"whois"}', "dropped_unexpected_cmd"),
    (_report({"status": "ajar"}), "dropped_invalid_value"),
    (_report({"voltage": {"nested": True}}), "dropped_invalid_value"),
    (b"x" * 65507, "dropped_oversize"),
    (b"{" * 20000, "dropped_oversize"),
]


@pytest.fixture
def gateway_socket() -> Iterator[socket.socket]:
    """A socket with the gateway's address: the adapter trusts datagrams from it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    sock.bind((GATEWAY_HOST, 0))
    try:
        yield sock
    finally:
        sock.close()


def _target(adapter: GatewayAdapter) -> tuple[str, int]:
    return CLIENT_HOST, adapter.report_address[1]


@pytest.mark.parametrize(("datagram", "counter"), HOSTILE)
async def test_hostile_datagram_is_counted(
    datagram: bytes, counter: str, gateway_socket: socket.socket
) -> None:
    async with unicast_pair(proto=1) as (sim, adapter, sink):
        before = len(sink.readings)
        gateway_socket.sendto(datagram, _target(adapter))
        await wait_for(lambda: adapter.stats[counter] >= 1)
        assert not any(r.events for r in sink.readings[before:])
        assert all(r.values == {} or r.device_id != MAGNET for r in sink.readings[before:])
        # The adapter still works.
        sim.report(MAGNET, {"status": "open"})
        await wait_for(lambda: sink.readings[-1].values == {"opening": True})


async def test_flood_then_normal_report(gateway_socket: socket.socket) -> None:
    async with unicast_pair(proto=1) as (sim, adapter, sink):
        target = _target(adapter)
        payloads = [d for d, _ in HOSTILE if len(d) < 1000]
        started = time.monotonic()
        for i in range(5000):
            gateway_socket.sendto(payloads[i % len(payloads)], target)
            if i % 250 == 0:
                await asyncio.sleep(0)  # let the adapter read
        elapsed = time.monotonic() - started
        assert elapsed < 2.0

        def dropped() -> int:
            return sum(v for k, v in adapter.stats.items() if k.startswith("dropped_"))

        await wait_for(lambda: dropped() >= 1000, timeout=5.0)
        sim.report(MAGNET, {"status": "open"})
        await wait_for(lambda: sink.readings[-1].values == {"opening": True}, timeout=5.0)
        assert not any(r.events for r in sink.readings)
        assert adapter.stats["dropped_bad_json"] > 0 and adapter.stats["dropped_unknown_cmd"] > 0


async def test_foreign_flood_does_not_reach_the_parser() -> None:
    async with unicast_pair(proto=1) as (sim, adapter, sink):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rogue:
            rogue.bind(("127.0.0.9", 0))
            for _ in range(500):
                rogue.sendto(_report({"status": "open"}), _target(adapter))
        await wait_for(lambda: adapter.stats["dropped_foreign_sender"] >= 100)
        assert adapter.stats["dropped_bad_json"] == 0 and adapter.stats["reports"] == 0
        assert all(r.heartbeat for r in sink.readings)
        sim.report(MAGNET, {"status": "open"})
        await wait_for(lambda: adapter.stats["reports"] == 1)


async def test_failing_sink_does_not_stop_the_listener(gateway_socket: socket.socket) -> None:
    async with unicast_pair(proto=1) as (sim, _adapter, sink):
        calls: list[str] = []
        original = sink.on_reading

        def explode(device_id: str, *args: object, **kwargs: object) -> None:
            calls.append(device_id)
            if len(calls) == 1:
                raise RuntimeError("sink failure")
            original(device_id, *args, **kwargs)  # type: ignore[arg-type]

        sink.on_reading = explode  # type: ignore[method-assign]
        sim.report(MAGNET, {"status": "open"})
        await wait_for(lambda: len(calls) == 1)
        sim.report(MAGNET, {"status": "close"})
        await wait_for(lambda: sink.readings[-1].values == {"opening": False})


async def test_garbage_on_the_command_socket(gateway_socket: socket.socket) -> None:
    async with unicast_pair(proto=2) as (_sim, adapter, sink):
        assert adapter._client is not None
        command = adapter._client.address
        gateway_socket.sendto(b"{broken", command)
        gateway_socket.sendto(b'{"cmd":"iam","sid":"x","port":"nope"}', command)
        gateway_socket.sendto(b'{"cmd":"read_rsp","sid":"158d0001000004","params":[]}', command)
        await wait_for(lambda: adapter.stats["dropped_late_answer"] == 1)
        assert adapter.stats["dropped_bad_json"] == 1 and adapter.stats["dropped_wrong_type"] == 1
        await adapter.send_command("158d0001000004", {"power": True})
        await wait_for(lambda: sink.readings[-1].values == {"power": True})


async def test_a_sink_failing_on_every_report_warns_once_without_tracebacks(
    gateway_socket: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    async with unicast_pair(proto=1) as (sim, adapter, sink):

        def explode(device_id: str, *args: object, **kwargs: object) -> None:
            raise RuntimeError("sink failure")

        sink.on_reading = explode  # type: ignore[method-assign]
        with caplog.at_level(logging.DEBUG, logger="mihomekit.sources.gateway"):
            for status in ("open", "close", "open"):
                sim.report(MAGNET, {"status": status})
            await wait_for(lambda: adapter.stats.get("handler_errors", 0) == 3)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "sink failure" in warnings[0].getMessage()
    assert all(r.exc_info is None for r in warnings)
