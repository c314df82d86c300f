"""ESPHome Bluetooth proxies as a source: whole-bridge CPU and RSS, and alert latency.

**Load** (``--phase load``). Four fake proxies (``tests/helpers/esphome_fake.py``: the real
native API over TCP on 127.0.0.1, in a process of their own) each send ``--rate``
advertisements a second (default 200) in batches of 16, about a third of them repeats of
that device's previous frame, from 100 sensors (the devices of ``bench_bridge_load.py``:
60 LYWSD03MMC AES-CCM, 15 ATC/pvvx, 10 motion, 10 door AES-CCM, 5 remotes). Two bridges
run as processes, started as a user starts them, at the same time:

* **proxies**: ``mihomekit run --settings S --no-ble`` with four ``[[esphome]]`` entries;
* **local**, the same-run reference: ``mihomekit run --replay REC``, the same
  advertisements (all four proxies' worth, each at the moment it was heard) fed to
  ``registry.handle`` one by one, as bleak's detection callback would.

An aiohomekit controller (in this process) pairs with each bridge and subscribes to every
characteristic with events. CPU is each bridge process's utime+stime over a steady-state
window (``--skip`` s after ready, then ``--window`` s) as % of one core, with VmRSS and
VmHWM (the method of ``bench_bridge_load.py``). Target: proxies <= 1.5x the local CPU.

**Latency** (``--phase latency``). One process and one asyncio loop, as in
``bench_latency.py``: four fake proxies (two plaintext, two Noise), a ``App`` with
its proxy sources built by ``mihomekit run``'s factory, and a paired aiohomekit controller
subscribed to the measured characteristics. While the four proxies send the load above,
a sample is one batch of 16 at one proxy whose last entry is an alert (door
open/close AES-CCM, leak wet/dry AES-CCM, remote button); t0 is the loop time just before
the fake proxy writes the batch, t1 the loop time in the controller's event callback.
The first sample of each kind is a warm-up. Target: p95 <= 25 ms.

    .venv/bin/python benchmarks/bench_proxies.py                 # both phases, ~2 min
    .venv/bin/python benchmarks/bench_proxies.py --phase load --window 120
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import REPO_DIR, summary_ms, table, write_result

sys.path.insert(0, str(REPO_DIR / "tests" / "helpers"))

from bench_bridge_load import (
    SETUP_MAC,
    Bridge,
    Sim,
    _setup_code,
    make_devices,
    new_frame,
    window_stats,
)
from esphome_fake import Entry, FakeProxy
from homekit_helpers import AccessoryView, controller_on_loopback, free_port, pair

from mihomekit.app import App, AppConfig
from mihomekit.commands.run import esphome_sources
from mihomekit.decoders import build
from mihomekit.mi32cfg import DeviceEntry, dump_mi32cfg
from mihomekit.settings import parse_settings
from mihomekit.sources.esphome.ad import build_ad
from mihomekit.sources.recording import RecordingWriter

NAME = "proxies"
TARGET_CPU_RATIO = 1.5
TARGET_P95_MS = 25.0
PROXIES = 4
BATCH = 16
KEY = "px7tsbK3C7bpXHr2OevEV2ZMg/FrNBw2+O2pNPbedtA="

# ---- the load: batches per proxy, and the same advertisements as a recording -----------


def make_schedule(
    sims: list[Sim], rate: float, duration: float, repeat_share: float, rng: random.Random
) -> tuple[list[list[tuple[float, list[tuple[int, int, str]]]]], dict[str, int]]:
    """Per proxy: ``(t, [(address, rssi, ad_hex), ...])`` batches of :data:`BATCH`.

    One stream of frames feeds all proxies in time order (so frame counters rise
    across proxies); a repeat is that device's previous frame, whichever proxy sent it.
    """
    interval = BATCH / rate
    weights = [s.weight for s in sims]
    schedule: list[list[tuple[float, list[tuple[int, int, str]]]]] = [[] for _ in range(PROXIES)]
    counts = {"advertisements": 0, "repeats": 0, "batches": 0}
    k = 0
    while True:
        base = k * interval
        if base > duration:
            break
        for p in range(PROXIES):
            t = base + p * interval / PROXIES
            entries = []
            for _ in range(BATCH):
                sim = rng.choices(sims, weights)[0]
                if sim.last is not None and rng.random() < repeat_share:
                    data = sim.last
                    counts["repeats"] += 1
                else:
                    data = new_frame(sim, rng)
                    sim.last = data
                address = int(sim.mac.replace(":", ""), 16)
                ad = build_ad({sim.uuid: data})
                entries.append((address, rng.randint(-90, -50), ad.hex()))
                counts["advertisements"] += 1
            schedule[p].append((t, entries))
            counts["batches"] += 1
        k += 1
    return schedule, counts


def write_local_recording(
    path: Path, schedule: list[list[tuple[float, list[tuple[int, int, str]]]]], rate: float
) -> None:
    """The same advertisements, each at the moment a radio heard it (before batching)."""
    spacing = 1.0 / rate
    rows = []
    for batches in schedule:
        for t, entries in batches:
            for j, (address, rssi, ad_hex) in enumerate(entries):
                heard = max(0.0, t - (BATCH - 1 - j) * spacing)
                ad = bytes.fromhex(ad_hex)
                # flags (3 bytes), then [len][0x16][uuid LE][data]
                uuid = ad[5] | (ad[6] << 8)
                mac = ":".join(f"{address:012X}"[i : i + 2] for i in range(0, 12, 2))
                rows.append((heard, mac, uuid, ad[7:], rssi))
    rows.sort(key=lambda r: r[0])
    with RecordingWriter(path) as writer:
        for heard, mac, uuid, data, rssi in rows:
            writer.write(mac, uuid, data, rssi, heard)


async def serve_proxies(schedule_path: str) -> None:
    """``--serve``: four fake proxies; print their ports, send the schedule once all
    four are subscribed, then idle until killed."""
    schedule = json.loads(Path(schedule_path).read_text(encoding="utf-8"))
    proxies = [await FakeProxy(name=f"proxy-{p}").start() for p in range(PROXIES)]
    print(json.dumps([p.port for p in proxies]), flush=True)
    for proxy in proxies:
        await proxy.wait_subscribed(timeout=120)
    print("go", flush=True)
    await asyncio.gather(*(_send(proxies[p], schedule[p]) for p in range(PROXIES)))
    print("done", flush=True)
    await asyncio.Event().wait()


async def _send(proxy: FakeProxy, batches: list[Any]) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for t, entries in batches:
        delay = start + t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        proxy.send_batch([Entry(a, r, bytes.fromhex(h)) for a, r, h in entries])


@dataclass
class SettingsBridge(Bridge):
    """A bridge fed by the ``[[esphome]]`` proxies of a settings file (no radio)."""

    settings: Path = field(default=Path())

    async def start(self, profile: bool) -> None:
        self.stderr_path = self.workdir / "stderr.log"
        cmd = [sys.executable]
        if profile:
            cmd += ["-m", "cProfile", "-o", str(self.workdir / "bridge.prof")]
        cmd += ["-m", "mihomekit", "run", "--settings", str(self.settings)]
        cmd += ["--config", str(self.config), "--state-dir", str(self.state_dir)]
        cmd += ["--address", "127.0.0.1", "--port", str(self.port), "--mac", SETUP_MAC]
        cmd += ["--no-gateway", "--no-ble", "--no-web"]
        with open(self.stderr_path, "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                cwd=str(self.workdir),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="mihomekit-proxies-"))
    sims = make_devices(rng)
    config = root / "mi32cfg"
    config.write_text(dump_mi32cfg([s.entry for s in sims]), encoding="utf-8")
    duration = args.skip + args.window + 15.0
    schedule, counts = make_schedule(sims, args.rate, duration, args.repeat_share, rng)
    schedule_path = root / "schedule.json"
    schedule_path.write_text(json.dumps(schedule), encoding="utf-8")
    local_rec = root / "local.jsonl"
    write_local_recording(local_rec, schedule, args.rate * PROXIES)

    server = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        str(schedule_path),
        stdout=asyncio.subprocess.PIPE,
        cwd=str(REPO_DIR),
    )
    assert server.stdout is not None
    ports = json.loads(await asyncio.wait_for(server.stdout.readline(), 30))
    settings = root / "proxies.toml"
    settings.write_text(
        "".join(f'[[esphome]]\nhost = "127.0.0.1"\nport = {port}\n\n' for port in ports),
        encoding="utf-8",
    )
    bridges: list[Bridge] = []
    for name in ("proxies", "local"):
        workdir = root / name
        workdir.mkdir()
        if name == "proxies":
            bridges.append(
                SettingsBridge(name, workdir, local_rec, config, free_port(), settings=settings)
            )
        else:
            bridges.append(Bridge(name, workdir, local_rec, config, free_port()))
    out: dict[str, Any] = {
        "load": {**counts, "duration_s": duration, "rate_per_proxy": args.rate, "proxies": PROXIES}
    }
    exit_codes: dict[str, int | None] = {}
    try:
        for b in bridges:
            await b.start(args.profile)
        for b in bridges:
            await b.wait_ready(60.0)
            b.sample()
        async with controller_on_loopback() as controller:
            pairings = []
            for b in bridges:
                pairing = await pair(controller, b.device_id, _setup_code(b), alias=b.name)
                listing = await pairing.list_accessories_and_characteristics()
                keys = [
                    (acc["aid"], ch["iid"])
                    for acc in listing
                    for svc in acc["services"]
                    for ch in svc["characteristics"]
                    if "ev" in ch.get("perms", [])
                ]
                pairing.dispatcher_connect(b.on_event)
                await pairing.subscribe(keys)
                b.subscribed = len(keys)
                pairings.append(pairing)
            go = await asyncio.wait_for(server.stdout.readline(), 60)
            assert go.strip() == b"go", go
            end = max(b.ready_at for b in bridges) + args.skip + args.window + 0.5
            next_tick = time.monotonic()
            while time.monotonic() < end:
                for b in bridges:
                    b.sample()
                next_tick += 1.0
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            for b in bridges:
                b.sample()
            for pairing in pairings:
                await pairing.close()
    finally:
        for b in bridges:
            exit_codes[b.name] = await b.stop()
        server.kill()
        await server.wait()
    for b in bridges:
        start = b.ready_at + args.skip
        stats = window_stats(b, start, start + args.window)
        stats["exit_code"] = exit_codes[b.name]
        stats["events_received"] = b.events
        stats["subscribed_characteristics"] = b.subscribed
        stderr = b.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()
        stats["stderr_lines"] = len(stderr)
        stats["stderr_head"] = stderr[:10]
        if args.profile:
            from bench_bridge_load import _profile_text

            stats["profile"] = _profile_text(b.workdir / "bridge.prof")
        out[b.name] = stats
    ratio = out["proxies"]["cpu_pct_one_core"] / max(out["local"]["cpu_pct_one_core"], 1e-9)
    out["cpu_ratio"] = ratio
    out["meets_target"] = ratio <= TARGET_CPU_RATIO
    if args.keep:
        out["workdir"] = str(root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return out


# ---- latency --------------------------------------------------------------------------

Key = tuple[int, int]


class Arrivals:
    """The controller's event callback: resolves the futures of expected values."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict[Key, list[tuple[Any, asyncio.Future[float]]]] = {}
        self.events = 0

    def __call__(self, data: dict[Key, dict[str, Any]]) -> None:
        now = self.loop.time()
        for key, payload in data.items():
            if "value" not in payload:
                continue
            self.events += 1
            for entry in list(self.pending.get(key, ())):
                value, fut = entry
                if not fut.done() and payload["value"] == value:
                    fut.set_result(now)
                    self.pending[key].remove(entry)

    def expect(self, key: Key, value: Any) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = self.loop.create_future()
        self.pending.setdefault(key, []).append((value, fut))
        return fut


