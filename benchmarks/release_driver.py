"""The measuring side of ``bench_release.py``, run by each tree's own interpreter.

It imports nothing but the public ``mihomekit.decode_advertisement`` (present in every
release), so the previous release's virtualenv runs it unchanged. Commands, one JSON line
each on stdin, one JSON line answered on stdout::

    {"load": "packets.json"}              → {"classes": {name: count}}
    {"time": "mibeacon-plain", "decodes": 3000}
                                          → {"ns": ns per packet}
    {"version": null}                     → {"version": "0.1.0", "file": ".../mihomekit"}

Packets are ``[class, source, device, mac, uuid, data hex, key hex | null]`` rows
(``decode_packets.Packet.to_json``).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from typing import Any

import mihomekit
from mihomekit import decode_advertisement

Item = tuple[str, int, bytes, "bytes | None"]


def _load(path: str) -> dict[str, list[Item]]:
    with open(path, encoding="utf-8") as handle:
        rows = json.load(handle)
    out: dict[str, list[Item]] = {}
    for klass, _source, _device, mac, uuid, data, key in rows:
        out.setdefault(klass, []).append(
            (mac, uuid, bytes.fromhex(data), bytes.fromhex(key) if key is not None else None)
        )
    return out


def _time(items: list[Item], decodes: int) -> float:
    loops = max(1, -(-decodes // len(items)))
    work = items * loops
    decode = decode_advertisement
    for mac, uuid, data, key in items:  # warm the caches (MAC, ciphers)
        decode(mac, uuid, data, key)
    gc.collect()
    start = time.perf_counter_ns()
    for mac, uuid, data, key in work:
        decode(mac, uuid, data, key)
    return (time.perf_counter_ns() - start) / len(work)


def main() -> int:
    classes: dict[str, list[Item]] = {}
    for line in sys.stdin:
        command: dict[str, Any] = json.loads(line)
        if "load" in command:
            classes = _load(command["load"])
            answer: dict[str, Any] = {"classes": {k: len(v) for k, v in classes.items()}}
        elif "time" in command:
            answer = {"ns": _time(classes[command["time"]], int(command["decodes"]))}
        else:
            answer = {
                "version": getattr(mihomekit, "__version__", "?"),
                "file": mihomekit.__file__,
            }
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
