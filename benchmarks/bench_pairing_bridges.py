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

Needs root and iproute2 (``ip netns``), as the test suite does.

    .venv/bin/python benchmarks/bench_pairing_bridges.py            # about 1.5 min
    .venv/bin/python benchmarks/bench_pairing_bridges.py --rounds 7 --rate 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
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


# ---- the benchmark ----------------------------------------------------------------------


@contextmanager
def _namespaces() -> Iterator[tuple[str, str]]:
    from netns import veth_namespaces

    with veth_namespaces(
        "pb", ("veth-pba", f"{BRIDGE_ADDR}/24"), ("veth-pbb", f"{CONTROLLER_ADDR}/24")
    ) as names:
        yield names


def trial(devices: int, order: Sequence[int], warm: float, rate: float) -> list[dict[str, Any]]:
    """One fresh bridge process and one fresh controller; the controller's timings."""
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
                controller = subprocess.run(
                    [
                        "ip", "netns", "exec", controller_ns, sys.executable, __file__,
                        "--controller", CONTROLLER_ADDR,
                        "--order", ",".join(map(str, order)), "--warm", str(warm),
                    ],
                    input=ready,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    cwd=BENCH_DIR,
                )  # fmt: skip
                if controller.returncode != 0:
                    raise RuntimeError(f"controller failed: {controller.stderr[-2000:]}")
                rows: list[dict[str, Any]] = json.loads(controller.stdout.splitlines()[-1])
                return rows
            finally:
                bridge.send_signal(signal.SIGTERM)
                try:
                    bridge.wait(30)
                except subprocess.TimeoutExpired:
                    bridge.kill()
                    bridge.wait()
    finally:
        shutil.rmtree(state, ignore_errors=True)


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
    return {"rounds": args.rounds, "rate": args.rate, "warm_s": args.warm, "samples": samples}


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
    parser.add_argument("--controller", help=argparse.SUPPRESS)
    parser.add_argument("--order", default="0", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
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
    print(f"\nwritten to {write_result(NAME, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
