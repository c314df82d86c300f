"""EsphomeProxy against the fake proxy over real TCP on 127.0.0.1 (plaintext and Noise).

Covers the raw and the parsed stream, reconnects after a proxy restart, the statuses of
a wrong or missing key, a refused connection, an unknown host, a wrong device and a
silent subscription, and hostile input (bad frames, bad varints, AD structures past their
end, a flood) with a second proxy unaffected.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aioesphomeapi import api_pb2
from esphome_fake import FEATURE_STATE_AND_MODE, PASSIVE_SCAN, Entry, FakeProxy, varint
from homekit_helpers import free_port

from mihomekit.reconnect import Backoff
from mihomekit.sources import Advertisement
from mihomekit.sources.esphome.ad import build_ad
from mihomekit.sources.esphome.proxy import EsphomeProxy

KEY = "px7tsbK3C7bpXHr2OevEV2ZMg/FrNBw2+O2pNPbedtA="
OTHER_KEY = "QRTIErOb/fcE9Ou/QG5O2EXCjVDqq0bP8l1ocs7CfYY="
LOGGER = "mihomekit.sources.esphome.proxy"

# Real frames from tests/data (service data after the 0xFE95 UUID).
THERMO_MAC = "A4:C1:38:B4:94:4C"
THERMO = bytes.fromhex("50305b05034c94b438c1a40d10041001ea01")
DOOR_MAC = "E4:AA:EC:81:21:AE"
DOOR = bytes.fromhex("58588b09a3ae2181ecaae40e2c553c040000d28a500c")

pytestmark = pytest.mark.timeout(30)


class Sink:
    """Collects advertisements; ``wait(n)`` until at least ``n`` arrived."""

    def __init__(self) -> None:
        self.got: list[Advertisement] = []
        self._event = asyncio.Event()

    def __call__(self, adv: Advertisement) -> None:
        self.got.append(adv)
        self._event.set()

    async def wait(self, count: int = 1, timeout: float = 5.0) -> list[Advertisement]:
        async def until() -> None:
            while len(self.got) < count:
                self._event.clear()
                await self._event.wait()

        await asyncio.wait_for(until(), timeout)
        return self.got


def make_source(sink: Callable[[Advertisement], object], **kwargs: Any) -> EsphomeProxy:
    kwargs.setdefault("host", "127.0.0.1")
    kwargs.setdefault("backoff", Backoff(initial=0.05, maximum=0.3, jitter=0))
    kwargs.setdefault("silence_limit", 30.0)
    kwargs.setdefault("connect_timeout", 5.0)
    return EsphomeProxy(sink, **kwargs)


@asynccontextmanager
async def running(source: EsphomeProxy) -> AsyncIterator[EsphomeProxy]:
    await source.start()
    try:
        yield source
    finally:
        await source.stop()


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= 30]


# --------------------------------------------------------------------------- streams


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "noise"])
async def test_raw_batches_reach_the_sink(encrypted: bool) -> None:
    fake = FakeProxy.encrypted(KEY, name="attic") if encrypted else FakeProxy(name="attic")
    sink = Sink()
    async with (
        fake,
        running(
            make_source(sink, port=fake.port, encryption_key=KEY if encrypted else None)
        ) as source,
    ):
        await fake.wait_subscribed()
        scan_response = Entry(0xA4C138B4944C, -70, build_ad(None, flags=None, name="LYWSD03"))
        fake.send_batch(
            [
                Entry.service(THERMO_MAC, THERMO, rssi=-71),
                scan_response,  # its own entry, no sensor data: ignored
                Entry.service(DOOR_MAC, DOOR, rssi=-55),
                Entry(0x112233445566, -80, build_ad({0x180F: b"\x64"})),  # not a sensor
            ]
        )
        got = await sink.wait(2)
        assert [(a.mac, dict(a.service_data), a.rssi, a.receiver) for a in got] == [
            (THERMO_MAC, {0xFE95: THERMO}, -71, "attic"),
            (DOOR_MAC, {0xFE95: DOOR}, -55, "attic"),
        ]
        assert got[0].time > 0
        assert source.status.connected and source.status.name == "attic"
        assert source.status.advertisements == 4
        assert source.stats.forwarded == 2 and source.stats.ignored == 2
        assert source.raw
        assert fake.subscription_requests == 1


async def test_parsed_stream_without_the_raw_flag() -> None:
    fake = FakeProxy(feature_flags=PASSIVE_SCAN)  # old firmware: no raw advertisements
    sink = Sink()
    async with fake, running(make_source(sink, port=fake.port)) as source:
        await fake.wait_subscribed()
        fake.send_batch([Entry.service(THERMO_MAC, THERMO), Entry.service(DOOR_MAC, DOOR)])
        got = await sink.wait(2)
        assert not source.raw
        assert [(a.mac, dict(a.service_data)) for a in got] == [
            (THERMO_MAC, {0xFE95: THERMO}),
            (DOOR_MAC, {0xFE95: DOOR}),
        ]


async def test_legacy_proxy_version_maps_to_feature_flags() -> None:
    # API 1.8 and `legacy_bluetooth_proxy_version` 1: passive scanning, parsed stream.
    fake = FakeProxy(feature_flags=0, legacy_version=1, api_version=(1, 8))
    sink = Sink()
    async with fake, running(make_source(sink, port=fake.port)) as source:
        await fake.wait_subscribed()
        fake.send_batch([Entry.service(THERMO_MAC, THERMO)])
        await sink.wait(1)
        assert not source.raw


async def test_repeats_are_forwarded_with_their_rssi() -> None:
    """A repeat is a sign of life for the registry: forwarded each time (parsed once)."""
    fake = FakeProxy()
    sink = Sink()
    async with fake, running(make_source(sink, port=fake.port)):
        await fake.wait_subscribed()
        fake.send_batch([Entry.service(THERMO_MAC, THERMO, rssi=r) for r in (-60, -61, -62)])
        got = await sink.wait(3)
        assert [a.rssi for a in got] == [-60, -61, -62]


async def test_restart_recovers_by_itself(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeProxy(name="garage")
    sink = Sink()
    async with fake, running(make_source(sink, port=fake.port)) as source:
        await fake.wait_subscribed()
        fake.send_batch([Entry.service(THERMO_MAC, THERMO)])
        await sink.wait(1)
        await fake.restart(downtime=0.5)  # connections dropped, refused while down
        await until(lambda: not source.status.connected or source.stats.disconnects > 0)
        await fake.wait_subscribed(timeout=5)
        fake.send_batch([Entry.service(DOOR_MAC, DOOR)])
        got = await sink.wait(2)
        assert got[-1].mac == DOOR_MAC
        assert source.status.connected
        assert source.stats.connects == 2 and source.stats.disconnects == 1
        assert source.stats.failed_connects >= 1  # refused while the proxy was down
    # One warning for the lost connection; the refusals while rebooting stay at debug.
    warned = warnings_of(caplog)
    assert len(warned) == 1 and "connection lost" in warned[0], warned


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("proxy_key", "our_key", "words"),
    [
        (KEY, OTHER_KEY, "wrong encryption key"),
        (KEY, None, "requires encryption"),
        (None, KEY, "does not use encryption"),
    ],
    ids=["wrong-key", "missing-key", "needless-key"],
)
async def test_key_problems_are_a_status_and_one_warning(
    proxy_key: str | None, our_key: str | None, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeProxy.encrypted(proxy_key) if proxy_key else FakeProxy()
    sink = Sink()
    async with fake, running(make_source(sink, port=fake.port, encryption_key=our_key)) as source:
        await until(lambda: source.stats.failed_connects >= 3)
        assert not source.status.connected
        assert words in (source.status.last_error or "")
        assert source.status.errors >= 3
    warned = warnings_of(caplog)
    assert len(warned) == 1 and words in warned[0], warned
    assert not sink.got
    if proxy_key and our_key:
        assert fake.handshake_failures >= 3


async def test_refused_connection(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there
    async with running(make_source(Sink(), port=port)) as source:
        await until(lambda: source.stats.failed_connects >= 3)
        assert not source.status.connected
        assert "refused" in (source.status.last_error or "")
    assert len(warnings_of(caplog)) == 1


async def test_unknown_host(caplog: pytest.LogCaptureFixture) -> None:
    async with running(make_source(Sink(), host="no-such-proxy.invalid")) as source:
        await until(lambda: source.stats.failed_connects >= 2, timeout=20)
        assert not source.status.connected
        assert "cannot resolve 'no-such-proxy.invalid'" in (source.status.last_error or "")
    assert len(warnings_of(caplog)) == 1


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "noise"])
async def test_another_device_at_the_address(
    encrypted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeProxy.encrypted(KEY, name="kitchen") if encrypted else FakeProxy(name="kitchen")
    async with (
        fake,
        running(
            make_source(
                Sink(), port=fake.port, name="garage", encryption_key=KEY if encrypted else None
            )
        ) as source,
    ):
        await until(lambda: source.stats.failed_connects >= 2)
        assert not source.status.connected
        assert "named 'kitchen'" in (source.status.last_error or "")
        assert source.status.name == "garage"
    assert len(warnings_of(caplog)) == 1


async def test_not_a_bluetooth_proxy() -> None:
    fake = FakeProxy(feature_flags=0)
    async with fake, running(make_source(Sink(), port=fake.port)) as source:
        await until(lambda: source.stats.failed_connects >= 2)
        assert "no Bluetooth proxy" in (source.status.last_error or "")
        assert fake.subscription_requests == 0


@pytest.mark.parametrize("state_flag", [False, True], ids=["old-firmware", "scanner-state"])
async def test_silent_proxy_gets_one_warning(
    state_flag: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant holds the slot: the subscription is ignored in silence."""
    flags = 33 | (FEATURE_STATE_AND_MODE if state_flag else 0)
    fake = FakeProxy(slot_taken=True, feature_flags=flags)
    async with fake, running(make_source(Sink(), port=fake.port, silence_limit=0.3)) as source:
        await until(lambda: fake.subscription_requests >= 3)  # resubscribes each period
        assert source.status.connected  # the connection itself is fine
        reason = source.status.last_error or ""
        assert "Home Assistant" in reason and "subscriber slot" in reason
        assert ("did not confirm the subscription" in reason) == state_flag
        assert "0 advertisements" in reason and "2025.6.0" in reason
        # Home Assistant lets go: the next resubscription takes the slot.
        fake.slot = None
        await fake.wait_subscribed(timeout=5)
        sink = Sink()
        source._sink = sink
        fake.send_batch([Entry.service(THERMO_MAC, THERMO)])
        await sink.wait(1)
    warned = warnings_of(caplog)
    assert len(warned) == 1 and "Home Assistant" in warned[0], warned


