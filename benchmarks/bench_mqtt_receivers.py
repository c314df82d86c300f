"""MQTT receivers under load: the bridge fed through mosquitto vs through the local radio.

Two bridge processes, one after the other in the same run, each with the same 100
configured sensors (as ``bench_bridge_load.py``) and a paired aiohomekit controller (in
this process) subscribed to every event characteristic:

* **mqtt**: ``python -m mihomekit run --settings S --no-ble --no-web`` as a user starts it,
  with ``[mqtt]`` on a mosquitto started here on 127.0.0.1 and ``[[mqtt_receivers]]``
  ``home/+/BTtoMQTT/#`` in Theengs format. A generator process publishes ``--rate``
  Theengs Gateway messages a second (four gateways; a third of them repeat a frame
  another gateway already sent, as several receivers hearing one advertising event).
* **local** (the reference): the same bridge with the local-radio path, the bleak adapter
  (:class:`~mihomekit.sources.ble.BleAdapter`) whose scanner is replaced by a UDP socket:
  the same generator sends the same advertisements, one datagram each, and every datagram
  becomes bleak's ``BLEDevice``/``AdvertisementData`` and goes through the adapter's
  detection callback. (BlueZ and D-Bus cost is not in either figure.)

CPU is the bridge process's utime+stime over a ``--window`` after ``--skip`` seconds, as %
of one core; RSS from ``/proc/<pid>/status``. During the mqtt window this process also
publishes a door sensor's open/close frames (a sensor the generator leaves alone) in
Theengs format every 0.2-0.6 s and measures the time from its publish to the contact
event at the controller: alert latency through the broker. Target: p95 <= 25 ms.

    .venv/bin/python benchmarks/bench_mqtt_receivers.py              # about 2 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_bridge_load import Bridge, Sim, make_devices, new_frame, window_stats
from benchlib import REPO_DIR, summary_ms, table, write_result

sys.path.insert(0, str(REPO_DIR / "tests" / "helpers"))

from homekit_helpers import AccessoryView, controller_on_loopback, free_port, pair
from mosquitto import HOST, Mosquitto

from mihomekit.decoders import build
from mihomekit.mi32cfg import dump_mi32cfg
from mihomekit.mqtt import MqttConnection
from mihomekit.settings import MqttSettings

NAME = "mqtt_receivers"
TARGET_P95_MS = 25.0
SETUP_MAC = "B8:27:EB:12:34:56"
GATEWAYS = ("gw-hall", "gw-attic", "gw-garage", "gw-cellar")


def alert_door(sims: list[Sim]) -> int:
    """The index of the last door sensor: the latency probe's, left out of the load."""
    return max(i for i, sim in enumerate(sims) if sim.kind == "door")


def theengs_topic(gateway: str, mac: str) -> str:
    return f"home/{gateway}/BTtoMQTT/{mac.replace(':', '')}"


def theengs_json(mac: str, uuid: int, data: bytes, rssi: int) -> bytes:
    return json.dumps(
        {"id": mac, "rssi": rssi, "servicedatauuid": f"{uuid:04x}", "servicedata": data.hex()},
        separators=(",", ":"),
    ).encode()


# ---- the generator process --------------------------------------------------------------


async def generate(args: argparse.Namespace) -> None:
    """Send ``rate`` advertisements a second to the broker or to a UDP port until killed."""
    rng = random.Random(args.seed)
    sims = make_devices(rng)
    del sims[alert_door(sims)]
    weights = [s.weight for s in sims]
    conn: MqttConnection | None = None
    sock: socket.socket | None = None
    if args.generate == "mqtt":
        settings = MqttSettings(host=HOST, port=args.target_port, client_id="bench-generator")
        conn = MqttConnection(settings, name="generator", outgoing_limit=100_000)
        await conn.start()
        while not conn.connected:
            await asyncio.sleep(0.05)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect((HOST, args.target_port))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("generating", flush=True)
    tick = 0.01
    per_tick = args.rate * tick
    owed = 0.0
    next_at = time.monotonic()
    gateway_of: dict[str, int] = {}
    while not stop.is_set():
        owed += per_tick
        while owed >= 1.0:
            owed -= 1.0
            sim = rng.choices(sims, weights)[0]
            repeat = sim.last is not None and rng.random() < args.repeat_share
            if not repeat:
                sim.last = new_frame(sim, rng)
                gateway_of[sim.mac] = rng.randrange(len(GATEWAYS))
            data = sim.last
            assert data is not None
            # A repeat is the same frame heard by another gateway.
            gateway = GATEWAYS[(gateway_of[sim.mac] + (1 if repeat else 0)) % len(GATEWAYS)]
            rssi = rng.randint(-90, -50)
            if conn is not None:
                conn.publish(
                    theengs_topic(gateway, sim.mac), theengs_json(sim.mac, sim.uuid, data, rssi)
                )
            elif sock is not None:
                mac = bytes.fromhex(sim.mac.replace(":", ""))
                sock.send(mac + struct.pack("<Hb", sim.uuid, rssi) + data)
        next_at += tick
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    if conn is not None:
        await conn.stop()


