"""Pairing and serving: mihomekit's HomeKit server against HAP-python's, in the same run.

The reference is HAP-python 5.2, whose server mihomekit's replaced. Four measurements:

1. **SRP** (pair-setup's M1-M4 without the network): N random handshakes of aiohomekit's
   ``SrpClient`` (the controller side Home Assistant uses) with
   ``mihomekit.homekit.srp.SrpServer`` and with ``pyhap.hsrp.Server`` used as HAP-python's
   pair-setup handler uses it (B sent as ``long_to_bytes(B)``, the session key taken as
   ``long_to_bytes(get_session_key())``). Each handshake gives both servers the same salt,
   secrets and setup code, always the right one: every failure is a bug. The servers' own
   time per handshake is timed too. A process pool of 2 runs the batches.
2. **Pair-setup over 127.0.0.1**: the raw client (``tests/helpers/hapraw.py``) runs pair-setup
   M1-M6 and then pair-verify on a new connection, against a fresh state directory each
   round; wall time (median, p95) and the server process's CPU time per pairing.
3. **Requests**: GET /characteristics of 10 characteristics, one after the other, on a
   pair-verified (encrypted) connection for a few seconds: requests/s, CPU per request.
4. **Connection flood**: 1,000 TCP connections that send nothing, from one address and
   spread over 250 loopback addresses: connections the server holds, its RSS growth,
   connects that had to wait for a resent SYN, and whether a paired controller can still
   pair-verify and read while the flood is opening and once it is held.

The servers, ``mihomekit.homekit.BridgeDriver`` and HAP-python's stock ``AccessoryDriver``,
serve the same pyhap Bridge with one bridged light (``advertise=False``). Each runs in a
process of its own (this script with ``--serve``, driven by lines on its stdin), so its
CPU time and RSS are its own; the flood gets fresh processes.

    .venv/bin/python benchmarks/bench_pairing.py          # 2.5-3 minutes (2 idle cores)
    .venv/bin/python benchmarks/bench_pairing.py --quick  # 200 handshakes, 10 rounds, 1 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from aiohomekit.crypto.srp import SrpClient
from benchlib import REPO_DIR, percentile, summary_ms, table, write_result
from pyhap.accessory import Accessory, Bridge
from pyhap.accessory_driver import AccessoryDriver
from pyhap.hsrp import Server as HapPythonSrp
from pyhap.params import get_srp_context
from pyhap.util import long_to_bytes

from mihomekit.homekit import BridgeDriver
from mihomekit.homekit.srp import SrpServer

sys.path.insert(0, str(REPO_DIR / "tests" / "helpers"))

import hapraw
from homekit_helpers import free_port

NAME = "pairing"
OURS, REF = "mihomekit", "HAP-python"
KINDS = (OURS, REF)
LOOPBACK = "127.0.0.1"
SETUP_CODE = "482-19-637"
REPLY_PREFIX = "@@ "
SRP_BATCH = 50
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux
#: The odds that B, the premaster secret S or the session key K starts with a zero byte,
#: which HAP-python's server strips: its expected failure rate with the right code.
LEADING_ZERO_ODDS = 1 - (255 / 256) ** 3

Stats = dict[str, Any]

# --------------------------------------------------------------------------- 1. SRP


def _setup_code(rng: random.Random) -> str:
    digits = f"{rng.randrange(10**8):08d}"
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


class SeededClient(SrpClient):
    """aiohomekit's SRP client, its private key ``a`` drawn by the benchmark (reproducible)."""

    def __init__(self, code: str, secret: int) -> None:
        self._secret = secret
        super().__init__("Pair-Setup", code)

    def generate_private_key(self) -> int:  # type: ignore[override]
        return self._secret


class OursSide:
    """mihomekit's SrpServer, as mihomekit's pair-setup uses it."""

    def __init__(self, code: str, salt: bytes, secret: int) -> None:
        self.server = SrpServer(code.encode(), salt=salt, secret=secret)
        self.salt = self.server.salt
        self.public_b = self.server.public_key  # what M2 carries

    def answer(self, public_a: bytes, proof: bytes) -> tuple[bytes | None, bytes | None]:
        """M3 in: the accessory's proof for M4 (None: refused) and its session key."""
        self.server.set_client_public_key(public_a)
        return self.server.verify(proof), self.server.session_key


