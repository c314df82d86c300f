"""400 devices across child bridges vs one bridge of 149, at the same advertisement rate.

Two bridge processes run at the same time (same machine, same run), each a
:class:`mihomekit.app.App` as ``mihomekit run`` builds it, on 127.0.0.1:

* **one bridge**: 149 devices (HomeKit's limit for one bridge);
* **child bridges**: 400 devices, which placement spreads over bridges 1, 2 and 3
  (149 + 149 + 102), each with its own HAP server, identity and mDNS advertisement.

Each process feeds its registry ``--rate`` advertisements a second (default 1,000) from a
load generator on its own event loop: ATC1441 frames (0x181A) for every device in turn,
each with a new counter and a changing temperature, so each one is decoded, accepted and
ends as a HomeKit event; the generator's own cost (a ``struct.pack`` per frame) is in the
figures of both sides alike. The benchmark's aiohomekit controller pairs with every bridge
and subscribes to every characteristic with events, as a Home hub does.

Alerts: four YLYK01YL remotes per process (on bridges 1, 2 and 3 for the child-bridge
side). Every ``--alert-every`` seconds the benchmark sends a UDP datagram to one process,
which at once hands a button-press MiBeacon frame to its registry; the alert latency is
from that send to the ProgrammableSwitchEvent arriving at the controller (sent at once, not
coalesced).

CPU is the process's utime+stime (``/proc/<pid>/stat``) over the window after ``--skip``
seconds, as % of one core.

    .venv/bin/python benchmarks/bench_bridges.py              # about 50 s
    .venv/bin/python benchmarks/bench_bridges.py --rate 2000 --window 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import REPO_DIR, event_keys, summary_ms, table, write_result

sys.path.insert(0, str(REPO_DIR / "tests" / "helpers"))
sys.path.insert(0, str(REPO_DIR))

NAME = "bridges"
SETUP_MAC = "B8:27:EB:12:34:56"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ATC_PID = 0x0A1C
REMOTE_PID = 0x0153
REMOTES = 4

# ---- the bridge process ---------------------------------------------------------------


def _macs(devices: int) -> tuple[list[str], list[str]]:
    """The sensors' and the remotes' MACs; remotes spread evenly over the device list."""
    remote_at = {round(i * (devices - 1) / (REMOTES - 1)) for i in range(REMOTES)}
    sensors, remotes = [], []
    for n in range(devices):
        (remotes if n in remote_at else sensors).append(f"A4C138{n:06X}")
    return sensors, remotes


async def serve(args: argparse.Namespace) -> None:
    """Run a bridge with ``--devices`` devices and the load generator until SIGTERM."""
    from mihomekit.app import App, AppConfig
    from mihomekit.decoders import build
    from mihomekit.mi32cfg import DeviceEntry

    sensors, remotes = _macs(args.devices)
    entries = [DeviceEntry(m, ATC_PID, None) for m in sensors]
    entries += [DeviceEntry(m, REMOTE_PID, None) for m in remotes]
    app = App(
        AppConfig(
            state_dir=Path(args.state_dir),
            address=args.address,
            port=args.port,
            setup_code_mac=SETUP_MAC,
            entries=sorted(entries, key=lambda e: e.mac),
            print_setup=False,
        )
    )
    await app.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    presses = [0] * len(remotes)

    class Alerts(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            k = int(data) % len(remotes)
            presses[k] += 1
            mac = ":".join(remotes[k][i : i + 2] for i in range(0, 12, 2))
            frame = build.mibeacon_frame(
                REMOTE_PID, presses[k], [(0x1001, bytes([k % 6, 0, 0]))], mac=mac, version=3
            )
            app.registry.handle_advertisement(mac, 0xFE95, frame, -60)

    transport, _ = await loop.create_datagram_endpoint(Alerts, local_addr=(args.address, 0))
    hubs = [
        {"number": h.number, "device_id": h.device_id, "code": h.setup_code, "port": h.port}
        for h in app.hubs
    ]
    ready = {"hubs": hubs, "alert_port": transport.get_extra_info("sockname")[1]}
    ready["remotes"] = [":".join(m[i : i + 2] for i in range(0, 12, 2)) for m in remotes]
    print(json.dumps(ready), flush=True)

    displays = [":".join(m[i : i + 2] for i in range(0, 12, 2)) for m in sensors]
    counter = 0
    interval = 1.0 / args.rate
    next_at = loop.time()
    handle = app.registry.handle_advertisement
    while not stop.is_set():
        batch = 0
        now = loop.time()
        while next_at <= now and batch < 256:
            mac = displays[counter % len(displays)]
            temp = 20.0 + (counter // len(displays)) % 50 / 10
            handle(mac, 0x181A, build.atc1441_frame(mac, temp, 50, 90, 3.0, counter), -70)
            counter += 1
            next_at += interval
            batch += 1
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    transport.close()
    await app.stop()


# ---- the benchmark --------------------------------------------------------------------


@dataclass
class Side:
    label: str
    devices: int
    port: int
    state_dir: Path
    proc: asyncio.subprocess.Process | None = None
    info: dict[str, Any] = field(default_factory=dict)
    ticks: list[tuple[float, int]] = field(default_factory=list)
    sent: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    alert_keys: set[tuple[str, int, int]] = field(default_factory=set)
    events: int = 0

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            "--devices",
            str(self.devices),
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state_dir),
            "--rate",
            str(ARGS.rate),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        self.info = json.loads(line)

    def cpu(self) -> int:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def sample(self) -> None:
        self.ticks.append((time.monotonic(), self.cpu()))

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 30)
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()


ARGS = argparse.Namespace()


async def _pair_all(controller: Any, side: Side) -> list[Any]:
    from homekit_helpers import AccessoryView, pair

    pairings = []
    for hub in side.info["hubs"]:
        alias = f"{side.label}-{hub['number']}"
        pairing = await pair(controller, hub["device_id"], hub["code"], alias=alias)
        listing = await pairing.list_accessories_and_characteristics()
        view = AccessoryView(listing)
        keys = event_keys(listing)
        for remote in side.info["remotes"]:
            with contextlib.suppress(KeyError):
                aid = view.aid_by_serial(remote)
                for svc in view.services(aid, "StatelessProgrammableSwitch"):
                    for ch in svc["characteristics"]:
                        if ch["type"].upper().startswith("00000073"):
                            side.alert_keys.add((alias, aid, ch["iid"]))

        def on_event(data: dict[tuple[int, int], Any], alias: str = alias) -> None:
            now = time.monotonic()
            side.events += len(data)
            for aid, iid in data:
                if (alias, aid, iid) in side.alert_keys and side.sent:
                    last = max(side.sent)
                    side.latencies.append(now - side.sent.pop(last))

        pairing.dispatcher_connect(on_event)
        await pairing.subscribe(keys)
        pairings.append(pairing)
    return pairings


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from homekit_helpers import controller_on_loopback, free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-bridges-"))
    sides = [
        Side("one bridge (149)", 149, free_port(), tmp / "one"),
        Side("child bridges (400)", 400, free_port() + 1000, tmp / "many"),
    ]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        await asyncio.gather(*(s.start() for s in sides))
        async with controller_on_loopback() as controller:
            pairings = [p for s in sides for p in await _pair_all(controller, s)]
            begin = time.monotonic() + args.skip
            end = begin + args.window
            for s in sides:
                s.ticks.clear()
            alert = 0
            measuring = False
            while time.monotonic() < end:
                if not measuring and time.monotonic() >= begin:
                    measuring = True
                    for s in sides:
                        s.sample()
                        s.latencies.clear()
                        s.events = 0
                for s in sides:
                    s.sent[alert] = time.monotonic()
                    sock.sendto(str(alert).encode(), ("127.0.0.1", s.info["alert_port"]))
                alert += 1
                await asyncio.sleep(args.alert_every)
            for s in sides:
                s.sample()
            for pairing in pairings:
                await pairing.close()
    finally:
        sock.close()
        for s in sides:
            await s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, Any] = {"rate": args.rate, "window_s": args.window, "sides": {}}
    for s in sides:
        (t0, c0), (t1, c1) = s.ticks[0], s.ticks[-1]
        out["sides"][s.label] = {
            "devices": s.devices,
            "bridges": len(s.info["hubs"]),
            "cpu_pct_one_core": 100.0 * (c1 - c0) / CLK_TCK / (t1 - t0),
            "alert_ms": summary_ms(s.latencies),
            "events_per_s": s.events / (t1 - t0),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="advertisements per second")
    parser.add_argument("--skip", type=float, default=10.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--alert-every", type=float, default=0.25, metavar="S")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=149, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    parser.add_argument("--address", default="127.0.0.1", help=argparse.SUPPRESS)
    ARGS = args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args))
        return 0
    out = asyncio.run(run(args))
    rows = []
    for label, s in out["sides"].items():
        alert = s["alert_ms"]
        rows.append(
            [
                label,
                s["bridges"],
                s["cpu_pct_one_core"],
                alert.get("median", "-"),
                alert.get("p95", "-"),
                alert.get("n", 0),
                s["events_per_s"],
            ]
        )
    print(f"{out['rate']:g} advertisements/s per process, {out['window_s']:g} s window")
    print(
        table(
            [
                "",
                "bridges",
                "CPU % one core",
                "alert median ms",
                "alert p95 ms",
                "alerts",
                "events/s",
            ],
            rows,
        )
    )
    path = write_result(NAME, out)
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