# ---- the local-radio bridge process -----------------------------------------------------


class _UdpScanner:
    """Stands in for BleakScanner: datagrams become bleak's objects and go to the callback."""

    def __init__(self, port: int, **kwargs: Any) -> None:
        self.port = port
        self.callback = kwargs["detection_callback"]
        self.transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        from bleak.backends.device import BLEDevice
        from bleak.backends.scanner import AdvertisementData

        callback = self.callback

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, datagram: bytes, addr: Any) -> None:
                mac = ":".join(f"{b:02X}" for b in datagram[:6])
                uuid, rssi = struct.unpack_from("<Hb", datagram, 6)
                key = f"0000{uuid:04x}-0000-1000-8000-00805f9b34fb"
                device = BLEDevice(mac, None, {"path": f"/org/bluez/hci0/dev_{mac}"})
                adv = AdvertisementData(
                    local_name=None,
                    manufacturer_data={},
                    service_data={key: datagram[9:]},
                    service_uuids=[key],
                    tx_power=None,
                    rssi=rssi,
                    platform_data=(),
                )
                callback(device, adv)

        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            Protocol, local_addr=(HOST, self.port)
        )

    async def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def serve_local(args: argparse.Namespace) -> None:
    """A bridge whose only source is the bleak adapter fed from UDP port ``--udp-port``."""
    from mihomekit.app import App, AppConfig
    from mihomekit.mi32cfg import load_mi32cfg
    from mihomekit.sources.ble import BleAdapter

    def source(app: App) -> Any:
        return BleAdapter(
            app.registry.handle,
            scan_mode="active",
            scanner_factory=lambda **kw: _UdpScanner(args.udp_port, **kw),
        )

    app = App(
        AppConfig(
            state_dir=Path(args.state_dir),
            address=HOST,
            port=args.port,
            setup_code_mac=SETUP_MAC,
            entries=load_mi32cfg(args.config),
            print_setup=False,
            sources=[source],
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await app.start()
    print(f"mihomekit bridge (local radio) on {HOST}:{args.port}, setup code {app.setup_code}")
    try:
        await stop.wait()
    finally:
        await app.stop()


# ---- the run ----------------------------------------------------------------------------


class Child(Bridge):
    """A bridge process started with ``cmd`` (see :class:`bench_bridge_load.Bridge`)."""

    cmd: list[str]

    async def start(self, profile: bool) -> None:
        self.stderr_path = self.workdir / "stderr.log"
        with open(self.stderr_path, "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *self.cmd,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                cwd=str(self.workdir),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )


async def _spawn_generator(args: argparse.Namespace, kind: str, port: int) -> Any:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--generate",
        kind,
        "--target-port",
        str(port),
        "--rate",
        str(args.rate),
        "--seed",
        str(args.seed),
        "--repeat-share",
        str(args.repeat_share),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    await asyncio.wait_for(proc.stdout.readline(), 30)
    return proc


async def _stop(proc: Any) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _phase(
    bridge: Child,
    args: argparse.Namespace,
    generator_kind: str,
    generator_port: int,
    alerts: Any = None,
) -> list[float]:
    """Start the bridge, pair, subscribe to everything, load it, sample; latencies (s)."""
    print(f"{bridge.name}: starting the bridge", file=sys.stderr, flush=True)
    await bridge.start(False)
    await bridge.wait_ready(60.0)
    bridge.device_id = json.loads((bridge.state_dir / "accessory.state").read_text())["mac"]
    bridge.sample()
    latencies: list[float] = []
    async with controller_on_loopback() as controller:
        code = bridge.ready_line.split("setup code", 1)[1].split()[0].rstrip(",")
        pairing = await pair(controller, bridge.device_id, code, alias=bridge.name)
        listing = await pairing.list_accessories_and_characteristics()
        keys = [
            (acc["aid"], ch["iid"])
            for acc in listing
            for svc in acc["services"]
            for ch in svc["characteristics"]
            if "ev" in ch.get("perms", [])
        ]
        pairing.dispatcher_connect(bridge.on_event)
        await pairing.subscribe(keys)
        bridge.subscribed = len(keys)
        print(f"{bridge.name}: paired, {len(keys)} subscribed; loading", file=sys.stderr)
        generator = await _spawn_generator(args, generator_kind, generator_port)
        try:
            await _load(bridge, args, pairing, listing, latencies, alerts)
        finally:
            await _stop(generator)
        await pairing.close()
    return latencies


async def _load(
    bridge: Child,
    args: argparse.Namespace,
    pairing: Any,
    listing: list[dict[str, Any]],
    latencies: list[float],
    alerts: Any,
) -> None:
    """Sample the bridge each second over skip + window (with the alert probe, if any)."""
    start = time.monotonic()
    bridge.ready_at = start
    probe = None
    if alerts is not None:
        probe = asyncio.get_running_loop().create_task(
            alerts(pairing, listing, latencies, start + args.skip, start + args.skip + args.window)
        )
    end = start + args.skip + args.window + 0.5
    next_tick = time.monotonic()
    while time.monotonic() < end:
        bridge.sample()
        next_tick += 1.0
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    bridge.sample()
    if probe is not None:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe  # raises what went wrong in the probe


def _alert_probe(broker_port: int, door: Sim) -> Any:
    """Publishes the alert door's frames and times each contact event at the controller."""

    async def probe(
        pairing: Any, listing: list[dict[str, Any]], out: list[float], begin: float, end: float
    ) -> None:
        view = AccessoryView(listing)
        aid = view.aid_by_serial(door.mac)
        iid = view.iid(aid, "ContactSensor", "ContactSensorState")
        loop = asyncio.get_running_loop()
        waiting: dict[int, tuple[asyncio.Future[float], float]] = {}

        def on_event(data: dict[tuple[int, int], dict[str, Any]]) -> None:
            payload = data.get((aid, iid))
            if payload is None or "value" not in payload:
                return
            entry = waiting.pop(int(payload["value"]), None)
            if entry is not None and not entry[0].done():
                entry[0].set_result(loop.time())

        pairing.dispatcher_connect(on_event)
        settings = MqttSettings(host=HOST, port=broker_port, client_id="bench-alerts")
        conn = MqttConnection(settings, name="alerts")
        await conn.start()
        rng = random.Random(5)
        try:
            while not conn.connected:
                await asyncio.sleep(0.05)
            while time.monotonic() < end:
                door.state = not door.state
                door.counter += 1
                frame = build.mibeacon_frame(
                    door.entry.pid,
                    door.counter,
                    [build.obj_door(door.state)],
                    mac=door.mac,
                    key=door.entry.key,
                    ext_counter=door.counter >> 8,
                )
                expected = 1 if door.state else 0  # ContactSensorState 1 = open
                future: asyncio.Future[float] = loop.create_future()
                sent = loop.time()
                waiting[expected] = (future, sent)
                conn.publish(
                    theengs_topic("gw-probe", door.mac), theengs_json(door.mac, 0xFE95, frame, -60)
                )
                try:
                    got = await asyncio.wait_for(future, 2.0)
                    if time.monotonic() >= begin:
                        out.append(got - sent)
                except TimeoutError:
                    out.append(float("inf"))
                await asyncio.sleep(rng.uniform(0.2, 0.6))
        finally:
            await conn.stop()

    return probe


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="mihomekit-mqtt-bench-"))
    sims = make_devices(random.Random(args.seed))
    config = root / "mi32cfg"
    config.write_text(dump_mi32cfg([s.entry for s in sims]), encoding="utf-8")
    broker = Mosquitto(root / "mosquitto")
    broker.start()
    out: dict[str, Any] = {"devices": len(sims), "rate": args.rate}
    try:
        # Reference: the local-radio path.
        local_dir = root / "local"
        local_dir.mkdir()
        udp_port = free_port()
        local = Child("local", local_dir, Path(), config, free_port())
        local.cmd = [
            sys.executable,
            __file__,
            "--serve-local",
            "--config",
            str(config),
            "--state-dir",
            str(local.state_dir),
            "--port",
            str(local.port),
            "--udp-port",
            str(udp_port),
        ]
        try:
            await _phase(local, args, "udp", udp_port)
        finally:
            out["local_exit"] = await local.stop()
        # The MQTT path.
        mqtt_dir = root / "mqtt"
        mqtt_dir.mkdir()
        settings = mqtt_dir / "mihomekit.toml"
        settings.write_text(
            f'[mqtt]\nhost = "{HOST}"\nport = {broker.port}\nclient_id = "bench-bridge"\n\n'
            '[[mqtt_receivers]]\ntopic = "home/+/BTtoMQTT/#"\nformat = "theengs"\n',
            encoding="utf-8",
        )
        bridge = Child("mqtt", mqtt_dir, Path(), config, free_port())
        bridge.cmd = [
            sys.executable,
            "-m",
            "mihomekit",
            "run",
            "--settings",
            str(settings),
            "--config",
            str(config),
            "--state-dir",
            str(bridge.state_dir),
            "--address",
            HOST,
            "--port",
            str(bridge.port),
            "--mac",
            SETUP_MAC,
            "--no-ble",
            "--no-gateway",
            "--no-web",
        ]
        try:
            latencies = await _phase(
                bridge, args, "mqtt", broker.port, _alert_probe(broker.port, sims[alert_door(sims)])
            )
        finally:
            out["mqtt_exit"] = await bridge.stop()
        for b in (local, bridge):
            begin = b.ready_at + args.skip
            stats = window_stats(b, begin, begin + args.window)
            stats["events_received"] = b.events
            stats["subscribed_characteristics"] = b.subscribed
            stderr = b.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()
            stats["stderr_warnings"] = sum(" WARNING " in ln for ln in stderr)
            stats["stderr_errors"] = sum((" ERROR " in ln or "Traceback" in ln) for ln in stderr)
            stats["stderr_head"] = stderr[:10]
            out[b.name] = stats
        lost = sum(1 for x in latencies if x == float("inf"))
        finite = [x for x in latencies if x != float("inf")]
        out["alert_latency"] = {**summary_ms(finite), "samples": len(finite), "lost": lost}
    finally:
        broker.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            out["workdir"] = str(root)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=800.0, help="advertisements per second")
    parser.add_argument("--repeat-share", type=float, default=1 / 3)
    parser.add_argument("--skip", type=float, default=5.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    # Child modes (used by the run itself).
    parser.add_argument("--generate", choices=("mqtt", "udp"), help=argparse.SUPPRESS)
    parser.add_argument("--target-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-local", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--udp-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.generate:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(generate(args))
        return 0
    if args.serve_local:
        asyncio.run(serve_local(args))
        return 0
    started = time.monotonic()
    out = asyncio.run(run(args))
    local, mqtt = out["local"], out["mqtt"]
    rows = []
    for key, label in (
        ("cpu_pct_one_core", "CPU % of one core (window)"),
        ("cpu_pct_max_1s", "CPU % max 1-s slice"),
        ("rss_mb_end", "VmRSS MB (end of window)"),
        ("hwm_mb", "VmHWM MB (peak)"),
        ("events_received", "HAP events at the controller"),
    ):
        a, b = mqtt.get(key), local.get(key)
        ratio = a / b if isinstance(a, int | float) and isinstance(b, int | float) and b else "-"
        rows.append([label, a, b, ratio])
    print(f"{out['devices']} sensors, {args.rate:g} advertisements/s, window {args.window:g} s")
    print(table(["", "mqtt (mosquitto)", "local radio path", "mqtt / local"], rows))
    lat = out["alert_latency"]
    print(
        f"\nalert latency publish → HomeKit event: median {lat['median']:.2f} ms, "
        f"p95 {lat['p95']:.2f} ms, max {lat['max']:.2f} ms ({lat['samples']} samples, "
        f"{lat['lost']} lost); target p95 <= {TARGET_P95_MS:g} ms: "
        f"{'yes' if lat['p95'] <= TARGET_P95_MS and not lat['lost'] else 'NO'}"
    )
    for name in ("local", "mqtt"):
        s = out[name]
        print(f"{name}: {s['stderr_warnings']} warnings, {s['stderr_errors']} errors in stderr")
        for line in s["stderr_head"][:5]:
            print(f"   {line}")
    path = write_result(
        NAME,
        {
            "params": {k: v for k, v in vars(args).items() if v is not None},
            "targets": {"alert_p95_ms": TARGET_P95_MS},
            **out,
            "elapsed_s": round(time.monotonic() - started, 1),
        },
    )
    print(f"\nwrote {path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
