"""The regression guard: the working tree against the previous release, in one run.

The previous release is the revision in ``benchmarks/previous_release.toml`` (or
``--previous REV``: a tag or a commit). Its tree is exported with ``git archive`` into a
temporary directory and installed, with the dependencies pinned by *its own*
``requirements.lock``, into a virtualenv beside it (kept under ``$TMPDIR/mihomekit-release/``
and reused while the commit is the same). The working tree runs from this checkout's
virtualenv. Both are measured by the same code, which uses only what every release has:
``mihomekit.decode_advertisement`` (``release_driver.py``, run by each tree's own
interpreter) and the command line ``mihomekit run``. Rounds alternate between the trees
(or run them side by side), so load on the machine falls on both alike; only the ratios
count.

=================  ===========================================================================
measure            how
=================  ===========================================================================
decode, per class  ns per packet of ``decode_advertisement`` on the packets of
                   :mod:`decode_packets` (real captures and a seeded mix); ``--reps`` rounds,
                   each class timed in both trees in turn, the order swapped every round
bridge CPU         149 sensors (``bench_bridge_load.make_devices_149``) from a recording of
                   200 and of 1,000 advertisements/s (a third of them repeats), a paired
                   controller subscribed to every characteristic that sends events; both
                   trees' ``mihomekit run --replay`` side by side; utime+stime over the
                   window, as % of one core
start-up           spawn → the ready line of ``mihomekit run`` with 149 configured devices and
                   an existing state directory, without and with the Mi Dashboard; rounds
                   alternate the trees
RSS                VmRSS at the ready line (start-up), and VmRSS / VmHWM at the end of the
                   1,000 adv/s window
=================  ===========================================================================

Ratios are *today ÷ previous* of what is measured: decode speed (packets/s, above 1 is
faster), CPU, seconds and MB (below 1 is better). The medians of the rounds are reported
with their spread (lowest-highest). Results: ``benchmarks/results/release.json``. A
benchmark, never a test: run it before a release::

    .venv/bin/python benchmarks/bench_release.py                 # about 3 minutes
    .venv/bin/python benchmarks/bench_release.py --previous v0.2.0 --only decode
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_bridge_load import (
    SETUP_MAC,
    Bridge,
    cpu_ticks,
    make_devices_149,
    mem_kb,
    run_group,
    window_stats,
    write_recording,
)
from benchlib import BENCH_DIR, REPO_DIR, table, write_result
from decode_packets import CLASSES, all_packets, dump

from mihomekit.mi32cfg import dump_mi32cfg

sys.path.insert(0, str(REPO_DIR / "tests" / "helpers"))

from homekit_helpers import free_port

NAME = "release"
DRIVER = BENCH_DIR / "release_driver.py"
MEASURES = ("decode", "cpu", "startup")
CACHE_DIR = Path(tempfile.gettempdir()) / "mihomekit-release"


@dataclass
class Tree:
    """One side of the comparison: a source tree and the interpreter that runs it."""

    name: str
    python: str
    source: Path
    commit: str
    version: str = "?"


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_DIR, check=True, capture_output=True, text=True
    ).stdout.strip()


def git_bytes(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=REPO_DIR, check=True, capture_output=True).stdout


def previous_release(override: str | None) -> dict[str, str]:
    with open(BENCH_DIR / "previous_release.toml", "rb") as handle:
        info: dict[str, str] = tomllib.load(handle)["previous"]
    if override:
        info = {"rev": override, "version": "?", "why": "--previous on the command line"}
    return info


def prepare_previous(rev: str) -> Tree:
    """Export ``rev`` and install it into a virtualenv (cached per commit)."""
    commit = git("rev-parse", f"{rev}^{{commit}}")
    base = CACHE_DIR / commit[:12]
    source, venv = base / "src", base / "venv"
    python = venv / "bin" / "python"
    if not (base / "ready").exists():
        shutil.rmtree(base, ignore_errors=True)
        source.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit],
            cwd=REPO_DIR,
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = [str(python), "-m", "pip", "install", "-q"]
        lock = source / "requirements.lock"
        if lock.exists():
            install += ["-c", str(lock)]
        print(f"installing {rev} ({commit[:12]}) into {venv} ...", flush=True)
        subprocess.run([*install, str(source)], check=True)
        (base / "ready").write_text(commit + "\n", encoding="utf-8")
    return Tree("previous", str(python), source, commit)


def today() -> Tree:
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return Tree("today", sys.executable, REPO_DIR, commit + ("+changes" if dirty else ""))


def median_spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "low": min(values), "high": max(values)}


# ---- decode ---------------------------------------------------------------------------------


class Driver:
    """One ``release_driver.py`` process of a tree."""

    def __init__(self, tree: Tree, workdir: Path) -> None:
        self.proc = subprocess.Popen(
            [tree.python, str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(workdir),
        )

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def measure_decode(trees: list[Tree], workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    path = workdir / "packets.json"
    dump(all_packets(args.packets, args.seed), str(path))
    drivers = {t.name: Driver(t, workdir) for t in trees}
    try:
        for tree in trees:
            tree.version = drivers[tree.name].ask({"version": None})["version"]
            drivers[tree.name].ask({"load": str(path)})
        ns: dict[str, dict[str, list[float]]] = {t.name: {c: [] for c in CLASSES} for t in trees}
        for rnd in range(args.reps):
            order = trees if rnd % 2 == 0 else trees[::-1]
            for klass in CLASSES:
                for tree in order:
                    answer = drivers[tree.name].ask({"time": klass, "decodes": args.decodes})
                    ns[tree.name][klass].append(answer["ns"])
    finally:
        for driver in drivers.values():
            driver.close()
    out: dict[str, Any] = {}
    for klass in CLASSES:
        now, before = ns["today"][klass], ns["previous"][klass]
        speed = [b / a for a, b in zip(now, before, strict=True)]  # today's packets/s ÷ then
        out[klass] = {
            "today_us": statistics.median(now) / 1000,
            "previous_us": statistics.median(before) / 1000,
            "speed_ratio": median_spread(speed),
        }
    return out


# ---- start-up -------------------------------------------------------------------------------


def _run_cmd(tree: Tree, config: Path, state: Path, recording: Path, web: bool) -> list[str]:
    cmd = [tree.python, "-m", "mihomekit", "run", "--replay", str(recording)]
    cmd += ["--config", str(config), "--state-dir", str(state), "--address", "127.0.0.1"]
    cmd += ["--port", str(free_port()), "--mac", SETUP_MAC, "--no-gateway"]
    cmd += ["--web-port", str(free_port())] if web else ["--no-web"]
    return cmd


def _startup_env() -> dict[str, str]:
    """The environment of a timed start: with bytecode caches, as an installed release has
    (``PYTHONDONTWRITEBYTECODE`` would make today's tree compile every module at each start
    while the previous release, installed by pip, loads its cached bytecode)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONUNBUFFERED": "1"}