class RefSide:
    """pyhap.hsrp.Server, as HAP-python 5.2's pair-setup handler uses it."""

    def __init__(self, code: str, salt: bytes, secret: int) -> None:
        context = get_srp_context(3072, hashlib.sha512, 16)
        self.server = HapPythonSrp(context, b"Pair-Setup", code.encode(), s=salt, b=secret)
        self.salt, big_b = self.server.get_challenge()
        self.public_b = long_to_bytes(big_b)  # what M2 carries

    def answer(self, public_a: bytes, proof: bytes) -> tuple[bytes | None, bytes | None]:
        try:
            self.server.set_A(public_a)
        except ValueError:
            return None, None
        hamk = self.server.verify(proof)
        if hamk is None:
            return None, None
        return hamk, long_to_bytes(self.server.get_session_key())


SIDES: dict[str, type[OursSide] | type[RefSide]] = {OURS: OursSide, REF: RefSide}


def _judge(client: SrpClient, answer: bytes | None, key: bytes | None) -> str | None:
    """None when both sides accept each other and share the key, else what went wrong."""
    if answer is None:
        return "accessory refused the controller's proof"
    if not client.verify_servers_proof_bytes(answer):
        return "controller refused the accessory's proof"
    if key != bytes(client.get_session_key_bytes()):
        return "session keys differ"
    return None


def _zero_byte_cause(ours: OursSide, client: SrpClient) -> str:
    """Which value of a handshake starts with a zero byte (B, then S, then K)."""
    if ours.public_b[0] == 0:
        return "B"
    if client.get_shared_secret_bytes()[0] == 0:
        return "S"
    key = ours.server.session_key
    if key is not None and key[0] == 0:
        return "K"
    return "none"


def srp_batch(seed: int, count: int) -> dict[str, Any]:
    """``count`` handshakes, each against both servers (alternating which goes first).

    Only the servers' calls are timed. The controller's side is computed once per value
    of B received: both servers send the same B unless HAP-python strips a zero byte.
    """
    rng = random.Random(seed)
    clock = time.perf_counter_ns
    failures: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    causes: Counter[str] = Counter()
    server_ns: dict[str, list[int]] = {kind: [] for kind in KINDS}
    for n in range(count):
        code = _setup_code(rng)
        salt = rng.randbytes(16)
        server_secret = int.from_bytes(rng.randbytes(32), "big") or 1
        client_secret = int.from_bytes(rng.randbytes(16), "big") or 1
        order = KINDS if n % 2 == 0 else KINDS[::-1]
        sides: dict[str, OursSide | RefSide] = {}
        spent: dict[str, int] = {}
        for kind in order:  # M1 -> M2
            start = clock()
            sides[kind] = SIDES[kind](code, salt, server_secret)
            spent[kind] = clock() - start
        clients: dict[tuple[bytes, bytes], SrpClient] = {}
        for side in sides.values():  # M3
            if (side.salt, side.public_b) not in clients:
                fresh = SeededClient(code, client_secret)
                fresh.set_salt(bytearray(side.salt))
                fresh.set_server_public_key(side.public_b)
                fresh.get_proof_bytes()
                clients[side.salt, side.public_b] = fresh
        outcome: dict[str, str | None] = {}
        for kind in order:  # M4
            side = sides[kind]
            client = clients[side.salt, side.public_b]
            public_a, proof = bytes(client.get_public_key_bytes()), client.get_proof_bytes()
            start = clock()
            answer, key = side.answer(public_a, proof)
            spent[kind] += clock() - start
            server_ns[kind].append(spent[kind])
            outcome[kind] = _judge(client, answer, key)
            if outcome[kind] is not None:
                failures[kind][str(outcome[kind])] += 1
        ours = sides[OURS]
        if outcome[REF] is not None and outcome[OURS] is None and isinstance(ours, OursSide):
            causes[_zero_byte_cause(ours, clients[ours.salt, ours.public_b])] += 1
    return {
        "failures": {kind: dict(c) for kind, c in failures.items()},
        "ref_causes": dict(causes),
        "server_ns": server_ns,
    }


