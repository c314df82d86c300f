"""Attacks on the bridge's HAP server over real sockets on 127.0.0.1.

Each test makes the attack, checks that it is refused as the server promises, and checks
that the bridge still pairs with the right code and serves a paired controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import resource
from collections.abc import Iterator
from pathlib import Path

import hapraw
import pytest
from hap_bridge_fixture import (
    LOOPBACK,
    SETUP_CODE,
    SWITCH_ON,
    WRONG_CODE,
    BridgeProcess,
    RunningBridge,
    aiohomekit_controller,
    aiohomekit_pairing,
    assert_aiohomekit_reads,
    assert_clean_stderr,
    running_bridge,
)
from hapraw import (
    HOSTILE_A,
    TLV8,
    HapConnection,
    PairSetup,
    Tag,
    TlvError,
    state_error,
    tlv_encode,
)

UNAUTHENTICATED = {"status": -70401}

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever the attack, the server logs no traceback."""
    caplog.set_level(logging.INFO)
    yield
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert not with_traceback, [r.getMessage() for r in with_traceback]


async def m1_reply(bridge: RunningBridge) -> tuple[int | None, int | None]:
    """State and error of an M1 on a new connection."""
    async with await bridge.connect() as conn:
        return state_error(await PairSetup(conn, SETUP_CODE).m1())


async def wrong_code(bridge: RunningBridge) -> tuple[int | None, int | None]:
    """A whole guess with a wrong code: M1 must be answered; state and error of M4."""
    async with await bridge.connect() as conn:
        setup = PairSetup(conn, WRONG_CODE)
        assert state_error(await setup.m1()) == (2, None)
        return state_error(await setup.m3())


async def pair_and_unpair(bridge: RunningBridge) -> None:
    """Pair with the right code, then remove that pairing: the bridge is unpaired again."""
    await bridge.remove(await bridge.pair())
    assert not bridge.paired


# --------------------------------------------------------------------------- pair-setup


@pytest.mark.parametrize("name", list(HOSTILE_A))
async def test_public_key_zero_mod_n_or_oversized_is_refused(tmp_path: Path, name: str) -> None:
    """An A ≡ 0 (mod N) or longer than 384 bytes never pairs, even with K from S = 0."""
    async with running_bridge(tmp_path) as bridge:
        async with await bridge.connect() as conn:
            attacker = PairSetup(conn, "000-00-000")
            assert state_error(await attacker.m1()) == (2, None)
            assert state_error(await attacker.m3(HOSTILE_A[name], zero_key=True)) == (
                4,
                TlvError.AUTHENTICATION,
            )
            # M5 encrypted with the key an attacker derives from S = 0.
            state, error = state_error(await attacker.m5())
            assert error is not None, "M6 success for an attacker"
            assert state == 6 or (state == 4 and error == TlvError.UNKNOWN), (state, error)
        assert not bridge.paired
        async with aiohomekit_controller(bridge.port) as controller:
            await assert_aiohomekit_reads(controller)


async def test_hostile_public_keys_count_as_failed_attempts(tmp_path: Path) -> None:
    """Each refused A is a failed attempt: as many as lockout_failures lock pair-setup out."""
    async with running_bridge(
        tmp_path, lockout_failures=len(HOSTILE_A), lockout_seconds=1.0
    ) as bridge:
        for value in HOSTILE_A.values():
            async with await bridge.connect() as conn:
                attacker = PairSetup(conn, SETUP_CODE)
                assert state_error(await attacker.m1()) == (2, None)
                assert state_error(await attacker.m3(value, zero_key=True)) == (
                    4,
                    TlvError.AUTHENTICATION,
                )
        assert await m1_reply(bridge) == (2, TlvError.BUSY)
        await asyncio.sleep(1.0)
        async with aiohomekit_controller(bridge.port) as controller:
            await assert_aiohomekit_reads(controller)


async def test_wrong_codes_lock_out_for_a_while(tmp_path: Path) -> None:
    """lockout_failures consecutive wrong codes: Busy, even for the right code, then pairs.

    A success in between starts the count again.
    """
    async with running_bridge(tmp_path, lockout_failures=3, lockout_seconds=1.0) as bridge:
        for _ in range(2):
            assert await wrong_code(bridge) == (4, TlvError.AUTHENTICATION)
        await pair_and_unpair(bridge)
        for _ in range(2):  # not locked out: the success reset the count
            assert await wrong_code(bridge) == (4, TlvError.AUTHENTICATION)
        assert await wrong_code(bridge) == (4, TlvError.AUTHENTICATION)
        assert await m1_reply(bridge) == (2, TlvError.BUSY)
        with pytest.raises(hapraw.PairingError) as refused:
            await bridge.pair()
        assert (refused.value.state, refused.value.error) == (2, TlvError.BUSY)
        await asyncio.sleep(1.0)
        async with aiohomekit_controller(bridge.port) as controller:
            await assert_aiohomekit_reads(controller)


