"""The bridge's CPU with a browser on the Mi Dashboard, against the same load without one.

Two bridge processes run at the same time, started as a user starts one::

    python -m mihomekit run --replay REC --config MI32CFG --state-dir DIR \\
        --address 127.0.0.1 --port N --web-port W --mac B8:27:EB:12:34:56 --no-gateway

Both have the same 149 configured sensors (89 LYWSD03MMC AES-CCM v5, 22 ATC1441/pvvx,
15 MJYD2S motion, 15 MCCGQ02HL doors AES-CCM v5, 8 YLYK01YL remotes) and replay the same
recording of ``--rate`` advertisements a second (default 100, Poisson arrivals, a third
of them repeats). Both serve the dashboard. Two rounds of ``--window`` seconds each:

1. a headless Chromium (Debian's, via selenium) shows bridge A's overview, B has none;
2. the browser shows B's overview, A has none.

CPU is each process's utime+stime from ``/proc/<pid>/stat`` over each window. The ratio
is (A in round 1 + B in round 2) / (B in round 1 + A in round 2): the same work with and
without a browser, each bridge measured both ways so that a difference between the two
processes cancels out. The page counts the widgets it redrew (a MutationObserver), to show
that it was live. Target: ratio <= 1.2.

    .venv/bin/python benchmarks/bench_web.py                 # about 2.5 minutes
    .venv/bin/python benchmarks/bench_web.py --window 120
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_bridge_load import SETUP_MAC, cpu_ticks, write_recording
from bench_bridge_load import make_devices_149 as make_devices
from benchlib import REPO_DIR, table, write_result

sys.path.insert(0, str(REPO_DIR / "tests" / "helpers"))

from browser import chromium
from homekit_helpers import free_port

from mihomekit.mi32cfg import dump_mi32cfg

NAME = "web"
TARGET_RATIO = 1.2
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Bridge:
    """One ``mihomekit run`` process with its dashboard."""

    def __init__(self, name: str, root: Path, recording: Path, config: Path) -> None:
        self.name = name
        self.workdir = root / name
        self.workdir.mkdir()
        self.web_port = free_port()
        cmd = [
            sys.executable, "-m", "mihomekit", "run",
            "--replay", str(recording), "--config", str(config),
            "--state-dir", str(self.workdir / "state"),
            "--address", "127.0.0.1", "--port", str(free_port()),
            "--web-port", str(self.web_port), "--mac", SETUP_MAC, "--no-gateway",
        ]  # fmt: skip
        self.stderr = open(self.workdir / "stderr.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            cwd=self.workdir,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/"

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name} exited; see {self.workdir / 'stderr.log'}")
            if line.startswith("Mi Dashboard:"):
                return
        raise RuntimeError(f"{self.name}: no dashboard after {timeout} s")

    def ticks(self) -> int:
        return cpu_ticks(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


COUNT_UPDATES = """
window.redraws = 0;
new MutationObserver(function (records) {
  for (const r of records) window.redraws += r.addedNodes.length;
}).observe(document.getElementById('widgets'), {childList: true});
"""


def measure(bridges: list[Bridge], window: float) -> list[float]:
    """CPU of each bridge over ``window`` seconds, as % of one core."""
    start = [b.ticks() for b in bridges]
    began = time.monotonic()
    time.sleep(window)
    seconds = time.monotonic() - began
    return [(b.ticks() - s) / CLK_TCK / seconds * 100 for b, s in zip(bridges, start, strict=True)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="mihomekit-web-"))
    sims = make_devices(rng)
    config = root / "mi32cfg"
    config.write_text(dump_mi32cfg([s.entry for s in sims]), encoding="utf-8")
    recording = root / "load.jsonl"
    duration = args.skip + 2 * (args.window + args.settle) + 60
    counts = write_recording(recording, sims, args.rate, duration, rng, 1 / 3)
    bridges = [Bridge(name, root, recording, config) for name in ("a", "b")]
    rounds: list[dict[str, Any]] = []
    try:
        for bridge in bridges:
            bridge.wait_ready()
        time.sleep(args.skip)
        with chromium() as browser:
            for watched in (0, 1):
                browser.get(bridges[watched].url)
                widgets = browser.execute_script(
                    "return document.querySelectorAll('article.widget').length;"
                )
                browser.execute_script(COUNT_UPDATES)
                time.sleep(args.settle)
                cpu = measure(bridges, args.window)
                redraws = browser.execute_script("return window.redraws;")
                rounds.append(
                    {"browser_on": bridges[watched].name, "widgets": widgets,
                     "redraws": redraws, "cpu_pct": dict(zip("ab", cpu, strict=True))}
                )  # fmt: skip
                browser.get("about:blank")
    finally:
        for bridge in bridges:
            bridge.stop()
    with_browser = rounds[0]["cpu_pct"]["a"] + rounds[1]["cpu_pct"]["b"]
    without = rounds[0]["cpu_pct"]["b"] + rounds[1]["cpu_pct"]["a"]
    ratio = with_browser / without
    return {
        "params": vars(args),
        "recording": {**counts, "devices": len(sims), "rate": args.rate},
        "rounds": rounds,
        "cpu_pct_with_browser": with_browser / 2,
        "cpu_pct_without_browser": without / 2,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="advertisements a second")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per round")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before a window")
    parser.add_argument("--skip", type=float, default=10.0, help="seconds after start")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    result = run(args)
    path = write_result(NAME, result)
    rows = [
        [f"round {n + 1}: browser on {r['browser_on']}", r["cpu_pct"]["a"], r["cpu_pct"]["b"],
         r["widgets"], r["redraws"]]
        for n, r in enumerate(result["rounds"])
    ]  # fmt: skip
    print(table(["", "bridge a CPU %", "bridge b CPU %", "widgets", "redraws"], rows))
    print(
        f"with a browser {result['cpu_pct_with_browser']:.2f} % of one core, without "
        f"{result['cpu_pct_without_browser']:.2f} %: ratio {result['ratio']:.3f} "
        f"(target <= {TARGET_RATIO}) -> {path}"
    )
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