def run_srp(handshakes: int, workers: int, seed: int) -> dict[str, Any]:
    """All handshakes in batches over a process pool; failures and server time per kind."""
    sizes = [SRP_BATCH] * (handshakes // SRP_BATCH)
    if handshakes % SRP_BATCH:
        sizes.append(handshakes % SRP_BATCH)
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        batches = list(pool.map(srp_batch, [seed * 100_003 + i for i in range(len(sizes))], sizes))
    out: dict[str, Any] = {"handshakes": handshakes, "workers": workers, "seed": seed}
    causes: Counter[str] = Counter()
    for batch in batches:
        causes.update(batch["ref_causes"])
    for kind in KINDS:
        reasons: Counter[str] = Counter()
        times: list[int] = []
        for batch in batches:
            reasons.update(batch["failures"][kind])
            times.extend(batch["server_ns"][kind])
        out[kind] = {
            "failures": sum(reasons.values()),
            "failure_rate": sum(reasons.values()) / handshakes,
            "failures_by_reason": dict(reasons),
            "server_us_median": statistics.median(times) / 1000,
            "server_us_p95": percentile(times, 95) / 1000,
            "server_us_min": min(times) / 1000,
        }
    out[REF]["failures_by_zero_byte"] = dict(causes)
    out["expected_ref_failure_rate"] = LEADING_ZERO_ODDS
    out["elapsed_s"] = round(time.monotonic() - started, 1)
    return out


# --------------------------------------------------------------------------- the servers


def build_driver(
    kind: str, loop: asyncio.AbstractEventLoop, state_dir: Path, port: int
) -> AccessoryDriver:
    """A driver of ``kind`` serving a bridge with one bridged light (aid 2) on 127.0.0.1."""
    factory = BridgeDriver if kind == OURS else AccessoryDriver
    driver = factory(
        loop=loop,
        address=LOOPBACK,
        port=port,
        persist_file=str(state_dir / "accessory.state"),
        pincode=SETUP_CODE.encode(),
        advertise=False,
    )
    bridge = Bridge(driver, "Bench Bridge")
    light = Accessory(driver, "Light", aid=2)
    light.add_preload_service("Lightbulb", chars=["Brightness", "Hue", "Saturation"])
    bridge.add_accessory(light)
    driver.add_accessory(bridge)
    return driver


def _process_stats(driver: AccessoryDriver | None) -> Stats:
    """What the server process holds: connections, sockets, RSS, CPU time so far."""
    sockets = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            sockets += os.readlink(f"/proc/self/fd/{name}").startswith("socket:")
    rss_kb = 0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {
        "connections": len(driver.http_server.connections) if driver is not None else 0,
        "sockets": sockets,
        "rss_kb": rss_kb,
        "cpu_s": time.process_time(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


async def serve(kind: str, port: int, replies: TextIO) -> None:
    """Commands on stdin: ``start DIR`` (a fresh driver), ``stats``, ``quit``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    driver: AccessoryDriver | None = None
    while words := (await reader.readline()).decode().split():
        if words[0] == "start":
            if driver is not None:
                await driver.async_stop()
            driver = build_driver(kind, loop, Path(words[1]), port)
            await driver.async_start()
            answer: Stats = {"started": True}
        elif words[0] == "stats":
            answer = _process_stats(driver)
        else:
            break
        replies.write(REPLY_PREFIX + json.dumps(answer) + "\n")
        replies.flush()
    if driver is not None:
        await driver.async_stop()


def serve_main(kind: str, port: int) -> None:
    """The ``--serve`` process: replies on the real stdout, prints (setup codes) dropped."""
    replies = os.fdopen(os.dup(1), "w")
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the whole process
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(kind, port, replies))


class ServerProcess:
    """A server of one kind in a subprocess, with a fresh state directory per ``start``."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.workdir = workdir
        self.stderr_path = workdir / f"{kind}-{self.port}.stderr"
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.state_dirs: list[Path] = []

    async def open(self) -> None:
        with self.stderr_path.open("w") as stderr:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--serve",
                self.kind,
                str(self.port),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )

    async def command(self, line: str) -> Stats:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), 30)
            if not raw:
                raise RuntimeError(f"{self.kind} server exited: {self.stderr()[-2000:]}")
            text = raw.decode()
            if text.startswith(REPLY_PREFIX):
                return dict(json.loads(text[len(REPLY_PREFIX) :]))

    def make_state_dirs(self, count: int) -> None:
        """Empty state directories made ahead, as a bridge's exists long before pairing.

        (A directory made just before an fsync in it makes that fsync commit its creation
        too: several ms more for mihomekit's durable save, which HAP-python does not do.)
        """
        for _ in range(count):
            self.starts += 1
            state_dir = self.workdir / f"{self.kind}-{self.port}-{self.starts}"
            state_dir.mkdir()
            self.state_dirs.append(state_dir)
        os.sync()

    async def start(self) -> None:
        """A fresh driver with an empty state directory (not paired)."""
        if not self.state_dirs:
            self.make_state_dirs(1)
        await self.command(f"start {self.state_dirs.pop(0)}")

    async def stats(self) -> Stats:
        return await self.command("stats")

    def stderr(self) -> str:
        with contextlib.suppress(OSError):
            return self.stderr_path.read_text(errors="replace")
        return ""

    async def close(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"quit\n")
        with contextlib.suppress(ConnectionError):
            await self.proc.stdin.drain()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# --------------------------------------------------------------------------- 2. pair-setup


