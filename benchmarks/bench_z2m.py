"""Zigbee2MQTT at scale: 140 Zigbee devices, 50 state messages a second, through mosquitto.

A real mosquitto (127.0.0.1, a free port) and two bridges, as separate processes started
as a user starts one (``python -m mihomekit run --settings S --state-dir D --address
127.0.0.1 --port N --mac ... --no-gateway``), each with ``[mqtt] publish = true`` and
``[zigbee2mqtt]``:

* **loaded**: base topic ``z2m``: ``--devices`` devices (doors, motion, climate, leak,
  buttons, plugs cloned from ``tests/data/z2m_bridge_devices.json``) and ``--rate`` state
  messages/s (Poisson arrivals, the full cached state each, as Zigbee2MQTT sends them);
* **idle**, the same-run reference: base topic ``z2m_idle``, the same devices, no messages.

An aiohomekit controller (in this process) pairs with both over loopback and subscribes to
every characteristic that supports events. Alert latency: on five probe doors outside the
load, the loop time right before publishing ``{"contact": …}`` to the broker, to the loop
time the controller's event arrives (broker hop, the bridge's MQTT client, the registry,
HAP and the controller; sequential, 100-300 ms apart, about 5/s on top of the load). CPU
is utime+stime from ``/proc/<pid>/stat`` over the window, % of one core; RSS from
``/proc/<pid>/status``.

Target: alert p95 <= 25 ms.

    .venv/bin/python benchmarks/bench_z2m.py                  # about 60 s
    .venv/bin/python benchmarks/bench_z2m.py --window 120 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import copy
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

import aiomqtt
from bench_bridge_load import CLK_TCK
from bench_bridge_load import Bridge as LoadBridge
from benchlib import REPO_DIR, event_keys, summary_ms, table, write_result

sys.path.insert(0, str(REPO_DIR / "tests" / "helpers"))

from homekit_helpers import AccessoryView, controller_on_loopback, free_port, pair
from mosquitto import HOST, Mosquitto
from z2m_simulator import load_devices

NAME = "z2m"
TARGET_P95_MS = 25.0
SETUP_MAC = "B8:27:EB:12:34:56"
#: share of the device mix, by template model
MIX = {
    "MCCGQ11LM": 0.3,
    "RTCGQ11LM": 0.2,
    "WSDCGQ11LM": 0.3,
    "SJCGQ11LM": 0.05,
    "WXKG11LM": 0.08,
    "ZNCZ02LM": 0.07,
}
PROBES = 5


@dataclass
class Dev:
    ieee: str
    name: str
    model: str
    state: dict[str, Any] = field(default_factory=dict)


def make_devices(count: int) -> tuple[list[dict[str, Any]], list[Dev]]:
    templates = {
        d["definition"]["model"]: d
        for d in load_devices()
        if d.get("definition") and not d.get("disabled")
    }
    entries: list[dict[str, Any]] = []
    devs: list[Dev] = []
    models = [m for m, share in MIX.items() for _ in range(round(share * count))]
    models = (["MCCGQ11LM"] * PROBES + models)[:count]
    models += ["WSDCGQ11LM"] * (count - len(models))
    for index, model in enumerate(models):
        entry = copy.deepcopy(templates[model])
        ieee = f"0x00158d00{index:08x}"
        name = f"probe/{index}" if index < PROBES else f"room{index % 12}/{model}/{index}"
        entry.update(ieee_address=ieee, friendly_name=name, network_address=1000 + index)
        entries.append(entry)
        devs.append(Dev(ieee, name, model))
    return entries, devs


def next_state(dev: Dev, rng: random.Random) -> dict[str, Any]:
    """The device's next message (its full cached state, plus an action if any)."""
    state = dev.state
    state.setdefault("battery", rng.randint(60, 100))
    state["linkquality"] = rng.randint(40, 200)
    action: dict[str, Any] = {}
    if dev.model == "MCCGQ11LM":
        state["contact"] = not state.get("contact", True)
    elif dev.model == "RTCGQ11LM":
        state["occupancy"] = not state.get("occupancy", False)
        state["illuminance"] = rng.randint(0, 800)
    elif dev.model == "WSDCGQ11LM":
        state["temperature"] = round(rng.uniform(18, 26), 2)
        state["humidity"] = round(rng.uniform(35, 65), 2)
        state["pressure"] = round(rng.uniform(990, 1030), 1)
    elif dev.model == "SJCGQ11LM":
        state["water_leak"] = False
    elif dev.model == "WXKG11LM":
        action = {"action": rng.choice(["single", "double", "hold"])}
    elif dev.model == "ZNCZ02LM":
        state["state"] = rng.choice(["ON", "OFF"])
        state["power"] = round(rng.uniform(0, 60), 1)
    return {**state, **action}