async def start_once(
    tree: Tree, config: Path, state: Path, recording: Path, web: bool
) -> dict[str, float]:
    """Spawn → ready line of one ``mihomekit run``; its RSS and CPU then; stop it."""
    cmd = _run_cmd(tree, config, state, recording, web)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=str(state.parent),
        env=_startup_env(),
    )
    assert proc.stdout is not None
    try:
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            if not line:
                raise RuntimeError(f"{tree.name}: mihomekit run exited before it was ready")
            if line.startswith(b"mihomekit bridge"):
                break
        ready = time.monotonic() - started
        rss = mem_kb(proc.pid)["VmRSS"] / 1024
        cpu = cpu_ticks(proc.pid) / os.sysconf("SC_CLK_TCK")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await proc.wait()
    return {"seconds": ready, "rss_mb": rss, "cpu_s": cpu}


async def measure_startup(
    trees: list[Tree], workdir: Path, config: Path, args: argparse.Namespace
) -> dict[str, Any]:
    empty = workdir / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    out: dict[str, Any] = {}
    for web in (False, True):
        runs: dict[str, list[dict[str, float]]] = {t.name: [] for t in trees}
        states = {}
        for tree in trees:  # a first start makes the state directory (not counted)
            state = workdir / f"state-{tree.name}-{'web' if web else 'noweb'}"
            state.mkdir()
            states[tree.name] = state
            await start_once(tree, config, state, empty, web)
        for rnd in range(args.startups):
            for tree in trees if rnd % 2 == 0 else trees[::-1]:
                runs[tree.name].append(
                    await start_once(tree, config, states[tree.name], empty, web)
                )
        label = "with dashboard" if web else "no dashboard"
        row: dict[str, Any] = {}
        for key in ("seconds", "rss_mb", "cpu_s"):
            now = [r[key] for r in runs["today"]]
            before = [r[key] for r in runs["previous"]]
            row[key] = {
                "today": median_spread(now),
                "previous": median_spread(before),
                "ratio": statistics.median(now) / statistics.median(before),
            }
        out[label] = row
    return out