@dataclass
class Counter:
    entry: DeviceEntry
    counter: int = 0

    def frame(self, objects: list[tuple[int, bytes]], version: int = 5) -> bytes:
        self.counter += 1
        return build.mibeacon_frame(
            self.entry.pid,
            self.counter,
            objects,
            mac=self.entry.display_mac,
            key=self.entry.key,
            version=version,
            ext_counter=self.counter >> 8,
        )


async def _background(
    proxies: list[FakeProxy], sims: list[Sim], rate: float, rng: random.Random
) -> int:
    """Each proxy sends ``rate`` advertisements a second in batches of 16."""
    loop = asyncio.get_running_loop()
    interval = BATCH / rate
    sent = 0
    start = loop.time()
    k = 0
    weights = [s.weight for s in sims]
    try:
        while True:
            for p, proxy in enumerate(proxies):
                due = start + k * interval + p * interval / len(proxies)
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                entries = []
                for _ in range(BATCH):
                    sim = rng.choices(sims, weights)[0]
                    if sim.last is not None and rng.random() < 1 / 3:
                        data = sim.last
                    else:
                        data = sim.last = new_frame(sim, rng)
                    entries.append(Entry.service(sim.mac, data, rssi=-70, uuid=sim.uuid))
                proxy.send_batch(entries)
                sent += BATCH
            k += 1
    except asyncio.CancelledError:
        return sent