async def test_max_failed_attempts_persist_until_reset(tmp_path: Path) -> None:
    """max_failed_attempts wrong codes in total: MaxTries, across a restart, until reset."""
    limits = {"lockout_failures": 100, "max_failed_attempts": 8}
    async with running_bridge(tmp_path, **limits) as bridge:
        for _ in range(7):
            assert await wrong_code(bridge) == (4, TlvError.AUTHENTICATION)
        await pair_and_unpair(bridge)  # a success resets the total
        for _ in range(8):  # each M1 is answered: the 7 earlier failures no longer count
            assert await wrong_code(bridge) == (4, TlvError.AUTHENTICATION)
        assert await m1_reply(bridge) == (2, TlvError.MAX_TRIES)
        with pytest.raises(hapraw.PairingError) as refused:
            await bridge.pair()
        assert (refused.value.state, refused.value.error) == (2, TlvError.MAX_TRIES)
    assert (tmp_path / "pair-setup.json").is_file()

    async with running_bridge(tmp_path, **limits) as bridge:
        assert await m1_reply(bridge) == (2, TlvError.MAX_TRIES)
        bridge.driver.pairing_attempts.reset()
        async with aiohomekit_controller(bridge.port) as controller:
            await assert_aiohomekit_reads(controller)


async def test_second_pair_setup_is_busy_and_the_first_completes(tmp_path: Path) -> None:
    """M1 while another connection's pair-setup runs: Busy; that connection cannot hijack it."""
    async with running_bridge(tmp_path) as bridge:
        async with await bridge.connect() as first, await bridge.connect() as second:
            owner = PairSetup(first, SETUP_CODE)
            assert state_error(await owner.m1()) == (2, None)
            intruder = PairSetup(second, SETUP_CODE)
            assert state_error(await intruder.m1()) == (2, TlvError.BUSY)
            # M3 on the other connection, with the owner's salt and B: no M1 there.
            intruder.salt, intruder.public_b = owner.salt, owner.public_b
            assert state_error(await intruder.m3()) == (4, TlvError.UNKNOWN)
            owner.check_m4(await owner.m3())
            pairing = owner.check_m6(await owner.m5())
        assert bridge.paired
        await bridge.assert_serves(pairing)
        async with aiohomekit_controller(bridge.port, pairing) as controller:
            await assert_aiohomekit_reads(controller)


async def test_stale_pair_setup_stops_blocking(tmp_path: Path) -> None:
    """A pair-setup left after M1 blocks others only for pair_setup_timeout."""
    async with running_bridge(tmp_path, pair_setup_timeout=0.5) as bridge:
        async with await bridge.connect() as stale_conn:
            stale = PairSetup(stale_conn, SETUP_CODE)
            assert state_error(await stale.m1()) == (2, None)
            assert await m1_reply(bridge) == (2, TlvError.BUSY)
            await asyncio.sleep(0.6)
            pairing = await bridge.pair()
            # The abandoned exchange cannot be finished any more.
            _, error = state_error(await stale.m3())
            assert error is not None
        async with await bridge.verified(pairing) as conn:
            assert list(await hapraw.list_pairings(conn)) == [pairing.controller.pairing_id]
        await bridge.assert_serves(pairing)


async def test_m3_or_m5_without_m1_is_unknown(tmp_path: Path) -> None:
    """M3 and M5 on a connection that never sent M1: error Unknown."""
    async with running_bridge(tmp_path) as bridge:
        async with await bridge.connect() as conn:
            setup = PairSetup(conn, SETUP_CODE)
            setup.salt, setup.public_b = bytes(16), (12345).to_bytes(384, "big")
            assert state_error(await setup.m3()) == (4, TlvError.UNKNOWN)
            assert state_error(await setup.m5()) == (6, TlvError.UNKNOWN)
        assert not bridge.paired
        async with aiohomekit_controller(bridge.port) as controller:
            await assert_aiohomekit_reads(controller)


# --------------------------------------------------------------------------- malformed bodies


