"""Pairing time with child bridges: each bridge of three (400 devices) against the one
bridge of 149, over a network link with real multicast mDNS.

Two network namespaces joined by a veth pair, with TEST-NET-2 addresses that exist only
inside them (nothing leaves the machine), so mDNS queries and answers cross a link as on
a LAN instead of staying on 127.0.0.1. In namespace A runs a bridge process
(``bench_bridges.py --serve``: an :class:`mihomekit.app.App` as ``mihomekit run`` builds
it, fed ``--rate`` advertisements a second); in namespace B a HomeKit controller
(aiohomekit, its zeroconf bound to its veth address) pairs with every bridge in turn:

* **find**: from asking for the bridge's device id to its mDNS record;
* **pair-setup**: M1 to M6 with the setup code;
* **listing**: reading ``/accessories``.

Each trial starts a fresh bridge process (new state) and a fresh controller, in one of
two ways: **cold**, the controller pairs as soon as it starts browsing (the first find
waits for the mDNS answers), or **warm**, it has browsed for ``--warm`` seconds first (a
phone with the Home app already open). Rounds alternate which side runs first and, on
the three-bridge side, which bridge is paired first. The figures are medians over
``--rounds``; the ratio is the three-bridge side ÷ the one bridge, for the same start.

Then the mDNS cost: each bridge answers mDNS with a zeroconf instance of its own, so the
same bridge processes (fed 1 adv/s) are measured while namespace B sends ``--queries``
PTR questions a second (what Apple devices browse for) for ``--mdns-seconds``: the
process's CPU as % of one core, one bridge against three.

Needs root and iproute2 (``ip netns``), as the test suite does.

    .venv/bin/python benchmarks/bench_pairing_bridges.py            # about 2.5 min
    .venv/bin/python benchmarks/bench_pairing_bridges.py --rounds 7 --rate 200 --queries 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from statistics import median
from typing import Any

from benchlib import BENCH_DIR, REPO_DIR, table, write_result

sys.path.insert(0, str(REPO_DIR / "tests" / "helpers"))

NAME = "pairing_bridges"
# TEST-NET-2 (RFC 5737): routable-looking addresses that exist only in the namespaces.
BRIDGE_ADDR, CONTROLLER_ADDR = "198.51.100.1", "198.51.100.2"
PORT = 52100
SIDES = (("one bridge (149)", 149), ("three bridges (400)", 400))
PHASES = ("find", "pair_setup", "listing", "total")


# ---- the controller, run inside namespace B -----------------------------------------


async def _controller(address: str, order: Sequence[int], warm: float) -> list[dict[str, Any]]:
    from homekit_helpers import controller_on

    hubs = json.loads(sys.stdin.readline())["hubs"]
    out = []
    async with controller_on(address) as controller:
        await asyncio.sleep(warm)
        for position, k in enumerate(order):
            hub = hubs[k]
            t0 = time.monotonic()
            discovery = await controller.async_find(hub["device_id"], timeout=20)
            t1 = time.monotonic()
            finish = await discovery.async_start_pairing(f"bench-{k}")
            pairing = await finish(hub["code"])
            t2 = time.monotonic()
            listing = await pairing.list_accessories_and_characteristics()
            t3 = time.monotonic()
            await pairing.close()
            out.append(
                {
                    "bridge": hub["number"],
                    "position": position,
                    "accessories": len(listing),
                    "find": t1 - t0,
                    "pair_setup": t2 - t1,
                    "listing": t3 - t2,
                    "total": t3 - t0,
                }
            )
    return out


#: What a busy LAN asks over mDNS: Apple devices browse for these all the time.
BROWSED = (
    "_hap._tcp.local",
    "_airplay._tcp.local",
    "_raop._tcp.local",
    "_companion-link._tcp.local",
)


def _ptr_question(name: str) -> bytes:
    """An mDNS query packet with one PTR question for ``name``."""
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return struct.pack("!6H", 0, 0, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", 12, 1)


def _querier(address: str, queries: float, seconds: float) -> int:
    """Send ``queries`` PTR questions a second to 224.0.0.251:5353 from ``address``."""
    packets = [_ptr_question(name) for name in BROWSED]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    sent, start = 0, time.monotonic()
    end = start + seconds
    while (now := time.monotonic()) < end:
        sock.sendto(packets[sent % len(packets)], ("224.0.0.251", 5353))
        sent += 1
        time.sleep(max(0.0, min(start + sent / queries, end) - now))
    sock.close()
    return sent


# ---- the benchmark ----------------------------------------------------------------------


@contextmanager
def _namespaces() -> Iterator[tuple[str, str]]:
    from netns import veth_namespaces

    with veth_namespaces(
        "pb", ("veth-pba", f"{BRIDGE_ADDR}/24"), ("veth-pbb", f"{CONTROLLER_ADDR}/24")
    ) as names:
        yield names


@contextmanager
def _bridge(devices: int, rate: float) -> Iterator[tuple[str, int, str]]:
    """A fresh bridge process in namespace A: its ready line, its pid and namespace B."""
    state = tempfile.mkdtemp(prefix="bench-pairing-bridges-")
    try:
        with _namespaces() as (bridge_ns, controller_ns):
            bridge = subprocess.Popen(
                [
                    "ip", "netns", "exec", bridge_ns, sys.executable,
                    str(BENCH_DIR / "bench_bridges.py"), "--serve",
                    "--devices", str(devices), "--port", str(PORT), "--state-dir", state,
                    "--rate", str(rate), "--address", BRIDGE_ADDR,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                cwd=BENCH_DIR,
            )  # fmt: skip
            try:
                assert bridge.stdout is not None
                ready = bridge.stdout.readline()
                if not ready:
                    raise RuntimeError("the bridge process exited before it was ready")
                yield ready, bridge.pid, controller_ns
            finally:
                bridge.send_signal(signal.SIGTERM)
                try:
                    bridge.wait(30)
                except subprocess.TimeoutExpired:
                    bridge.kill()
                    bridge.wait()
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _in_namespace(namespace: str, *args: str, stdin: str = "") -> str:
    """Run this script with ``args`` in ``namespace``; its last line of output."""
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, __file__, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BENCH_DIR,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout.splitlines()[-1]


def trial(devices: int, order: Sequence[int], warm: float, rate: float) -> list[dict[str, Any]]:
    """One fresh bridge process and one fresh controller; the controller's timings."""
    with _bridge(devices, rate) as (ready, _pid, controller_ns):
        order_arg = ",".join(map(str, order))
        line = _in_namespace(
            controller_ns,
            *("--controller", CONTROLLER_ADDR, "--order", order_arg, "--warm", str(warm)),
            stdin=ready,
        )
        rows: list[dict[str, Any]] = json.loads(line)
        return rows


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def mdns_trial(devices: int, queries: float, seconds: float) -> float:
    """% of one core the bridge process spends while another host sends ``queries`` mDNS
    questions a second for ``seconds`` (after it has settled for 3 s)."""
    with _bridge(devices, 1.0) as (_ready, pid, controller_ns):
        time.sleep(3.0)
        ticks, begin = _cpu_ticks(pid), time.monotonic()
        _in_namespace(
            controller_ns,
            *("--querier", CONTROLLER_ADDR, "--queries", str(queries), "--seconds", str(seconds)),
        )
        used = (_cpu_ticks(pid) - ticks) / os.sysconf("SC_CLK_TCK")
        return 100.0 * used / (time.monotonic() - begin)