async def run_latency(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    door = Counter(DeviceEntry("E4AAEC000001", 0x098B, bytes.fromhex("0123456789abcdef" * 2)))
    leak = Counter(DeviceEntry("50EC50000002", 0x0863, bytes.fromhex("fedcba9876543210" * 2)))
    remote = Counter(DeviceEntry("F82441000003", 0x0153, None))
    background = make_devices(random.Random(args.seed + 1)) if args.rate > 0 else []
    proxies = [
        await FakeProxy(name="plain-0").start(),
        await FakeProxy.encrypted(KEY, name="noise-1").start(),
        await FakeProxy(name="plain-2").start(),
        await FakeProxy.encrypted(KEY, name="noise-3").start(),
    ]
    toml = ""
    for proxy in proxies:
        toml += f'[[esphome]]\nhost = "127.0.0.1"\nport = {proxy.port}\n'
        if proxy.psk is not None:
            toml += f'encryption_key = "{KEY}"\n'
    state_dir = Path(tempfile.mkdtemp(prefix="mihomekit-proxy-latency-"))
    app = App(
        AppConfig(
            state_dir=state_dir,
            address="127.0.0.1",
            port=free_port(),
            setup_code_mac=SETUP_MAC,
            entries=[door.entry, leak.entry, remote.entry, *(s.entry for s in background)],
            print_setup=False,
            sources=esphome_sources(parse_settings(toml)),
        )
    )
    results: dict[str, list[float]] = {"contact": [], "leak": [], "button": []}
    missed: dict[str, int] = dict.fromkeys(results, 0)
    loop = asyncio.get_running_loop()
    extra: dict[str, Any] = {}
    await app.start()
    feeder: asyncio.Task[int] | None = None
    try:
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, app.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())

            def char(entry: DeviceEntry, service: str, name: str, index: int = 0) -> Key:
                aid = view.aid_by_serial(entry.display_mac)
                return aid, view.iid(aid, service, name, index)

            door_key = char(door.entry, "ContactSensor", "ContactSensorState")
            leak_key = char(leak.entry, "LeakSensor", "LeakDetected")
            button_keys = [
                char(remote.entry, "StatelessProgrammableSwitch", "ProgrammableSwitchEvent", i)
                for i in range(6)
            ]
            arrivals = Arrivals(loop)
            pairing.dispatcher_connect(arrivals)
            await pairing.subscribe([door_key, leak_key, *button_keys])
            for proxy in proxies:
                await proxy.wait_subscribed()
            if background:
                feeder = loop.create_task(_background(proxies, background, args.rate, rng))
            filler_sim = Counter(DeviceEntry("A4C138FF0000", 0x055B, None))
            n = args.samples + 1
            for i in range(n * 3):
                kind = ("contact", "leak", "button")[i % 3]
                step = i // 3
                if kind == "contact":
                    is_open = step % 2 == 0
                    key, value = door_key, 1 if is_open else 0
                    frame = door.frame([build.obj_door(is_open)])
                    mac = door.entry.display_mac
                elif kind == "leak":
                    wet = step % 2 == 0
                    key, value = leak_key, 1 if wet else 0
                    frame = leak.frame([build.obj_leak(wet)])
                    mac = leak.entry.display_mac
                else:
                    index, press = step % 6, (0, 2)[(step // 6) % 2]
                    key, value = button_keys[index], press
                    frame = remote.frame([build.obj_button(index, press)], version=3)
                    mac = remote.entry.display_mac
                fillers = [
                    Entry.service(filler_sim.entry.display_mac, filler_sim.frame([]), rssi=-80)
                    for _ in range(BATCH - 1)
                ]
                proxy = proxies[step % len(proxies)]
                fut = arrivals.expect(key, value)
                t0 = loop.time()
                proxy.send_batch([*fillers, Entry.service(mac, frame, rssi=-60)])
                try:
                    t1 = await asyncio.wait_for(fut, args.timeout)
                except TimeoutError:
                    if step:
                        missed[kind] += 1
                else:
                    if step:  # the first of each kind is a warm-up
                        results[kind].append(t1 - t0)
                await asyncio.sleep(rng.uniform(0.01, 0.04))
            if feeder is not None:
                feeder.cancel()
                extra["background_advertisements"] = await feeder
                feeder = None
            extra["events_received"] = arrivals.events
            extra["registry_stats"] = dict(app.registry.stats)
            extra["proxy_stats"] = {
                s.status.name: s.stats.as_dict()  # type: ignore[attr-defined]
                for s in app.sources
            }
            await pairing.close()
    finally:
        if feeder is not None:
            feeder.cancel()
        await app.stop()
        for proxy in proxies:
            await proxy.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    kinds: dict[str, Any] = {}
    for kind, samples in results.items():
        summary: dict[str, Any] = dict(summary_ms(samples))
        summary["missed"] = missed[kind]
        summary["meets_target"] = (
            bool(samples) and not missed[kind] and (summary["p95"] <= TARGET_P95_MS)
        )
        summary["samples_ms"] = [round(s * 1000, 3) for s in samples]
        kinds[kind] = summary
    return {"kinds": kinds, **extra}


# ---- main -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", choices=("load", "latency", "both"), default="both")
    parser.add_argument("--rate", type=float, default=200.0, help="advertisements/s per proxy")
    parser.add_argument("--repeat-share", type=float, default=1 / 3)
    parser.add_argument("--skip", type=float, default=10.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--samples", type=int, default=40, help="latency samples per kind")
    parser.add_argument("--timeout", type=float, default=2.0, help="per latency sample, s")
    parser.add_argument("--profile", action="store_true", help="bridges under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--serve", metavar="SCHEDULE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve_proxies(args.serve))
        return 0
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    result: dict[str, Any] = {"params": vars(args)}
    if args.phase in ("load", "both"):
        load = asyncio.run(run_load(args))
        result["load"] = load
        rows = []
        for key, label in (
            ("cpu_pct_one_core", "CPU % of one core (window)"),
            ("cpu_pct_median_1s", "CPU % median of 1-s slices"),
            ("cpu_pct_max_1s", "CPU % max 1-s slice"),
            ("rss_mb_end", "VmRSS MB (end of window)"),
            ("hwm_mb", "VmHWM MB (peak)"),
            ("events_received", "HAP events at the controller"),
        ):
            rows.append([label, load["proxies"].get(key), load["local"].get(key)])
        print(f"load: {load['load']}")
        print(table(["", "4 proxies", "local radio path"], rows))
        print(
            f"\nCPU proxies / local = {load['cpu_ratio']:.2f} "
            f"(target <= {TARGET_CPU_RATIO:g}: {'yes' if load['meets_target'] else 'NO'})"
        )
        for name in ("proxies", "local"):
            for line in load[name]["stderr_head"][:5]:
                print(f"   {name}: {line}")
            if load[name].get("profile"):
                print(f"\ncProfile of the {name} bridge:\n{load[name]['profile']}")
    if args.phase in ("latency", "both"):
        latency = asyncio.run(run_latency(args))
        result["latency"] = latency
        rows = []
        for kind, s in latency["kinds"].items():
            if not s.get("n"):
                rows.append([kind, 0, "-", "-", "-", "-", s["missed"], "NO EVENTS"])
                continue
            rows.append(
                [
                    kind,
                    s["n"],
                    s["min"],
                    s["median"],
                    s["p95"],
                    s["max"],
                    s["missed"],
                    "yes" if s["meets_target"] else "NO",
                ]
            )
        print()
        print(
            table(
                [
                    "alert",
                    "n",
                    "min ms",
                    "median ms",
                    "p95 ms",
                    "max ms",
                    "missed",
                    f"p95<={TARGET_P95_MS:g}ms",
                ],
                rows,
            )
        )
        print(
            f"background: {latency.get('background_advertisements')} advertisements from 4 "
            f"proxies at {args.rate:g}/s each; registry {latency.get('registry_stats')}"
        )
    result["targets"] = {"cpu_ratio": TARGET_CPU_RATIO, "alert_p95_ms": TARGET_P95_MS}
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    path = write_result(NAME, result)
    print(f"\nwrote {path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