def _random_tlv(rng: random.Random, tags: list[int]) -> bytes:
    return tlv_encode(*[(tag, rng.randbytes(rng.randrange(0, 400))) for tag in tags])


def malformed_bodies(rng: random.Random, count: int) -> Iterator[tuple[bytes, set[int]]]:
    """Bodies that are no pair-setup message, each with the reply states allowed for it.

    Random bytes, cut messages, messages without a state or with a wrong one, and M3/M5
    with fields missing or of random shapes (sent on a connection without M1).
    """
    samples = [
        tlv_encode(
            (Tag.STATE, 3), (Tag.PUBLIC_KEY, rng.randbytes(384)), (Tag.PROOF, rng.randbytes(64))
        ),
        tlv_encode((Tag.STATE, 5), (Tag.ENCRYPTED_DATA, rng.randbytes(154))),
    ]
    made = 0
    while made < count:
        kind = made % 4
        if kind == 0:
            body = rng.randbytes(rng.randrange(0, 700))
        elif kind == 1:
            sample = rng.choice(samples)
            body = sample[: rng.randrange(1, len(sample) - 1)]
        elif kind == 2:
            state = rng.choice(
                [b"", b"\x00", b"\x02", b"\x04", b"\x06", b"\x09", b"\xff", b"\x03\x00"]
            )
            others = [Tag.PUBLIC_KEY, Tag.PROOF, Tag.ENCRYPTED_DATA, Tag.METHOD, 0x42]
            tags = rng.sample(others, rng.randrange(0, len(others)))
            body = _random_tlv(rng, tags)
            if rng.random() < 0.7:
                body = tlv_encode((Tag.STATE, state)) + body
        else:
            state = rng.choice([3, 5])
            others = [Tag.PUBLIC_KEY, Tag.PROOF, Tag.ENCRYPTED_DATA, Tag.IDENTIFIER, Tag.SALT]
            body = tlv_encode((Tag.STATE, state)) + _random_tlv(
                rng, rng.sample(others, rng.randrange(0, len(others)))
            )
        try:
            items = hapraw.tlv_dict(body)
        except hapraw.MalformedTlv:
            allowed = {2, 4, 6}  # where a cut falls decides how much of it is readable
        else:
            if items.get(Tag.STATE) == b"\x01":
                continue  # a real M1
            state = items.get(Tag.STATE, b"")
            if state in (b"\x03", b"\x05"):
                allowed = {state[0] + 1}
            elif len(state) == 1:  # not a request state: its successor or "unknown" (2)
                allowed = {2, (state[0] + 1) & 0xFF}
            else:
                allowed = {2}
        made += 1
        yield body, allowed


async def test_malformed_pair_setup_bodies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """300 malformed bodies: each an HTTP 200 TLV error Unknown, no traceback, few warnings."""
    rng = random.Random(20240515)
    limits = {"lockout_failures": 1000, "max_failed_attempts": 1000, "pair_setup_timeout": 0.5}
    async with running_bridge(tmp_path, **limits) as bridge:
        conn = await bridge.connect()
        try:
            for body, allowed in malformed_bodies(rng, 300):
                if conn.writer.is_closing():
                    conn = await bridge.connect()
                response = await conn.request("POST", "/pair-setup", body, TLV8)
                assert response.status == 200, (body.hex(), response)
                state, error = state_error(response.tlv())
                assert error == TlvError.UNKNOWN, (body.hex(), response.tlv())
                assert state in allowed, (body.hex(), response.tlv())
            # M3 with fields missing after a real M1.
            for missing in (Tag.PUBLIC_KEY, Tag.PROOF):
                setup = PairSetup(conn, SETUP_CODE)
                assert state_error(await setup.m1()) == (2, None)
                items = [
                    (tag, value)
                    for tag, value in hapraw.tlv_items(setup.m3_body())
                    if tag != missing
                ]
                reply = await conn.post_tlv("/pair-setup", tlv_encode(*items))
                assert state_error(reply) == (4, TlvError.UNKNOWN)
        finally:
            await conn.close()
        malformed = [
            r
            for r in caplog.records
            if r.levelno >= logging.WARNING and "malformed" in r.getMessage().lower()
        ]
        assert len(malformed) <= 1, [r.getMessage() for r in malformed]
        assert not bridge.paired
        await asyncio.sleep(0.5)  # the last exchange above is left after M1
        async with aiohomekit_controller(bridge.port) as controller:
            await assert_aiohomekit_reads(controller)


# --------------------------------------------------------------------------- unauthenticated