async def test_confirmed_but_silent_subscription_says_so() -> None:
    fake = FakeProxy(feature_flags=33 | FEATURE_STATE_AND_MODE)
    async with fake, running(make_source(Sink(), port=fake.port, silence_limit=0.3)) as source:
        await until(lambda: source.status.last_error is not None)
        assert "confirmed the subscription" in (source.status.last_error or "")
        assert source.scanner_state is not None


# --------------------------------------------------------------------------- hostile input


async def _hostile_then_healthy(
    attack: Callable[[FakeProxy], None], caplog: pytest.LogCaptureFixture
) -> EsphomeProxy:
    """``attack`` one proxy while a second one keeps delivering; the first recovers."""
    bad, good = FakeProxy(name="bad"), FakeProxy(name="good")
    bad_sink, good_sink = Sink(), Sink()
    async with (
        bad,
        good,
        running(make_source(bad_sink, port=bad.port)) as bad_src,
        running(make_source(good_sink, port=good.port)),
    ):
        await bad.wait_subscribed()
        await good.wait_subscribed()
        attack(bad)
        good.send_batch([Entry.service(THERMO_MAC, THERMO)])
        await good_sink.wait(1)
        # The attacked proxy's source is still alive: after a reconnect if needed.
        await until(lambda: bad.subscriber is not None and bad_src.status.connected)
        await asyncio.sleep(0.1)
        await bad.wait_subscribed()
        bad.send_batch([Entry.service(DOOR_MAC, DOOR)])
        got = await bad_sink.wait(1)
        assert got[-1].mac == DOOR_MAC and got[-1].receiver == "bad"
        return bad_src