# ---- bridge CPU -----------------------------------------------------------------------------


async def measure_cpu(
    trees: list[Tree],
    workdir: Path,
    config: Path,
    sims: list[Any],
    rate: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Both trees' bridges side by side on the same recording; ``--cpu-rounds`` rounds."""
    rng = random.Random(args.seed)
    duration = args.skip + args.window + 15.0
    recording = workdir / f"rate-{rate:g}.jsonl"
    counts = write_recording(recording, sims, rate, duration, rng, 1 / 3)
    rounds: list[dict[str, Any]] = []
    group_args = argparse.Namespace(
        profile=False, no_controller=False, skip=args.skip, window=args.window
    )
    for rnd in range(args.cpu_rounds):
        bridges = []
        for tree in trees if rnd % 2 == 0 else trees[::-1]:
            bdir = workdir / f"cpu-{rate:g}-{rnd}-{tree.name}"
            bdir.mkdir()
            bridge = Bridge(tree.name, bdir, recording, config, free_port(), python=tree.python)
            bridges.append(bridge)
        try:
            await run_group(bridges, group_args)
        finally:
            codes = {b.name: await b.stop() for b in bridges}
        result = {}
        for b in bridges:
            start = b.ready_at + args.skip
            stats = window_stats(b, start, start + args.window)
            stats["events_received"] = b.events
            stats["subscribed"] = b.subscribed
            stats["exit_code"] = codes[b.name]
            result[b.name] = stats
        rounds.append(result)
    out: dict[str, Any] = {"recording": counts, "rounds": rounds}
    for key in ("cpu_pct_one_core", "rss_mb_end", "hwm_mb"):
        now = [r["today"][key] for r in rounds]
        before = [r["previous"][key] for r in rounds]
        out[key] = {
            "today": median_spread(now),
            "previous": median_spread(before),
            "ratio": median_spread([a / b for a, b in zip(now, before, strict=True)]),
        }
    return out


# ---- main -----------------------------------------------------------------------------------


def _fmt_ratio(r: dict[str, float]) -> str:
    return f"{r['median']:.2f} ({r['low']:.2f}-{r['high']:.2f})"


def report(out: dict[str, Any]) -> None:
    trees = out["trees"]
    prev = trees["previous"]
    rev = "" if prev["commit"].startswith(prev["rev"]) else f"{prev['rev']} = "
    print(
        f"\ntoday {trees['today']['commit']} (mihomekit {trees['today']['version']}) ÷ "
        f"previous {rev}{prev['commit']} (mihomekit {prev['version']})"
    )
    if "decode" in out:
        print("\ndecode (µs per packet; speed ratio today ÷ previous, above 1 is faster)")
        print(
            table(
                ["class", "today us", "previous us", "speed ratio (spread)"],
                [
                    [k, r["today_us"], r["previous_us"], _fmt_ratio(r["speed_ratio"])]
                    for k, r in out["decode"].items()
                ],
            )
        )
    rows = []
    for rate, cpu in out.get("cpu", {}).items():
        for key, label in (
            ("cpu_pct_one_core", f"bridge CPU % of a core at {rate} adv/s"),
            ("rss_mb_end", f"VmRSS MB at the end ({rate} adv/s)"),
            ("hwm_mb", f"VmHWM MB ({rate} adv/s)"),
        ):
            r = cpu[key]
            rows.append(
                [label, r["today"]["median"], r["previous"]["median"], _fmt_ratio(r["ratio"])]
            )
    for label, st in out.get("startup", {}).items():
        for key, name in (("seconds", "start-up s"), ("rss_mb", "VmRSS MB at ready")):
            r = st[key]
            rows.append(
                [
                    f"{name} ({label})",
                    r["today"]["median"],
                    r["previous"]["median"],
                    f"{r['ratio']:.2f} (today {r['today']['low']:.2f}-{r['today']['high']:.2f}, "
                    f"previous {r['previous']['low']:.2f}-{r['previous']['high']:.2f})",
                ]
            )
    if rows:
        print("\nbridge (medians; ratio today ÷ previous, below 1 is better)")
        print(table(["measure", "today", "previous", "ratio (spread)"], rows))


async def run(args: argparse.Namespace, trees: list[Tree], workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    only = set(args.only or MEASURES)
    if "decode" in only:
        print("decode ...", flush=True)
        out["decode"] = measure_decode(trees, workdir, args)
    sims = make_devices_149(random.Random(args.seed))
    config = workdir / "mi32cfg"
    config.write_text(dump_mi32cfg([s.entry for s in sims]), encoding="utf-8")
    if "startup" in only:
        print("start-up ...", flush=True)
        out["startup"] = await measure_startup(trees, workdir, config, args)
    if "cpu" in only:
        out["cpu"] = {}
        for rate in args.rates:
            print(f"bridge CPU at {rate:g} adv/s ...", flush=True)
            out["cpu"][f"{rate:g}"] = await measure_cpu(trees, workdir, config, sims, rate, args)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--previous", metavar="REV", help="tag or commit (default: the toml)")
    parser.add_argument("--only", nargs="*", choices=MEASURES, help="only these measures")
    parser.add_argument("--packets", type=int, default=10_000, help="size of the MiBeacon mix")
    parser.add_argument("--decodes", type=int, default=3_000, help="decodes per class and round")
    parser.add_argument("--reps", type=int, default=7, help="decode rounds")
    parser.add_argument("--startups", type=int, default=7, help="start-ups per tree and mode")
    parser.add_argument("--rates", type=float, nargs="*", default=[200.0, 1000.0])
    parser.add_argument("--cpu-rounds", type=int, default=2, help="side-by-side runs per rate")
    parser.add_argument("--skip", type=float, default=5.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    info = previous_release(args.previous)
    previous = prepare_previous(info["rev"])
    trees = [today(), previous]
    workdir = Path(tempfile.mkdtemp(prefix="mihomekit-release-run-"))
    try:
        out = asyncio.run(run(args, trees, workdir))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    out["trees"] = {
        "today": {"commit": trees[0].commit, "version": trees[0].version},
        "previous": {
            "rev": info["rev"],
            "commit": previous.commit,
            "version": previous.version if previous.version != "?" else info.get("version", "?"),
            "why": info.get("why", ""),
        },
    }
    out = {"trees": out.pop("trees"), **out}
    report(out)
    path = write_result(
        NAME,
        {"params": vars(args), **out, "elapsed_s": round(time.monotonic() - started, 1)},
    )
    print(f"\nwrote {path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