PROTECTED = [
    ("GET", "/accessories", b""),
    ("GET", f"/characteristics?id={SWITCH_ON[0]}.{SWITCH_ON[1]}", b""),
    ("PUT", "/characteristics", b'{"characteristics":[{"aid":2,"iid":9,"value":true}]}'),
    ("PUT", "/prepare", b'{"ttl":10000,"pid":1}'),
    ("POST", "/pairings", tlv_encode((Tag.STATE, 1), (Tag.METHOD, 5))),
    ("POST", "/resource", b'{"resource-type":"image","image-width":64,"image-height":64}'),
]


async def assert_protected(conn: HapConnection) -> None:
    """Every request that needs pair-verify gets 470 {"status": -70401}."""
    for method, path, body in PROTECTED:
        response = await conn.request(method, path, body, hapraw.HAP_JSON)
        assert response.status == 470, (method, path, response)
        assert json.loads(response.body) == UNAUTHENTICATED, (method, path, response)


async def test_requests_before_pair_verify_are_refused(tmp_path: Path) -> None:
    """Unpaired or paired, an unverified connection reads and writes nothing; identify as said."""
    async with running_bridge(tmp_path) as bridge:
        async with await bridge.connect() as conn:
            await assert_protected(conn)
            assert (await conn.request("POST", "/identify")).status == 204
            assert (await conn.request("GET", "/no-such-thing")).status == 404
        pairing = await bridge.pair()
        async with await bridge.connect() as conn:
            await assert_protected(conn)
            identify = await conn.request("POST", "/identify")
            assert identify.status == 400
            assert json.loads(identify.body) == UNAUTHENTICATED
            assert (await conn.request("GET", "/no-such-thing")).status == 404
        async with await bridge.verified(pairing) as conn:
            # The unauthenticated writes changed nothing.
            assert await hapraw.get_characteristics(conn, [SWITCH_ON]) == {SWITCH_ON: False}


async def pair_verify_m1(conn: HapConnection, public_key: bytes) -> tuple[int | None, int | None]:
    body = tlv_encode((Tag.STATE, 1), (Tag.PUBLIC_KEY, public_key))
    return state_error(await conn.post_tlv("/pair-verify", body))


async def test_pair_verify_refusals(tmp_path: Path) -> None:
    """Pair-verify: unpaired → M2 error 2; an unknown or impostor controller → M4 error 2."""
    async with running_bridge(tmp_path) as bridge:
        async with await bridge.connect() as conn:
            assert await pair_verify_m1(conn, bytes(range(32))) == (2, TlvError.AUTHENTICATION)
        pairing = await bridge.pair()
        stranger = hapraw.PairingRecord(
            hapraw.Controller(), pairing.accessory_id, pairing.accessory_ltpk
        )
        # The admin's pairing id with another key: the signature in M3 does not match.
        impostor = hapraw.PairingRecord(
            hapraw.Controller(pairing_id=pairing.controller.pairing_id),
            pairing.accessory_id,
            pairing.accessory_ltpk,
        )
        for who in (stranger, impostor):
            with pytest.raises(hapraw.PairingError) as refused:
                await bridge.verified(who)
            assert (refused.value.state, refused.value.error) == (4, TlvError.AUTHENTICATION)
        # Hostile ephemeral keys (a low-order point, a short key): an error answer.
        for key in (bytes(32), b"\x01"):
            async with await bridge.connect() as conn:
                _, error = await pair_verify_m1(conn, key)
                assert error is not None, key
        await bridge.assert_serves(pairing)


async def test_malformed_pair_verify_bodies(tmp_path: Path) -> None:
    """Random pair-verify bodies, unpaired and paired: an HTTP 200 TLV error every time."""
    rng = random.Random(7)
    async with running_bridge(tmp_path) as bridge:
        for round_ in range(2):
            pairing = await bridge.pair() if round_ else None
            async with await bridge.connect() as conn:
                for _ in range(100):
                    body = rng.randbytes(rng.randrange(0, 300))
                    if rng.random() < 0.5:
                        state = rng.choice([1, 3, 5, 0xFF])
                        body = tlv_encode((Tag.STATE, state)) + body
                    response = await conn.request("POST", "/pair-verify", body, TLV8)
                    assert response.status == 200, (body.hex(), response)
                    assert state_error(response.tlv())[1] is not None, (body.hex(), response)
        assert pairing is not None
        await bridge.assert_serves(pairing)


# --------------------------------------------------------------------------- floods