async def _pair_setup_steps(setup: hapraw.PairSetup) -> tuple[hapraw.PairingRecord, Stats]:
    """M1-M6 with the client's own work outside the three round trips timed."""
    clock = time.perf_counter
    t0 = clock()
    hapraw.check_reply(await setup.m1(), 2)
    t1 = clock()
    body = setup.m3_body()
    t2 = clock()
    setup.check_m4(await setup.conn.post_tlv("/pair-setup", body))
    t3 = clock()
    body = setup.m5_body()
    t4 = clock()
    reply = await setup.conn.post_tlv("/pair-setup", body)
    t5 = clock()
    return setup.check_m6(reply), {"m1_m2_s": t1 - t0, "m3_m4_s": t3 - t2, "m5_m6_s": t5 - t4}


async def pair_and_verify(port: int) -> tuple[hapraw.PairingRecord | None, Stats]:
    """Pair-setup M1-M6 on one connection, then pair-verify on another; the timings."""
    clock = time.perf_counter
    t0 = clock()
    conn = await hapraw.HapConnection.open(LOOPBACK, port)
    setup = hapraw.PairSetup(conn, SETUP_CODE)
    try:
        record, steps = await _pair_setup_steps(setup)
    except (hapraw.PairingError, ConnectionError, TimeoutError) as err:
        auth = isinstance(err, hapraw.PairingError) and err.error == hapraw.TlvError.AUTHENTICATION
        return None, {
            "error": str(err) or type(err).__name__,
            "wrong_code_answer": auth,
            "b_sent_short": 0 < len(setup.public_b) < hapraw.N_BYTES,
        }
    finally:
        await conn.close()
    t1 = clock()
    verified = await hapraw.open_verified(LOOPBACK, port, record)
    t2 = clock()
    await verified.close()
    return record, {"total_s": t2 - t0, "setup_s": t1 - t0, "verify_s": t2 - t1, **steps}


async def pair_fresh(server: ServerProcess, tries: int = 5) -> hapraw.PairingRecord:
    """Restart ``server`` with empty state until a pairing succeeds (HAP-python may fail)."""
    for _ in range(tries):
        await server.start()
        record, _timing = await pair_and_verify(server.port)
        if record is not None:
            return record
    raise RuntimeError(f"{server.kind}: no pairing in {tries} tries")


#: Timed per pairing: in all, pair-setup (with connecting), pair-verify (a new connection),
#: and the round trips of pair-setup's three requests (the client's own work left out).
TIMINGS = ("total_s", "setup_s", "verify_s", "m1_m2_s", "m3_m4_s", "m5_m6_s")