def _plain_frame(msg_type: int, payload: bytes) -> bytes:
    return b"\x00" + varint(len(payload)) + varint(msg_type) + payload


@pytest.mark.parametrize(
    "attack",
    [
        # a frame announcing more bytes than arrive, then the connection closes
        pytest.param(
            lambda p: (p.inject(_plain_frame(93, b"\x0a\x10" + b"x" * 5)[:-3]), p.drop()),
            id="truncated-frame",
        ),
        pytest.param(lambda p: p.inject(b"\x00\xff\xff\x7f\x5d"), id="oversized-frame"),
        pytest.param(lambda p: p.inject(b"\x00\xff\xff\xff\xff\xff\x01"), id="bad-varint"),
        pytest.param(lambda p: p.inject(b"\x07\x01\x02"), id="bad-preamble"),
        pytest.param(lambda p: p.send_message_bytes(93, b"\x0a\xff\xff\xff"), id="bad-protobuf"),
        pytest.param(lambda p: p.send_message_bytes(4000, b"\x01\x02"), id="unknown-message"),
    ],
)
async def test_hostile_frames_are_survived(
    attack: Callable[[FakeProxy], None], caplog: pytest.LogCaptureFixture
) -> None:
    source = await _hostile_then_healthy(attack, caplog)
    assert source.stats.connects >= 1
    assert not any(r.exc_info for r in caplog.records), "no traceback in the logs"