async def _stream(conn: HapConnection, chunk: bytes, total: int) -> int:
    """Send ``chunk`` until ``total`` bytes or the accessory closes; bytes sent."""
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < total:
            await conn.send(chunk)
            sent += len(chunk)
    return sent


async def flooded_response(
    conn: HapConnection, head: bytes, chunk: bytes, total: int, timeout: float
) -> hapraw.HttpResponse:
    """Send ``head`` then stream ``chunk``s while reading the answer; the answer."""
    await conn.send(head)
    streaming = asyncio.create_task(_stream(conn, chunk, total))
    try:
        return await conn.read_response(timeout)
    finally:
        streaming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await streaming


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


async def test_header_flood_is_431_and_closed(tmp_path: Path) -> None:
    """Headers beyond max_header, whole or never ending: 431, then the connection closes."""
    async with running_bridge(tmp_path) as bridge, aiohomekit_controller(bridge.port) as ctl:
        padding = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 400) for i in range(40))
        async with await bridge.connect() as conn:
            await conn.send(b"GET /accessories HTTP/1.1\r\nHost: x\r\n" + padding + b"\r\n")
            assert (await conn.read_response(2.0)).status == 431
            assert await conn.wait_closed(2.0)
        async with await bridge.connect() as conn:
            head = b"GET /accessories HTTP/1.1\r\nHost: x\r\n"
            response = await flooded_response(
                conn, head, b"X-A: " + b"a" * 4000 + b"\r\n", 1 << 22, 2.0
            )
            assert response.status == 431
            assert await conn.wait_closed(2.0)
        await assert_aiohomekit_reads(ctl)


async def test_body_flood_is_413_without_reading_it(tmp_path: Path) -> None:
    """Content-Length: 200000000 is refused at once, plain or encrypted; memory stays flat."""
    async with running_bridge(tmp_path) as bridge:
        pairing = await bridge.pair()
        before = rss_bytes()
        chunk = b"\x00" * (1 << 20)
        loop = asyncio.get_running_loop()
        async with await bridge.connect() as conn:
            head = b"POST /pair-setup HTTP/1.1\r\nHost: x\r\nContent-Type: " + TLV8.encode()
            head += b"\r\nContent-Length: 200000000\r\n\r\n"
            started = loop.time()
            response = await flooded_response(conn, head, chunk, 64 << 20, 2.0)
            assert response.status == 413
            assert loop.time() - started < 1.0
            assert await conn.wait_closed(2.0)
        async with await bridge.verified(pairing) as conn:
            head = (
                b"PUT /characteristics HTTP/1.1\r\nHost: x\r\nContent-Type: "
                + hapraw.HAP_JSON.encode()
            )
            head += b"\r\nContent-Length: 200000000\r\n\r\n"
            response = await flooded_response(conn, head, chunk, 64 << 20, 2.0)
            assert response.status == 413
            assert await conn.wait_closed(2.0)
        assert rss_bytes() - before < 20 << 20
        await bridge.assert_serves(pairing)


async def test_slowloris_is_closed_after_request_timeout(tmp_path: Path) -> None:
    """A request trickled byte by byte is cut off request_timeout after its first byte.

    Idle connections, verified or not, are not: the timer starts with a request.
    """
    async with running_bridge(tmp_path, request_timeout=0.5, unverified_timeout=5.0) as bridge:
        pairing = await bridge.pair()
        async with (
            await bridge.verified(pairing) as verified,
            await bridge.connect() as idle,
        ):
            loop = asyncio.get_running_loop()
            for head in (
                b"GET /accessories HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                b"POST /pair-setup HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
            ):
                async with await bridge.connect() as slow:
                    started = loop.time()
                    await slow.send(head)

                    async def trickle(conn: HapConnection = slow) -> None:
                        with contextlib.suppress(ConnectionError):
                            for _ in range(40):
                                await asyncio.sleep(0.1)
                                await conn.send(b"a")

                    trickling = asyncio.create_task(trickle())
                    closed = await slow.wait_closed(2.0)
                    elapsed = loop.time() - started
                    trickling.cancel()
                    assert closed, head
                    assert 0.4 <= elapsed <= 1.5, (head, elapsed)
            assert await hapraw.get_characteristics(verified, [SWITCH_ON]) == {SWITCH_ON: False}
            assert (await idle.request("GET", "/accessories")).status == 470