async def run_pairings(servers: dict[str, ServerProcess], rounds: int) -> dict[str, Any]:
    """``rounds`` pairings per kind, interleaved, each on fresh state; one warm-up each."""
    samples: dict[str, dict[str, list[float]]] = {
        kind: {name: [] for name in (*TIMINGS, "server_cpu_s")} for kind in KINDS
    }
    failed: dict[str, list[Stats]] = {kind: [] for kind in KINDS}
    for n in range(rounds + 1):
        for kind in KINDS if n % 2 == 0 else KINDS[::-1]:
            server = servers[kind]
            await server.start()
            before = await server.stats()
            record, timing = await pair_and_verify(server.port)
            after = await server.stats()
            if n == 0:
                continue
            if record is None:
                failed[kind].append(timing)
                continue
            for name in TIMINGS:
                samples[kind][name].append(timing[name])
            samples[kind]["server_cpu_s"].append(after["cpu_s"] - before["cpu_s"])
    out: dict[str, Any] = {"rounds": rounds}
    for kind in KINDS:
        s = samples[kind]
        bug = [f for f in failed[kind] if f["wrong_code_answer"]]
        out[kind] = {
            **{f"{name[:-2]}_ms": summary_ms(s[name]) for name in TIMINGS},
            "server_cpu_ms_mean": statistics.fmean(s["server_cpu_s"]) * 1000
            if s["server_cpu_s"]
            else float("nan"),
            "failed_with_right_code": len(bug),
            "failed_with_right_code_b_sent_short": sum(f["b_sent_short"] for f in bug),
            "failed_otherwise": [f["error"] for f in failed[kind] if not f["wrong_code_answer"]],
        }
    return out


# --------------------------------------------------------------------------- 3. requests


def readable_ids(accessories: list[dict[str, Any]], count: int) -> list[tuple[int, int]]:
    """The first ``count`` readable characteristics, the bridged accessory's first."""
    ids = [
        (acc["aid"], char["iid"])
        for acc in sorted(accessories, key=lambda a: a["aid"] == 1)
        for service in acc["services"]
        for char in service["characteristics"]
        if "pr" in char.get("perms", ())
    ]
    return ids[:count]


async def _request_slice(
    conn: hapraw.HapConnection, ids: list[tuple[int, int]], seconds: float
) -> tuple[int, float, int]:
    """GET /characteristics one after the other for ``seconds``: count, time, values."""
    done = values = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        read = await hapraw.get_characteristics(conn, ids)
        values = sum(v is not None for v in read.values())
        done += 1
    return done, elapsed, values


async def run_requests(
    servers: dict[str, ServerProcess], count: int, duration: float, slice_s: float = 0.25
) -> dict[str, Any]:
    """Sequential GET /characteristics on a verified connection to each server.

    The servers take turns in slices of ``slice_s`` seconds (``duration`` each in all), so
    that a change in the machine's other load falls on both alike.
    """
    conns: dict[str, hapraw.HapConnection] = {}
    requests = dict.fromkeys(KINDS, 0)
    totals = {kind: {"seconds": 0.0, "server_cpu_s": 0.0} for kind in KINDS}
    own_cpu = dict.fromkeys(KINDS, 0.0)
    values_read = dict.fromkeys(KINDS, 0)
    try:
        for kind in KINDS:
            server = servers[kind]
            conns[kind] = await hapraw.open_verified(
                LOOPBACK, server.port, await pair_fresh(server)
            )
        ids = readable_ids(await hapraw.get_accessories(conns[OURS]), count)
        for kind in KINDS:  # warm-up
            await _request_slice(conns[kind], ids, 0.3)
        for n in range(max(1, round(duration / slice_s))):
            for kind in KINDS if n % 2 == 0 else KINDS[::-1]:
                before = await servers[kind].stats()
                cpu = time.process_time()
                done, elapsed, values_read[kind] = await _request_slice(conns[kind], ids, slice_s)
                own_cpu[kind] += time.process_time() - cpu
                after = await servers[kind].stats()
                requests[kind] += done
                totals[kind]["seconds"] += elapsed
                totals[kind]["server_cpu_s"] += after["cpu_s"] - before["cpu_s"]
    finally:
        for conn in conns.values():
            await conn.close()
    out: dict[str, Any] = {"characteristics": count, "ids": [f"{a}.{i}" for a, i in ids]}
    for kind, total in totals.items():
        done = requests[kind]
        out[kind] = {
            "requests": done,
            **total,
            "values_read": values_read[kind],
            "per_s": done / total["seconds"],
            "wall_us_per_request": total["seconds"] / done * 1e6,
            "server_cpu_us_per_request": total["server_cpu_s"] / done * 1e6,
            "client_cpu_us_per_request": own_cpu[kind] / done * 1e6,
        }
    return out