def run(args: argparse.Namespace) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    for r in range(args.rounds):
        sides = SIDES if r % 2 == 0 else SIDES[::-1]
        for start, warm in (("cold", 0.0), ("warm", args.warm)):
            for label, devices in sides:
                order = [0] if devices <= 149 else [(r + i) % 3 for i in range(3)]
                for row in trial(devices, order, warm, args.rate):
                    row.update(side=label, start=start, round=r)
                    samples.append(row)
                    print(
                        f"round {r} {start} {label} bridge {row['bridge']}: "
                        f"find {row['find']:.3f} s, pair-setup {row['pair_setup']:.3f} s, "
                        f"listing {row['listing']:.3f} s",
                        flush=True,
                    )
    mdns: list[dict[str, Any]] = []
    for r in range(args.rounds if args.queries > 0 else 0):
        for label, devices in SIDES if r % 2 == 0 else SIDES[::-1]:
            cpu = mdns_trial(devices, args.queries, args.mdns_seconds)
            mdns.append({"side": label, "round": r, "cpu_pct": cpu})
            print(f"round {r} mDNS {args.queries:g}/s {label}: {cpu:.2f} % of a core", flush=True)
    return {
        "rounds": args.rounds,
        "rate": args.rate,
        "warm_s": args.warm,
        "samples": samples,
        "mdns": {"queries_per_s": args.queries, "seconds": args.mdns_seconds, "samples": mdns},
    }