async def test_hostile_advertisements_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    door_ad = build_ad({0xFE95: DOOR})

    def attack(proxy: FakeProxy) -> None:
        proxy.send_batch(
            [
                Entry(1 << 60, -60, door_ad),  # address beyond 48 bits
                Entry(0xA4C138B4944C, -60, door_ad[:-4]),  # structure past its end
                Entry(0xA4C138B4944C, -60, b"\x02\x16\x95"),
                Entry(0xE4AAEC8121AE, 5000, door_ad),  # impossible RSSI: kept as unknown
                Entry(0xA4C138B4944C, -60, b"\xff" * 2000),  # oversized
            ]
        )
        batch = api_pb2.BluetoothLERawAdvertisementsResponse()
        batch.advertisements.add(address=0xA4C138B4944C, rssi=-60, data=b"")
        proxy.subscriber.send(batch) if proxy.subscriber else None

    source = await _hostile_then_healthy(attack, caplog)
    assert source.stats.malformed == 4
    assert source.stats.connects == 1  # never disconnected
    assert source.status.errors >= 4
    assert "bad advertisement" in (source.status.last_error or "")
    assert len([m for m in warnings_of(caplog) if "bad advertisement" in m]) == 1


async def test_flood_is_cut_and_others_keep_flowing(caplog: pytest.LogCaptureFixture) -> None:
    flood, calm = FakeProxy(name="flood"), FakeProxy(name="calm")
    flood_sink, calm_sink = Sink(), Sink()
    async with (
        flood,
        calm,
        running(make_source(flood_sink, port=flood.port, flood_rate=500, flood_burst=1000)) as src,
        running(make_source(calm_sink, port=calm.port)),
    ):
        await flood.wait_subscribed()
        await calm.wait_subscribed()
        entries = [Entry.service(THERMO_MAC, THERMO, rssi=-60 - (i % 20)) for i in range(16)]
        for _ in range(1000):  # 16,000 advertisements at once
            flood.send_batch(entries)
        calm.send_batch([Entry.service(DOOR_MAC, DOOR)])
        await calm_sink.wait(1)
        await until(lambda: src.stats.advertisements >= 16_000, timeout=15)
        assert src.stats.flood_dropped >= 16_000 - 1000 - 16 * 20
        assert src.stats.forwarded + src.stats.flood_dropped == 16_000
        assert src.status.connected
    assert len([m for m in warnings_of(caplog) if "advertisements a second" in m]) == 1


async def test_sink_failure_is_counted_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeProxy()
    calls: list[Advertisement] = []

    def sink(adv: Advertisement) -> None:
        calls.append(adv)
        raise RuntimeError("boom")

    async with fake, running(make_source(sink, port=fake.port)) as source:
        await fake.wait_subscribed()
        fake.send_batch([Entry.service(THERMO_MAC, THERMO), Entry.service(DOOR_MAC, DOOR)])
        await until(lambda: len(calls) == 2)
        assert source.stats.sink_errors == 2 and source.status.connected


async def test_stop_while_connecting_and_twice() -> None:
    fake = FakeProxy.encrypted(KEY)
    async with fake:
        source = make_source(Sink(), port=fake.port, encryption_key=KEY)
        await source.start()
        await source.stop()
        await source.stop()
        assert not source.status.connected
        source = make_source(Sink(), port=fake.port, encryption_key=KEY)
        async with running(source):
            await fake.wait_subscribed()
        await until(lambda: not fake.connections)  # it said goodbye
        assert 5 in fake.received  # DisconnectRequest