async def test_unverified_connections_expire_even_when_active(tmp_path: Path) -> None:
    """Unverified connections live unverified_timeout, busy or idle; verified ones stay."""
    async with running_bridge(tmp_path, unverified_timeout=0.8, request_timeout=0.5) as bridge:
        pairing = await bridge.pair()
        loop = asyncio.get_running_loop()
        async with (
            await bridge.verified(pairing) as verified,
            await bridge.connect() as idle,
            await bridge.connect() as busy,
        ):
            started = loop.time()

            async def keep_asking() -> float:
                with contextlib.suppress(ConnectionError):
                    while True:
                        assert (
                            await busy.request("GET", "/accessories", timeout=2.0)
                        ).status == 470
                        await asyncio.sleep(0.1)
                return loop.time() - started

            busy_for = await asyncio.wait_for(keep_asking(), 3.0)
            assert await idle.wait_closed(1.0)
            idle_for = loop.time() - started
            assert 0.6 <= busy_for <= 1.6, busy_for
            assert idle_for <= 1.6, idle_for
            await asyncio.sleep(max(0.0, 1.2 - (loop.time() - started)))
            assert await hapraw.get_characteristics(verified, [SWITCH_ON]) == {SWITCH_ON: False}


async def open_many(bridge_port: int, count: int) -> list[HapConnection]:
    """``count`` plain connections, one after the other (oldest first)."""
    conns = []
    for _ in range(count):
        conns.append(await HapConnection.open(LOOPBACK, bridge_port))
    return conns


async def closed_flags(conns: list[HapConnection], timeout: float) -> list[bool]:
    return list(await asyncio.gather(*(c.wait_closed(timeout) for c in conns)))


async def close_all(conns: list[HapConnection]) -> None:
    await asyncio.gather(*(c.close() for c in conns))


async def test_one_peer_keeps_at_most_its_share_of_unverified_connections(tmp_path: Path) -> None:
    """The oldest unverified connections of a peer over max_unverified_per_peer are closed."""
    async with running_bridge(tmp_path, max_unverified_per_peer=8) as bridge:
        pairing = await bridge.pair()
        conns = await open_many(bridge.port, 20)
        try:
            await asyncio.sleep(0.2)
            assert await closed_flags(conns, 0.3) == [True] * 12 + [False] * 8
            # The controller is on the same address: it gets in all the same.
            await bridge.assert_serves(pairing)
        finally:
            await close_all(conns)


async def test_connection_flood_never_locks_out_the_controller(tmp_path: Path) -> None:
    """300 connections against an unverified cap of 48: verified ones are never closed, and
    the controller still connects, pair-verifies and reads while the attacker holds the cap."""
    limits = {"max_connections": 64, "reserved_for_verified": 16, "max_unverified_per_peer": 1000}
    async with running_bridge(tmp_path, **limits) as bridge:
        pairing = await bridge.pair()
        controller = aiohomekit_pairing(pairing, bridge.port)
        await assert_aiohomekit_reads(controller)  # a verified connection before the flood
        held = await bridge.verified(pairing)
        conns = await open_many(bridge.port, 300)
        try:
            flags = await closed_flags(conns, 0.5)
            open_count = flags.count(False)
            assert 0 < open_count <= 48, open_count
            assert flags[-open_count:] == [False] * open_count  # the newest are the ones left
            assert await hapraw.get_characteristics(held, [SWITCH_ON]) == {SWITCH_ON: False}
            await assert_aiohomekit_reads(controller)
            for _ in range(5):
                await bridge.assert_serves(pairing)
            # More verified connections than reserved_for_verified, while the attacker holds
            # the unverified cap: each one pushes out an unverified connection first.
            more = [await bridge.verified(pairing) for _ in range(20)]
            for conn in more:
                assert await hapraw.get_characteristics(conn, [SWITCH_ON]) == {SWITCH_ON: False}
            await close_all(more)
        finally:
            await close_all(conns)
            await held.close()
            await controller.close()


def _low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))


async def test_descriptor_exhaustion(tmp_path: Path) -> None:
    """A bridge limited to 96 descriptors, 200 connections at it: the controller still gets in."""
    with BridgeProcess(
        tmp_path / "state", limits={"max_unverified_per_peer": 1000}, preexec_fn=_low_nofile
    ) as bridge:
        pairing = await bridge.pair()
        conns = await open_many(bridge.port, 200)
        try:
            await bridge.assert_serves(pairing)
            async with aiohomekit_controller(bridge.port, pairing) as controller:
                await assert_aiohomekit_reads(controller)
            assert bridge.proc is not None and bridge.proc.poll() is None
        finally:
            await close_all(conns)
    assert_clean_stderr(bridge.stderr())