# --------------------------------------------------------------------------- 4. flood


def _raise_own_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        top = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def _still_open(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return True
    except OSError:
        return False


@dataclass
class Flood:
    """Silent connections being opened: the sockets, failed and slow connects."""

    opened: list[socket.socket] = field(default_factory=list)
    failures: int = 0
    #: Connects that took over 0.5 s: their SYN was dropped (listen queue full) and resent.
    delayed: int = 0
    halfway: asyncio.Event = field(default_factory=asyncio.Event)


async def _open_silent(flood: Flood, port: int, source: Callable[[int], str], count: int) -> None:
    """``count`` connections that send nothing, 64 connecting at a time."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(64)

    async def one(n: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        # The source port is chosen at connect time (not by bind), so that it cannot be one
        # whose connection to the server is still in TIME_WAIT.
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        async with gate:
            start = time.perf_counter()
            try:
                sock.bind((source(n), 0))
                await asyncio.wait_for(loop.sock_connect(sock, (LOOPBACK, port)), 5)
            except (OSError, TimeoutError):
                sock.close()
                flood.failures += 1
                return
            flood.delayed += time.perf_counter() - start > 0.5
        flood.opened.append(sock)
        if len(flood.opened) >= count // 2:
            flood.halfway.set()

    await asyncio.gather(*(one(n) for n in range(count)))
    flood.halfway.set()


async def _controller_reads(
    port: int, record: hapraw.PairingRecord, read: tuple[int, int]
) -> Stats:
    """A paired controller connects, pair-verifies and reads one value (10 s at most)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(10):
            conn = await hapraw.open_verified(LOOPBACK, port, record)
            async with conn:
                values = await hapraw.get_characteristics(conn, [read])
    except (hapraw.PairingError, ConnectionError, OSError, TimeoutError) as err:
        return {"ok": False, "error": str(err) or type(err).__name__}
    return {"ok": read in values, "ms": (time.perf_counter() - started) * 1000}


async def run_flood(
    server: ServerProcess,
    record: hapraw.PairingRecord,
    read: tuple[int, int],
    count: int,
    addresses: int,
    settle: float,
) -> Stats:
    """Hold ``count`` silent connections; what the server keeps; can a controller still read.

    The controller tries twice: once half the connections are open (the rest still
    connecting), and once all are open and have been held ``settle`` seconds.
    """
    if addresses > 1:

        def source(n: int) -> str:
            return f"127.0.1.{1 + n % addresses}"
    else:

        def source(n: int) -> str:
            return LOOPBACK

    before = await server.stats()
    flood = Flood()
    started = time.perf_counter()
    opening = asyncio.create_task(_open_silent(flood, server.port, source, count))
    await flood.halfway.wait()
    while_opening = await _controller_reads(server.port, record, read)
    await opening
    opening_s = time.perf_counter() - started
    await asyncio.sleep(settle)
    during = await server.stats()
    open_at_client = sum(_still_open(s) for s in flood.opened)
    held = await _controller_reads(server.port, record, read)
    for sock in flood.opened:
        sock.close()
    await asyncio.sleep(settle)
    after = await server.stats()
    return {
        "connections_opened": len(flood.opened),
        "connect_failures": flood.failures,
        "connects_delayed": flood.delayed,
        "opening_s": opening_s,
        "source_addresses": max(1, addresses),
        "held_by_server": during["connections"],
        "server_sockets_before": before["sockets"],
        "server_sockets_during": during["sockets"],
        "still_open_at_client": open_at_client,
        "rss_before_mb": before["rss_kb"] / 1024,
        "rss_during_mb": during["rss_kb"] / 1024,
        "rss_growth_mb": (during["rss_kb"] - before["rss_kb"]) / 1024,
        "rss_after_close_mb": after["rss_kb"] / 1024,
        "held_after_close": after["connections"],
        "server_nofile": during["nofile"],
        "controller_while_opening": while_opening,
        "controller_verify_and_read": held,
    }


# --------------------------------------------------------------------------- the run


async def run_network(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Measurements 2-4 (the servers in subprocesses)."""
    out: dict[str, Any] = {}
    servers = {kind: ServerProcess(kind, workdir) for kind in KINDS}
    try:
        for server in servers.values():
            await server.open()
            server.make_state_dirs(args.rounds + 2)
        out["pair_setup"] = await run_pairings(servers, args.rounds)
        out["requests"] = await run_requests(servers, args.characteristics, args.duration)
    finally:
        for server in servers.values():
            await server.close()
    _raise_own_nofile(args.flood + 256)
    variants = [("one_address", 1)]
    if args.flood_addresses > 1:
        variants.append(("spread", args.flood_addresses))
    flood: dict[str, Any] = {"connections": args.flood, "settle_s": args.settle}
    aid, iid = map(int, out["requests"]["ids"][0].split("."))
    # A fresh, paired process per flood (its RSS has not held a flood yet), started together.
    runs = [(name, addresses, kind) for name, addresses in variants for kind in KINDS]
    fresh = [ServerProcess(kind, workdir) for _name, _addresses, kind in runs]
    try:
        await asyncio.gather(*(server.open() for server in fresh))
        records = await asyncio.gather(*(pair_fresh(server) for server in fresh))
        for (name, addresses, kind), server, record in zip(runs, fresh, records, strict=True):
            flood.setdefault(name, {})[kind] = await run_flood(
                server, record, (aid, iid), args.flood, addresses, args.settle
            )
            await server.close()
    finally:
        for server in fresh:
            await server.close()
    out["flood"] = flood
    out["server_stderr_lines"] = {
        path.name: len(path.read_text(errors="replace").splitlines())
        for path in sorted(workdir.glob("*.stderr"))
    }
    return out


def _versus(ours: float, ref: float, lower_is_better: bool, words: tuple[str, str]) -> str:
    """``1.25x faster`` (or the like): ours against the reference."""
    if not ours or not ref or ours != ours or ref != ref:
        return "-"
    factor = ref / ours if lower_is_better else ours / ref
    better, worse = words
    return f"{factor:.2f}x {better}" if factor >= 1 else f"{1 / factor:.2f}x {worse}"


def report(out: dict[str, Any]) -> str:
    """The table of every figure, mihomekit against HAP-python."""
    srp, pairing, req, flood = out["srp"], out["pair_setup"], out["requests"], out["flood"]
    rows: list[list[Any]] = []

    def compare(label: str, a: float, b: float, words: str, lower_is_better: bool = True) -> None:
        better, worse = words.split("/")
        rows.append([label, a, b, _versus(a, b, lower_is_better, (better, worse))])

    rows.append(
        [
            f"SRP handshakes failed (of {srp['handshakes']:,})",
            srp[OURS]["failures"],
            f"{srp[REF]['failures']} ({srp[REF]['failure_rate'] * 100:.2f} %)",
            "-",
        ]
    )
    for stat in ("median", "p95"):
        key = f"server_us_{stat}"
        compare(f"SRP server time, µs ({stat})", srp[OURS][key], srp[REF][key], "faster/slower")
    timings = (
        ("pair-setup + pair-verify, ms (median)", "total_ms", "median"),
        ("pair-setup + pair-verify, ms (p95)", "total_ms", "p95"),
        ("  M1->M2 round trip, ms (median)", "m1_m2_ms", "median"),
        ("  M3->M4 round trip, ms (median)", "m3_m4_ms", "median"),
        ("  M5->M6 round trip, ms (median)", "m5_m6_ms", "median"),
        ("  pair-verify, ms (median)", "verify_ms", "median"),
    )
    for label, key, stat in timings:
        a = pairing[OURS][key].get(stat, float("nan"))
        b = pairing[REF][key].get(stat, float("nan"))
        compare(label, a, b, "faster/slower")
    compare(
        "server CPU per pairing, ms (mean)",
        pairing[OURS]["server_cpu_ms_mean"],
        pairing[REF]["server_cpu_ms_mean"],
        "less/more",
    )
    rows.append(
        [
            f"pairings failed with the right code (of {pairing['rounds']})",
            pairing[OURS]["failed_with_right_code"],
            pairing[REF]["failed_with_right_code"],
            "-",
        ]
    )
    label = f"GET /characteristics ({req['characteristics']} ids), req/s"
    compare(label, req[OURS]["per_s"], req[REF]["per_s"], "faster/slower", False)
    for label, key in (
        ("  server CPU per request, µs", "server_cpu_us_per_request"),
        ("  client CPU per request, µs", "client_cpu_us_per_request"),
    ):
        compare(label, req[OURS][key], req[REF][key], "less/more")
    for name in ("one_address", "spread"):
        if name not in flood:
            continue
        ours, ref = flood[name][OURS], flood[name][REF]
        where = "1 address" if name == "one_address" else f"{ours['source_addresses']} addresses"
        title = f"flood {flood['connections']:,} ({where})"
        compare(
            f"{title}: connections held",
            ours["held_by_server"],
            ref["held_by_server"],
            "fewer/more",
        )
        compare(
            f"{title}: RSS growth, MB",
            ours["rss_growth_mb"],
            ref["rss_growth_mb"],
            "less/more",
        )
        rows.append(
            [
                f"{title}: connects delayed > 0.5 s",
                ours["connects_delayed"],
                ref["connects_delayed"],
                "-",
            ]
        )
        for label, key in (
            ("controller verifies + reads, flood opening", "controller_while_opening"),
            ("controller verifies + reads, flood held", "controller_verify_and_read"),
        ):
            rows.append([f"{title}: {label}", _verdict(ours[key]), _verdict(ref[key]), "-"])
    return table(["figure", OURS, f"{REF} (reference)", "mihomekit vs reference"], rows)


def _verdict(check: Stats) -> str:
    return f"yes ({check['ms']:.0f} ms)" if check["ok"] else "NO"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 handshakes, 10 rounds, 1 s")
    parser.add_argument("--handshakes", type=int, help="SRP handshakes (default 1,500)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the handshakes")
    parser.add_argument("--rounds", type=int, help="pairings per server (default 30)")
    parser.add_argument("--duration", type=float, help="seconds of requests (default 3)")
    parser.add_argument("--characteristics", type=int, default=10)
    parser.add_argument("--flood", type=int, default=1000, help="silent connections")
    parser.add_argument(
        "--flood-addresses",
        type=int,
        default=250,
        help="loopback source addresses of the second flood (0: no second flood)",
    )
    parser.add_argument("--settle", type=float, default=0.5, help="seconds before counting")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_main(args.serve[0], int(args.serve[1]))
        return 0
    args.handshakes = args.handshakes or (200 if args.quick else 1500)
    args.rounds = args.rounds or (10 if args.quick else 30)
    args.duration = args.duration or (1.0 if args.quick else 3.0)
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    out: dict[str, Any] = {"srp": run_srp(args.handshakes, args.workers, args.seed)}
    workdir = Path(tempfile.mkdtemp(prefix="mihomekit-bench-pairing-"))
    try:
        out.update(asyncio.run(run_network(args, workdir)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(report(out))
    srp = out["srp"]
    print(
        f"\nHAP-python's SRP failures by the value sent with a leading zero byte: "
        f"{srp[REF]['failures_by_zero_byte']} (expected rate {LEADING_ZERO_ODDS * 100:.2f} %)"
    )
    name = f"{NAME}_quick" if args.quick else NAME
    path = write_result(
        name,
        {
            "params": {k: v for k, v in vars(args).items() if k != "serve"},
            "setup": "SRP: aiohomekit SrpClient vs each server in-process, same salt, secrets "
            "and code for both; network: servers in subprocesses on 127.0.0.1, raw client "
            "(tests/helpers/hapraw.py) in the benchmark process",
            **out,
            "elapsed_s": round(time.monotonic() - started, 1),
        },
    )
    print(f"\nwrote {path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
