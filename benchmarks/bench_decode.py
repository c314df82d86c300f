"""Decode throughput per packet class: mihomekit's decoders against every peer.

The packets are those of :mod:`decode_packets` (real captures and a seeded generated mix,
by class: MiBeacon plain / AES-CCM / legacy, ATC-pvvx plain and encrypted, BTHome plain
and encrypted, Qingping, HHCCJCY10, b-parasite). The peers are those of
:mod:`decode_peers` (xiaomi-ble, bthome-ble, bleparser, Theengs), each called as its
users call it.

**Agreement first.** Every packet of a class that a peer supports is decoded by that peer
(fresh state) and by ours. The packets the peer decodes are the ones both are timed on; a
packet agrees when every value the peer reports (of :data:`decode_peers.COMPARED`, in our
names) comes out of ours with the same value (numbers within 0.005: some peers do not
round), and, for xiaomi-ble, the button and dimmer events are the same.

**Timing.** Per class and peer, that subset is looped to at least ``--decodes`` decodes;
after a warm-up pass, ``--reps`` rounds alternate ours and the peer (``gc.collect()``
before each, ``time.perf_counter_ns``). Reported: the median time per packet of each, the
median of the per-round ratios (peer ÷ ours) and their spread (lowest-highest). On our
side one ``decode_advertisement(mac, uuid, data, key)``; the peers' per-device parsers
are created before timing and reused, as their users do.

**Targets.** Ours at least 2x every peer on every class, and at least 10x xiaomi-ble on
the MiBeacon mix (40 % plain, 45 % AES-CCM, 15 % legacy). A class below target (or within
10 % of it) gets a cProfile of our decoder in the output and the JSON.

**Memory.** ``tracemalloc`` in a fresh child process per decoder, ours against
xiaomi-ble on the MiBeacon mix: the peak while decoding it the first time (parser state,
caches), what stays allocated, and the peak of a second (warm) pass.

    .venv/bin/python benchmarks/bench_decode.py            # about two minutes
    .venv/bin/python benchmarks/bench_decode.py --classes qingping bthome-plain --reps 11
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import logging
import math
import pstats
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

from benchlib import table, write_result
from decode_packets import (
    CLASSES,
    MIBEACON_CLASSES,
    Packet,
    all_packets,
    by_class,
    mibeacon_mix,
)
from decode_peers import COMPARED, Peer, XiaomiBle, available, our_events

from mihomekit.decoders import crypto, decode_advertisement

NAME = "decode"
TARGET_RATIO = 2.0
TARGET_XIAOMI_MIX = 10.0
#: Rows under their target times MARGIN are profiled too (a warning, not a failure).
MARGIN = 1.1
MIX = "mibeacon-mix"

OurItem = tuple[str, int, bytes, "bytes | None"]


def ours_items(packets: Sequence[Packet]) -> list[OurItem]:
    return [(p.mac, p.uuid, p.data, p.key) for p in packets]


def time_ours(items: Sequence[OurItem]) -> int:
    decode = decode_advertisement
    start = time.perf_counter_ns()
    for mac, uuid, data, key in items:
        decode(mac, uuid, data, key)
    return time.perf_counter_ns() - start


def time_peer(peer: Peer, items: Sequence[Any]) -> int:
    start = time.perf_counter_ns()
    peer.run(items)
    return time.perf_counter_ns() - start


def repeat(packets: Sequence[Packet], at_least: int) -> list[Packet]:
    if not packets:
        return []
    return list(packets) * max(1, math.ceil(at_least / len(packets)))


# ---- agreement ------------------------------------------------------------------------------

_ABSENT = object()


def _same(ours: Any, theirs: Any, tolerance: float) -> bool:
    if ours is _ABSENT:
        return False
    if isinstance(theirs, bool) or isinstance(ours, bool):
        return bool(ours) == bool(theirs)
    if isinstance(theirs, int | float) and isinstance(ours, int | float):
        return abs(ours - theirs) <= tolerance
    return bool(ours == theirs)


def agreement(peer: Peer, packets: Sequence[Packet]) -> tuple[dict[str, Any], list[Packet]]:
    """Compare ``peer`` with ours on ``packets`` (one class); the packets it decodes."""
    decoded: list[Packet] = []
    agree = 0
    only_ours: Counter[str] = Counter()
    documented: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    for p in packets:
        if not peer.supports(p):
            continue
        theirs = peer.values(p)
        if theirs is None:
            continue
        decoded.append(p)
        result = decode_advertisement(p.mac, p.uuid, p.data, p.key)
        ours = {k: v for k, v in result.values.items() if k in COMPARED}
        for name in ours.keys() - theirs.keys():
            only_ours[f"{result.model}: {name}"] += 1
        same = all(
            _same(ours.get(k, _ABSENT), v, peer.tolerance)
            for k, v in theirs.items()
            if k in ours or k not in peer.optional
        )
        their_events = peer.events(p)
        if their_events is not None and their_events != our_events(result):
            same = False
        reason = None if same else peer.documented(p, ours, theirs)
        if same:
            agree += 1
        elif reason is not None:
            documented[reason] += 1
        elif len(examples) < 5:
            examples.append(
                {
                    "mac": p.mac,
                    "uuid": f"{p.uuid:04x}",
                    "data": p.data.hex(),
                    "ours": repr((ours, our_events(result))),
                    "theirs": repr((theirs, their_events)),
                }
            )
    summary = {
        "supported": sum(1 for p in packets if peer.supports(p)),
        "decoded": len(decoded),
        "agree": agree,
        "documented_differences": dict(documented),
        "differ": len(decoded) - agree - sum(documented.values()),
        "values_only_ours_reports": dict(sorted(only_ours.items())),
        "disagreements": examples,
    }
    return summary, decoded


# ---- timing ---------------------------------------------------------------------------------


def measure(peer: Peer, packets: Sequence[Packet], reps: int) -> dict[str, Any]:
    """Ours and ``peer`` on the same packets, alternating rounds after a warm-up."""
    mine = ours_items(packets)
    theirs = peer.prepare(packets)
    time_ours(mine)
    time_peer(peer, theirs)
    ours_ns: list[float] = []
    peer_ns: list[float] = []
    n = len(packets)
    for _ in range(reps):
        gc.collect()
        ours_ns.append(time_ours(mine) / n)
        gc.collect()
        peer_ns.append(time_peer(peer, theirs) / n)
    ratios = [t / o for o, t in zip(ours_ns, peer_ns, strict=True)]
    return {
        "decodes": n,
        "distinct_packets": len({(p.mac, p.data) for p in packets}),
        "ours_us": statistics.median(ours_ns) / 1000,
        "peer_us": statistics.median(peer_ns) / 1000,
        "ratio": statistics.median(ratios),
        "ratio_low": min(ratios),
        "ratio_high": max(ratios),
    }


def measure_ours(packets: Sequence[Packet], reps: int) -> dict[str, float]:
    """Ours alone on a whole class: median µs per packet and its spread."""
    mine = ours_items(packets)
    time_ours(mine)
    runs = []
    for _ in range(reps):
        gc.collect()
        runs.append(time_ours(mine) / len(mine) / 1000)
    return {"us": statistics.median(runs), "us_low": min(runs), "us_high": max(runs)}


def _ccm_parts(p: Packet) -> tuple[bytes, bytes, bytes] | None:
    """(key, nonce, ciphertext+tag) of a v4/v5 encrypted MiBeacon frame, else None."""
    data = p.data
    fc = data[0] | data[1] << 8
    if not fc & 0x0008 or fc >> 12 < 4 or not fc & 0x0040 or p.key is None:
        return None
    i = 5 + (6 if fc & 0x0010 else 0)
    if fc & 0x0020:
        i += 2 if data[i] & 0x20 else 1
    mac_le = bytes.fromhex(p.mac.replace(":", ""))[::-1]
    return p.key, mac_le + data[2:5] + data[-7:-4], data[i:-7] + data[-4:]


def decrypt_floor_us(packets: Sequence[Packet], reps: int) -> float | None:
    """µs per packet of the AES-CCM decryption alone (one cached cipher per key): the part
    of an encrypted decode that no Python code can remove."""
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    ciphers: dict[bytes, AESCCM] = {}
    items = []
    for p in packets:
        parts = _ccm_parts(p)
        if parts is None:
            continue
        key, nonce, sealed = parts
        cipher = ciphers.get(key)
        if cipher is None:
            cipher = ciphers[key] = AESCCM(key, tag_length=4)
        items.append((cipher, nonce, sealed))
    if not items:
        return None
    runs: list[float] = []
    for _ in range(reps):
        start = time.perf_counter_ns()
        for cipher, nonce, sealed in items:
            cipher.decrypt(nonce, sealed, b"\x11")
        runs.append((time.perf_counter_ns() - start) / len(items))
    return statistics.median(runs) / 1000


def profile_ours(packets: Sequence[Packet], decodes: int = 50_000) -> str:
    items = ours_items(packets)
    loops = max(1, decodes // max(1, len(items)))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(loops):
        time_ours(items)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


# ---- memory (child process) -----------------------------------------------------------------


def memory_child(which: str, count: int) -> dict[str, int]:
    """Run in a fresh interpreter: tracemalloc figures for one decoder on the MiBeacon mix."""
    packets = mibeacon_mix(count)
    crypto.ccm4_cache.clear()  # the frame builders filled it; start cold
    mine = ours_items(packets)
    peer = XiaomiBle()
    run: Callable[[], object]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    if which == "ours":
        run = lambda: time_ours(mine)  # noqa: E731
    else:
        theirs = peer.prepare(packets)  # one parser per device, created here
        run = lambda: time_peer(peer, theirs)  # noqa: E731
    run()
    gc.collect()
    current, first_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    warm_base = tracemalloc.get_traced_memory()[0]
    run()
    warm_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "first_pass_peak": first_peak - base,
        "retained_after_first_pass": current - base,
        "warm_pass_peak": warm_peak - warm_base,
    }


def memory(count: int) -> dict[str, dict[str, int]]:
    out = {}
    for which in ("ours", "xiaomi"):
        proc = subprocess.run(
            [sys.executable, __file__, "--memory-child", which, "--packets", str(count)],
            check=True,
            capture_output=True,
            text=True,
        )
        out[which] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# ---- main -----------------------------------------------------------------------------------


def _target(row_class: str, peer: str) -> float:
    return TARGET_XIAOMI_MIX if row_class == MIX else TARGET_RATIO


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=10_000, help="size of the MiBeacon mix")
    parser.add_argument("--decodes", type=int, default=3_000, help="decodes per timed round")
    parser.add_argument("--reps", type=int, default=7, help="timed rounds per measurement")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--classes", nargs="*", choices=(*CLASSES, MIX), help="only these")
    parser.add_argument("--profile", action="store_true", help="profile every class")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory figures")
    parser.add_argument("--memory-child", choices=("ours", "xiaomi"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.disable(logging.CRITICAL)  # the peers log every failed decryption, repeat ...
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.packets)))
        return 0

    started = time.monotonic()
    packets = all_packets(args.packets, args.seed)
    classes = by_class(packets)
    wanted = args.classes or [*CLASSES, MIX]
    peers = available()
    print(
        "packets: "
        + ", ".join(f"{c} {len(ps)}" for c, ps in classes.items())
        + "\npeers: "
        + ", ".join(f"{p.name} {version(p.dist)}" for p in peers)
    )

    # Agreement, and the packets each peer decodes.
    agree: dict[str, dict[str, Any]] = {}
    subsets: dict[tuple[str, str], list[Packet]] = {}
    for klass in CLASSES:
        if klass not in wanted and not (klass in MIBEACON_CLASSES and MIX in wanted):
            continue
        for peer in peers:
            if not any(peer.supports(p) for p in classes[klass]):
                continue
            summary, decoded = agreement(peer, classes[klass])
            agree[f"{klass}/{peer.name}"] = summary
            if decoded:
                subsets[klass, peer.name] = decoded
    xiaomi = next((p for p in peers if p.name == "xiaomi-ble"), None)
    if xiaomi is not None and MIX in wanted:
        mix = [p for p in packets if p.source == "mix" and p.klass in MIBEACON_CLASSES]
        decodes = {
            (p.mac, p.data) for c in MIBEACON_CLASSES for p in subsets.get((c, "xiaomi-ble"), [])
        }
        subsets[MIX, "xiaomi-ble"] = [p for p in mix if (p.mac, p.data) in decodes]
    print()
    print(
        table(
            ["class/peer", "supported", "decoded", "agree", "documented", "differ", "only ours"],
            [
                [
                    name,
                    a["supported"],
                    a["decoded"],
                    a["agree"],
                    sum(a["documented_differences"].values()),
                    a["differ"],
                    ", ".join(f"{k} x{n}" for k, n in a["values_only_ours_reports"].items())[:70],
                ]
                for name, a in agree.items()
            ],
        )
    )
    for name, a in agree.items():
        for reason, n in a["documented_differences"].items():
            print(f"  {name}: {n} documented: {reason}")
        for ex in a["disagreements"]:
            print(f"  {name} differs: {ex}")

    # Timing: ours alone per class, then ours against each peer on what that peer decodes.
    alone: dict[str, dict[str, float]] = {}
    for klass in CLASSES:
        if klass in wanted and classes[klass]:
            alone[klass] = measure_ours(repeat(classes[klass], args.decodes), args.reps)
    rows: dict[str, dict[str, Any]] = {}
    by_name = {p.name: p for p in peers}
    for (klass, peer_name), subset in subsets.items():
        if klass not in wanted:
            continue
        row = measure(by_name[peer_name], repeat(subset, args.decodes), args.reps)
        row["target"] = _target(klass, peer_name)
        row["met"] = row["ratio"] >= row["target"]
        if klass == "mibeacon-aes-ccm":
            row["decrypt_only_us"] = decrypt_floor_us(subset, args.reps)
        rows[f"{klass}/{peer_name}"] = row
    print()
    print(
        table(
            ["class", "ours us/pkt (all packets)", "spread"],
            [[k, a["us"], f"{a['us_low']:.2f}-{a['us_high']:.2f}"] for k, a in alone.items()],
        )
    )
    print()
    print(
        table(
            [
                "class/peer",
                "distinct",
                "ours us/pkt",
                "peer us/pkt",
                "ours faster (median)",
                "spread",
                "target",
                "met",
            ],
            [
                [
                    name,
                    r["distinct_packets"],
                    r["ours_us"],
                    r["peer_us"],
                    f"x{r['ratio']:.2f}",
                    f"x{r['ratio_low']:.2f}-{r['ratio_high']:.2f}",
                    f"x{r['target']:g}",
                    "yes" if r["met"] else "NO",
                ]
                for name, r in rows.items()
            ],
        )
    )

    below = [n for n, r in rows.items() if not r["met"]]
    marginal = [n for n, r in rows.items() if r["met"] and r["ratio"] < r["target"] * MARGIN]
    profiles: dict[str, str] = {}
    to_profile = {n.split("/")[0] for n in (list(rows) if args.profile else below + marginal)}
    for klass in sorted(to_profile):
        source = classes.get(klass) or subsets.get((klass, "xiaomi-ble"), [])
        profiles[klass] = profile_ours(source)
    print()
    if below:
        print("BELOW TARGET: " + ", ".join(f"{n} x{rows[n]['ratio']:.2f}" for n in below))
    else:
        print("every class meets its target")
    if marginal:
        print("within 10 % of the target: " + ", ".join(marginal))
    for klass, text in profiles.items():
        print(f"\ncProfile of our decoder, {klass} (top 15 by own time):\n{text}")
    for name, r in rows.items():
        if r.get("decrypt_only_us"):
            print(
                f"{name}: AES-CCM decryption alone {r['decrypt_only_us']:.2f} us of ours "
                f"{r['ours_us']:.2f}"
            )

    mem: dict[str, dict[str, int]] = {}
    if not args.no_memory and xiaomi is not None:
        mem = memory(args.packets)
        print(f"\ntracemalloc, one decode of the {args.packets}-packet MiBeacon mix (bytes)")
        print(
            table(
                ["", "ours", "xiaomi-ble", "xiaomi/ours"],
                [
                    [
                        kind,
                        mem["ours"][kind],
                        mem["xiaomi"][kind],
                        f"x{mem['xiaomi'][kind] / max(1, mem['ours'][kind]):.1f}",
                    ]
                    for kind in ("first_pass_peak", "retained_after_first_pass", "warm_pass_peak")
                ],
            )
        )

    path = write_result(
        NAME,
        {
            "params": {
                "packets": args.packets,
                "decodes": args.decodes,
                "reps": args.reps,
                "seed": args.seed,
                "classes": wanted,
            },
            "peers": {p.name: version(p.dist) for p in peers},
            "targets": {"every_class": TARGET_RATIO, "xiaomi_ble_mibeacon_mix": TARGET_XIAOMI_MIX},
            "agreement": agree,
            "ours_alone": alone,
            "throughput": rows,
            "memory_bytes": mem,
            "below_target": below,
            "marginal": marginal,
            "profiles": profiles,
            "elapsed_s": round(time.monotonic() - started, 1),
        },
    )
    print(f"\nwrote {path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