@dataclass
class Bridge(LoadBridge):
    """A ``mihomekit run`` with ``[zigbee2mqtt]`` (start, readiness, /proc samples, stop)."""

    base: str = "z2m"
    broker_port: int = 0
    publish: bool = True

    async def start(self, profile: bool = False) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.workdir / "stderr.log"
        settings = self.workdir / "mihomekit.toml"
        settings.write_text(
            f'[mqtt]\nhost = "{HOST}"\nport = {self.broker_port}\n'
            f"publish = {'true' if self.publish else 'false'}\n"
            f'topic_prefix = "mk_{self.name}"\nclient_id = "bench-{self.name}"\n'
            f'discovery_prefix = "ha_{self.name}"\n'
            f'[zigbee2mqtt]\nbase_topic = "{self.base}"\n[ble]\nenabled = false\n'
        )
        with open(self.stderr_path, "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mihomekit", "run", "--no-web", "--settings", str(settings),
                "--state-dir", str(self.state_dir), "--address", HOST,
                "--port", str(self.port), "--mac", SETUP_MAC, "--no-gateway",
                stdout=asyncio.subprocess.PIPE, stderr=err, cwd=str(self.workdir),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip


def _bridge(name: str, base: str, work: Path, broker: int, publish: bool) -> Bridge:
    return Bridge(
        name, work / name, Path(), Path(), free_port(), base=base, broker_port=broker,
        publish=publish,
    )  # fmt: skip


def window(bridge: Bridge, start: float) -> dict[str, float]:
    inside = [s for s in bridge.samples if s[0] >= start]
    t0, c0, rss0, _ = inside[0]
    t1, c1, rss1, hwm = inside[-1]
    return {
        "cpu_pct_one_core": (c1 - c0) / CLK_TCK / (t1 - t0) * 100,
        "rss_mb_start": rss0 / 1024,
        "rss_mb_end": rss1 / 1024,
        "rss_peak_mb": hwm / 1024,
        "seconds": t1 - t0,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(8)
    work = Path(tempfile.mkdtemp(prefix="bench-z2m-"))
    broker = Mosquitto(work / "mosquitto")
    broker.start()
    entries, devs = make_devices(args.devices)
    bridges = [
        _bridge("loaded", "z2m", work, broker.port, not args.no_publish),
        _bridge("idle", "z2m_idle", work, broker.port, not args.no_publish),
    ]
    try:
        async with aiomqtt.Client(HOST, broker.port, identifier="bench-z2m") as z2m:
            for base in ("z2m", "z2m_idle"):
                await z2m.publish(f"{base}/bridge/state", '{"state":"online"}', 1, retain=True)
                await z2m.publish(f"{base}/bridge/devices", json.dumps(entries), 1, retain=True)
            for bridge in bridges:
                await bridge.start()
            await asyncio.gather(*(b.wait_ready(60) for b in bridges))
            await asyncio.sleep(1.0)
            async with controller_on_loopback() as controller:
                return await _measure(args, rng, z2m, controller, bridges, devs)
    finally:
        for bridge in bridges:
            await bridge.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


async def _measure(
    args: argparse.Namespace,
    rng: random.Random,
    z2m: aiomqtt.Client,
    controller: Any,
    bridges: list[Bridge],
    devs: list[Dev],
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    waiters: dict[tuple[tuple[int, int], Any], asyncio.Future[float]] = {}
    probes: list[tuple[Dev, tuple[int, int]]] = []
    for bridge in bridges:
        pairing = await pair(controller, bridge.device_id, "182-11-234", alias=bridge.name)
        listing = await pairing.list_accessories_and_characteristics()
        view = AccessoryView(listing)
        keys = event_keys(listing)

        def on_event(data: dict[tuple[int, int], dict[str, Any]], b: Bridge = bridge) -> None:
            now = loop.time()
            for key, payload in data.items():
                b.events += 1
                fut = waiters.pop((key, payload.get("value")), None)
                if fut is not None and not fut.done():
                    fut.set_result(now)

        pairing.dispatcher_connect(on_event)
        await pairing.subscribe(keys)
        if bridge.name == "loaded":
            for dev in devs[:PROBES]:
                aid = view.aid_by_serial(dev.ieee)
                probes.append((dev, (aid, view.iid(aid, "ContactSensor", "ContactSensorState"))))
    sent = 0

    async def load() -> None:
        nonlocal sent
        pool = devs[PROBES:]
        due = loop.time()
        while True:
            due += rng.expovariate(args.rate)
            await asyncio.sleep(max(0.0, due - loop.time()))
            dev = rng.choice(pool)
            await z2m.publish(f"z2m/{dev.name}", json.dumps(next_state(dev, rng)))
            sent += 1

    async def sampler() -> None:
        while True:
            for bridge in bridges:
                bridge.sample()
            await asyncio.sleep(1.0)

    tasks = [loop.create_task(load()), loop.create_task(sampler())]
    latencies: list[float] = []
    try:
        await asyncio.sleep(args.skip)
        start = time.monotonic()
        for bridge in bridges:
            bridge.sample()
        sent_at_start = sent
        end = start + args.window
        index = 0
        while time.monotonic() < end or len(latencies) < args.samples:
            dev, key = probes[index % PROBES]
            index += 1
            opened = not dev.state.get("contact", True)  # next message flips it
            fut: asyncio.Future[float] = loop.create_future()
            waiters[(key, 0 if opened else 1)] = fut
            payload = json.dumps(next_state(dev, rng))
            t0 = loop.time()
            await z2m.publish(f"z2m/{dev.name}", payload)
            latencies.append(await asyncio.wait_for(fut, 5) - t0)
            await asyncio.sleep(rng.uniform(0.1, 0.3))
        for bridge in bridges:
            bridge.sample()
        rate = (sent - sent_at_start) / (time.monotonic() - start)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    loaded, idle = (window(b, start) for b in bridges)
    return {
        "devices": len(devs),
        "mqtt_publish": not args.no_publish,
        "rate_requested": args.rate,
        "rate_sent": rate,
        "events_at_controller": {b.name: b.events for b in bridges},
        "loaded": loaded,
        "idle": idle,
        "cpu_ratio_loaded_to_idle": loaded["cpu_pct_one_core"]
        / max(idle["cpu_pct_one_core"], 0.01),
        "alert_latency_ms": summary_ms(latencies[1:]),
        "target_p95_ms": TARGET_P95_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=140)
    parser.add_argument("--rate", type=float, default=50.0, help="state messages per second")
    parser.add_argument("--skip", type=float, default=10.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=40.0, help="measured seconds")
    parser.add_argument("--samples", type=int, default=150, help="alert latency samples")
    parser.add_argument("--no-publish", action="store_true", help="[mqtt] publish = false")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args))
    lat = result["alert_latency_ms"]
    print(
        table(
            ["", "loaded", "idle (reference)"],
            [
                [
                    "CPU % of one core",
                    result["loaded"]["cpu_pct_one_core"],
                    result["idle"]["cpu_pct_one_core"],
                ],
                ["RSS MB (end)", result["loaded"]["rss_mb_end"], result["idle"]["rss_mb_end"]],
                ["RSS MB (peak)", result["loaded"]["rss_peak_mb"], result["idle"]["rss_peak_mb"]],
                [
                    "HAP events at the controller",
                    result["events_at_controller"]["loaded"],
                    result["events_at_controller"]["idle"],
                ],
            ],
        )
    )
    print(f"\n{result['devices']} devices, {result['rate_sent']:.1f} state messages/s sent")
    print(
        f"alert latency (publish → controller event), n={lat['n']}: median "
        f"{lat['median']:.1f} ms, p95 {lat['p95']:.1f} ms, max {lat['max']:.1f} ms "
        f"(target p95 <= {TARGET_P95_MS:g} ms)"
    )
    print(f"written {write_result(NAME + ('_no_publish' if args.no_publish else ''), result)}")


if __name__ == "__main__":
    main()