def summarise(out: dict[str, Any]) -> list[dict[str, Any]]:
    """Medians per side, start and group: the first bridge paired, then the later ones."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in out["samples"]:
        which = "first paired" if row["position"] == 0 else "paired after another"
        groups.setdefault((row["side"], row["start"], which), []).append(row)
    rows = []
    for (side, start, which), items in groups.items():
        rows.append(
            {"side": side, "start": start, "which": which, "n": len(items)}
            | {phase: median(i[phase] for i in items) for phase in PHASES}
        )
    for row in rows:
        one = next(r for r in rows if r["side"] == SIDES[0][0] and r["start"] == row["start"])
        row["total_vs_one"] = row["total"] / one["total"]
        row["setup_and_listing_vs_one"] = (row["pair_setup"] + row["listing"]) / (
            one["pair_setup"] + one["listing"]
        )
    return sorted(rows, key=lambda r: (r["start"], r["side"], r["which"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1000.0, help="advertisements per second")
    parser.add_argument("--warm", type=float, default=3.0, help="seconds of browsing first")
    parser.add_argument(
        "--queries", type=float, default=100.0, help="mDNS questions a second (0: skip)"
    )
    parser.add_argument("--mdns-seconds", type=float, default=15.0, help="seconds measured")
    parser.add_argument("--controller", help=argparse.SUPPRESS)
    parser.add_argument("--querier", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=15.0, help=argparse.SUPPRESS)
    parser.add_argument("--order", default="0", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.querier:
        print(_querier(args.querier, args.queries, args.seconds))
        return 0
    if args.controller:
        order = [int(k) for k in args.order.split(",")]
        print(json.dumps(asyncio.run(_controller(args.controller, order, args.warm))))
        return 0
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("this benchmark needs root and iproute2 (ip netns)", file=sys.stderr)
        return 2
    out = run(args)
    out["summary"] = summary = summarise(out)
    print(
        f"\n{args.rate:g} advertisements/s, medians of {args.rounds} rounds, seconds;"
        " ratio: ÷ the one bridge, same start"
    )
    print(
        table(
            ["start", "side", "bridge", "n", "find", "pair-setup", "listing", "total",
             "total ratio", "setup+listing ratio"],
            [
                [r["start"], r["side"], r["which"], r["n"], round(r["find"], 3),
                 round(r["pair_setup"], 3), round(r["listing"], 3), round(r["total"], 3),
                 round(r["total_vs_one"], 2), round(r["setup_and_listing_vs_one"], 2)]
                for r in summary
            ],
        )
    )  # fmt: skip
    if out["mdns"]["samples"]:
        cpu = {
            label: median(m["cpu_pct"] for m in out["mdns"]["samples"] if m["side"] == label)
            for label, _devices in SIDES
        }
        one, three = (cpu[label] for label, _devices in SIDES)
        per_question_us = (three - one) / 2 / 100 / args.queries * 1e6
        out["mdns"]["summary"] = {
            "cpu_pct": cpu,
            "ratio": three / one,
            "per_question_per_extra_bridge_us": per_question_us,
        }
        print(
            f"\n{args.queries:g} mDNS questions/s for {args.mdns_seconds:g} s, % of one core"
            f" (medians): one bridge {one:.2f}, three bridges {three:.2f} (ratio"
            f" {three / one:.2f}; each further bridge {per_question_us:.1f} µs a question)"
        )
    print(f"\nwritten to {write_result(NAME, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
