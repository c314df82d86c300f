"""CPU and memory of the whole bridge process under a realistic advertisement load.

Two bridges run as separate processes at the same time, started exactly as a user starts
one::

    python -m mihomekit run --replay REC --config MI32CFG --state-dir DIR \\
        --address 127.0.0.1 --port N --mac B8:27:EB:12:34:56 --no-gateway

Both have the same 100 configured sensors (60 LYWSD03MMC AES-CCM v5, 15 ATC1441/pvvx
0x181A, 10 MJYD2S motion, 10 MCCGQ02HL door AES-CCM v5, 5 YLYK01YL remotes; the mi32cfg is
written with :func:`mihomekit.mi32cfg.dump_mi32cfg`):

* **loaded**: a recording of ``--rate`` advertisements/s (default 50, Poisson arrivals)
  for the whole run; about a third are repeats of that device's previous frame, as radios
  deliver them (several receptions of one advertising event);
* **idle**, the same-run reference: an empty recording.

Unless ``--no-controller``, an aiohomekit controller (in this process) pairs with each
bridge over loopback and subscribes to every characteristic that supports events, so the
loaded bridge also encrypts and sends HAP events.

CPU is the bridge process's utime+stime from ``/proc/<pid>/stat`` over a steady-state
window (``--skip`` seconds after the bridge said it was ready, then ``--window`` seconds),
as % of one core; ``/proc/<pid>/status`` gives VmRSS (sampled every second, and at the end
of the window) and VmHWM (peak). The replay source stands in for the BLE adapter (it
sleeps until each recorded advertisement is due); the BLE stack's own cost (BlueZ, D-Bus)
is not in these figures.

Targets: loaded bridge <= 3 % of one core and <= 80 MB RSS.

    .venv/bin/python benchmarks/bench_bridge_load.py                 # about 75 s
    .venv/bin/python benchmarks/bench_bridge_load.py --window 300 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import REPO_DIR, event_keys, table, write_result

sys.path.insert(0, str(REPO_DIR / "tests" / "helpers"))

from homekit_helpers import controller_on_loopback, free_port, pair

from mihomekit.decoders import build
from mihomekit.mi32cfg import DeviceEntry, dump_mi32cfg
from mihomekit.sources.recording import RecordingWriter

NAME = "bridge_load"
TARGET_CPU_PCT = 3.0
TARGET_RSS_MB = 80.0
SETUP_MAC = "B8:27:EB:12:34:56"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---- devices and recording ------------------------------------------------------------


@dataclass
class Sim:
    entry: DeviceEntry
    kind: str
    weight: float
    counter: int = 0
    last: bytes | None = None
    uuid: int = 0xFE95
    temperature: float = 21.0
    humidity: float = 45.0
    battery: int = 90
    state: bool = False

    @property
    def mac(self) -> str:
        return self.entry.display_mac


def make_devices(
    rng: random.Random, counts: tuple[int, int, int, int, int, int] = (60, 8, 7, 10, 10, 5)
) -> list[Sim]:
    """LYWSD03MMC, ATC1441, pvvx, MJYD2S, MCCGQ02HL and YLYK01YL sensors, ``counts`` of each
    (by default 60, 8, 7, 10, 10, 5: 100 sensors)."""
    lywsd, atc, pvvx, motion, door, remote = counts
    sims: list[Sim] = []
    for n in range(lywsd):
        entry = DeviceEntry(f"A4C13855{n:04X}", 0x055B, rng.randbytes(16))
        sims.append(Sim(entry, "lywsd03mmc", 1.0))
    for n in range(atc + pvvx):
        pid = 0x0A1C if n < atc else 0x944A  # ATC1441, pvvx
        entry = DeviceEntry(f"A4C1381A{n:04X}", pid, None)
        sims.append(Sim(entry, "atc" if pid == 0x0A1C else "pvvx", 1.5, uuid=0x181A))
    for n in range(motion):
        sims.append(Sim(DeviceEntry(f"F8244107{n:04X}", 0x07F6, None), "motion", 0.6))
    for n in range(door):
        sims.append(Sim(DeviceEntry(f"E4AAEC09{n:04X}", 0x098B, rng.randbytes(16)), "door", 0.3))
    for n in range(remote):
        sims.append(Sim(DeviceEntry(f"F8244101{n:04X}", 0x0153, None), "remote", 0.2))
    for sim in sims:
        sim.counter = rng.randrange(200)
        sim.temperature = round(rng.uniform(18, 26), 1)
        sim.humidity = float(rng.randint(35, 60))
    return sims


def make_devices_149(rng: random.Random) -> list[Sim]:
    """149 sensors (HomeKit's limit for one bridge), the same mix scaled: 89 LYWSD03MMC,
    11 ATC1441, 11 pvvx, 15 MJYD2S, 15 MCCGQ02HL, 8 YLYK01YL."""
    return make_devices(rng, (89, 11, 11, 15, 15, 8))


def new_frame(sim: Sim, rng: random.Random) -> bytes:
    sim.counter += 1
    sim.temperature = round(min(35.0, max(5.0, sim.temperature + rng.choice((-0.1, 0, 0.1)))), 1)
    sim.humidity = min(90.0, max(10.0, sim.humidity + rng.choice((-1, 0, 1))))
    entry = sim.entry
    if sim.kind == "atc":
        return build.atc1441_frame(
            sim.mac, sim.temperature, int(sim.humidity), sim.battery, 2.9, sim.counter
        )
    if sim.kind == "pvvx":
        return build.pvvx_frame(
            sim.mac, sim.temperature, sim.humidity, 2.95, sim.battery, sim.counter
        )
    if sim.kind == "lywsd03mmc":
        step = sim.counter % 3
        objects = [
            build.obj_temperature(sim.temperature)
            if step == 0
            else build.obj_humidity(sim.humidity)
            if step == 1
            else build.obj_battery(sim.battery)
        ]
        return build.mibeacon_frame(
            entry.pid,
            sim.counter,
            objects,
            mac=sim.mac,
            key=entry.key,
            ext_counter=sim.counter >> 8,
        )
    if sim.kind == "motion":
        step = sim.counter % 4
        objects = [
            build.obj_motion_illuminance(rng.choice((1, 100)))
            if step == 0
            else build.obj_no_motion(rng.choice((60, 120, 300)))
            if step == 1
            else build.obj_illuminance(rng.choice((1, 100)))
            if step == 2
            else build.obj_battery(sim.battery)
        ]
        return build.mibeacon_frame(entry.pid, sim.counter, objects, mac=sim.mac, version=4)
    if sim.kind == "door":
        sim.state = not sim.state
        return build.mibeacon_frame(
            entry.pid,
            sim.counter,
            [build.obj_door(sim.state)],
            mac=sim.mac,
            key=entry.key,
            ext_counter=sim.counter >> 8,
        )
    # remote
    objects = [build.obj_button(rng.randrange(6), rng.choice((0, 2)))]
    return build.mibeacon_frame(entry.pid, sim.counter, objects, mac=sim.mac, version=3)


def write_recording(
    path: Path,
    sims: list[Sim],
    rate: float,
    duration: float,
    rng: random.Random,
    repeat_share: float,
) -> dict[str, int]:
    weights = [s.weight for s in sims]
    counts = {"advertisements": 0, "repeats": 0}
    t = 0.0
    with RecordingWriter(path) as writer:
        while True:
            t += rng.expovariate(rate)
            if t > duration:
                break
            sim = rng.choices(sims, weights)[0]
            if sim.last is not None and rng.random() < repeat_share:
                data = sim.last
                counts["repeats"] += 1
            else:
                data = new_frame(sim, rng)
                sim.last = data
            writer.write(sim.mac, sim.uuid, data, rng.randint(-90, -50), t)
            counts["advertisements"] += 1
    return counts


# ---- /proc ----------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def mem_kb(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0])
    return out


# ---- one bridge process ---------------------------------------------------------------


@dataclass
class Bridge:
    name: str
    workdir: Path
    recording: Path
    config: Path
    port: int
    proc: asyncio.subprocess.Process | None = None
    ready_at: float = 0.0
    ready_line: str = ""
    device_id: str = ""
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)  # t, ticks, rss, hwm
    events: int = 0
    event_keys: set[tuple[int, int]] = field(default_factory=set)
    subscribed: int = 0
    stderr_path: Path = Path()
    python: str = sys.executable  # another tree's interpreter (bench_release.py)

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    async def start(self, profile: bool) -> None:
        self.stderr_path = self.workdir / "stderr.log"
        cmd = [self.python]
        if profile:
            cmd += ["-m", "cProfile", "-o", str(self.workdir / "bridge.prof")]
        cmd += [
            "-m",
            "mihomekit",
            "run",
            "--replay",
            str(self.recording),
            "--config",
            str(self.config),
            "--state-dir",
            str(self.state_dir),
            "--address",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--mac",
            SETUP_MAC,
            "--no-gateway",
            "--no-web",
        ]
        with open(self.stderr_path, "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                cwd=str(self.workdir),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    async def wait_ready(self, timeout: float) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"{self.name}: bridge not ready after {timeout} s")
            line = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            if not line:
                raise RuntimeError(f"{self.name}: bridge exited: {self.stderr_tail()}")
            text = line.decode(errors="replace").strip()
            if text.startswith("mihomekit bridge"):
                self.ready_at = time.monotonic()
                self.ready_line = text
                break
        asyncio.get_running_loop().create_task(self._drain())
        hap = json.loads((self.state_dir / "accessory.state").read_text(encoding="utf-8"))
        self.device_id = str(hap["mac"])

    async def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.readline():
            pass

    def sample(self) -> None:
        assert self.proc is not None
        mem = mem_kb(self.proc.pid)
        self.samples.append(
            (time.monotonic(), cpu_ticks(self.proc.pid), mem["VmRSS"], mem["VmHWM"])
        )

    def on_event(self, data: dict[tuple[int, int], dict[str, Any]]) -> None:
        for key, payload in data.items():
            if "value" in payload:
                self.events += 1
                self.event_keys.add(key)

    async def stop(self) -> int | None:
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            return None

    def stderr_tail(self, n: int = 20) -> str:
        try:
            lines = self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def window_stats(bridge: Bridge, start: float, end: float) -> dict[str, Any]:
    inside = [s for s in bridge.samples if start <= s[0] <= end]
    if len(inside) < 2:
        return {"error": "not enough samples"}
    t0, c0, rss0, _ = inside[0]
    t1, c1, rss1, hwm1 = inside[-1]
    seconds = t1 - t0
    per_second = [
        (b[1] - a[1]) / CLK_TCK / (b[0] - a[0]) * 100 for a, b in itertools.pairwise(inside)
    ]
    all_hwm = max(s[3] for s in bridge.samples)
    return {
        "window_s": round(seconds, 1),
        "cpu_seconds": (c1 - c0) / CLK_TCK,
        "cpu_pct_one_core": (c1 - c0) / CLK_TCK / seconds * 100,
        "cpu_pct_max_1s": max(per_second),
        "cpu_pct_median_1s": statistics.median(per_second),
        "rss_mb_window_start": rss0 / 1024,
        "rss_mb_end": rss1 / 1024,
        "rss_mb_growth_in_window": (rss1 - rss0) / 1024,
        "hwm_mb": max(hwm1, all_hwm) / 1024,
        "cpu_seconds_startup_to_window": (c0 - bridge.samples[0][1]) / CLK_TCK,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="mihomekit-load-"))
    sims = make_devices(rng)
    config = root / "mi32cfg"
    config.write_text(dump_mi32cfg([s.entry for s in sims]), encoding="utf-8")
    duration = args.skip + args.window + 15.0  # the replay must outlast the window
    loaded_rec = root / "loaded.jsonl"
    idle_rec = root / "idle.jsonl"
    counts = write_recording(loaded_rec, sims, args.rate, duration, rng, args.repeat_share)
    idle_rec.write_text("", encoding="utf-8")
    bridges = []
    for name, rec in (("loaded", loaded_rec), ("idle", idle_rec)):
        workdir = root / name
        workdir.mkdir()
        bridges.append(Bridge(name, workdir, rec, config, free_port()))
    out: dict[str, Any] = {
        "recording": {**counts, "duration_s": duration, "rate": args.rate, "devices": len(sims)}
    }
    exit_codes: dict[str, int | None] = {}
    try:
        order = [bridges] if not args.sequential else [[b] for b in bridges]
        for group in order:
            await run_group(group, args)
    finally:
        for b in bridges:
            exit_codes[b.name] = await b.stop()
    for b in bridges:
        start = b.ready_at + args.skip
        stats = window_stats(b, start, start + args.window)
        stats["exit_code"] = exit_codes[b.name]
        stats["events_received"] = b.events
        stats["characteristics_with_events"] = len(b.event_keys)
        stats["subscribed_characteristics"] = b.subscribed
        stats["ready_line"] = b.ready_line
        stderr = b.stderr_path.read_text(encoding="utf-8", errors="replace")
        stats["stderr_lines"] = len(stderr.splitlines())
        stats["stderr_warnings"] = sum(" WARNING " in ln for ln in stderr.splitlines())
        stats["stderr_errors"] = sum(
            (" ERROR " in ln or "Traceback" in ln) for ln in stderr.splitlines()
        )
        stats["stderr_head"] = stderr.splitlines()[:15]
        saved = b.state_dir / "bridge.json"
        try:
            state = json.loads(saved.read_text(encoding="utf-8"))
            stats["devices_with_saved_values"] = len(state.get("last_values", {}))
        except (OSError, ValueError):
            stats["devices_with_saved_values"] = None
        stats["rss_trace_mb"] = [round(s[2] / 1024, 1) for s in b.samples]
        if args.profile:
            stats["profile"] = _profile_text(b.workdir / "bridge.prof")
        out[b.name] = stats
    if args.keep:
        out["workdir"] = str(root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return out


def _profile_text(path: Path) -> str:
    import io
    import pstats

    if not path.exists():
        return "(no profile written)"
    buf = io.StringIO()
    pstats.Stats(str(path), stream=buf).sort_stats("tottime").print_stats(25)
    return buf.getvalue()


async def run_group(group: list[Bridge], args: argparse.Namespace) -> None:
    """Start ``group`` side by side, pair and subscribe a controller (unless
    ``args.no_controller``), sample each bridge every second until the window is over."""
    for b in group:
        await b.start(args.profile)
    for b in group:
        await b.wait_ready(60.0)
        b.sample()
    async with controller_on_loopback() as controller:
        pairings = []
        if not args.no_controller:
            for b in group:
                pairing = await pair(controller, b.device_id, _setup_code(b), alias=b.name)
                listing = await pairing.list_accessories_and_characteristics()
                keys = event_keys(listing)
                pairing.dispatcher_connect(b.on_event)
                await pairing.subscribe(keys)
                b.subscribed = len(keys)
                pairings.append(pairing)
        end = max(b.ready_at for b in group) + args.skip + args.window + 0.5
        next_tick = time.monotonic()
        while time.monotonic() < end:
            for b in group:
                b.sample()
            next_tick += 1.0
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        for b in group:
            b.sample()
        for pairing in pairings:
            await pairing.close()


def _setup_code(b: Bridge) -> str:
    # "... setup code 182-11-234" (the code derived from --mac).
    return b.ready_line.split("setup code", 1)[1].split()[0].rstrip(",")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="advertisements per second")
    parser.add_argument("--repeat-share", type=float, default=1 / 3)
    parser.add_argument("--skip", type=float, default=10.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=60.0, help="measured seconds")
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="run the idle bridge after the loaded one instead of alongside",
    )
    parser.add_argument("--no-controller", action="store_true", help="no paired controller")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the bridges under cProfile (slower; for hot spots only)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--tag", default="", help="results file bridge_load_<tag>.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    out = asyncio.run(run(args))
    loaded, idle = out["loaded"], out["idle"]
    rows = []
    for key, label in (
        ("cpu_pct_one_core", "CPU % of one core (window)"),
        ("cpu_pct_median_1s", "CPU % median of 1-s slices"),
        ("cpu_pct_max_1s", "CPU % max 1-s slice"),
        ("rss_mb_end", "VmRSS MB (end of window)"),
        ("hwm_mb", "VmHWM MB (peak)"),
        ("rss_mb_growth_in_window", "RSS growth in window MB"),
        ("events_received", "HAP events at the controller"),
    ):
        a, b = loaded.get(key), idle.get(key)
        diff = a - b if isinstance(a, int | float) and isinstance(b, int | float) else "-"
        rows.append([label, a, b, diff])
    print(f"recording: {out['recording']}")
    print(table(["", "loaded", "idle", "loaded - idle"], rows))
    verdict_cpu = loaded["cpu_pct_one_core"] <= TARGET_CPU_PCT
    verdict_rss = max(loaded["rss_mb_end"], loaded["hwm_mb"]) <= TARGET_RSS_MB
    print(
        f"\ntarget CPU <= {TARGET_CPU_PCT:g} %: {'yes' if verdict_cpu else 'NO'}; "
        f"target RSS <= {TARGET_RSS_MB:g} MB: {'yes' if verdict_rss else 'NO'}"
    )
    for b in ("loaded", "idle"):
        s = out[b]
        print(
            f"{b}: exit code {s['exit_code']}, stderr {s['stderr_lines']} lines "
            f"({s['stderr_warnings']} warnings, {s['stderr_errors']} errors), "
            f"devices with saved values {s['devices_with_saved_values']}, "
            f"subscribed {s['subscribed_characteristics']}, "
            f"characteristics that sent events {s['characteristics_with_events']}"
        )
        for line in s["stderr_head"][:5]:
            print(f"   {line}")
        if s.get("profile"):
            print(f"\ncProfile of the {b} bridge (top 25 by own time):\n{s['profile']}")
    path = write_result(
        f"{NAME}_{args.tag}" if args.tag else NAME,
        {
            "params": vars(args),
            "targets": {"cpu_pct_one_core": TARGET_CPU_PCT, "rss_mb": TARGET_RSS_MB},
            "controller": not args.no_controller,
            "meets_target": {"cpu": verdict_cpu, "rss": verdict_rss},
            **out,
            "elapsed_s": round(time.monotonic() - started, 1),
        },
    )
    print(f"\nwrote {path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
