"""``/metrics``: the bridge in the Prometheus text exposition format (version 0.0.4).

Counters (``_total``) only grow while the bridge runs:

* ``mihomekit_advertisements_total{receiver}``: service-data entries per receiver;
* ``mihomekit_source_received_total{kind,source}``, ``mihomekit_source_errors_total``,
  ``mihomekit_source_connected``: per source;
* ``mihomekit_registry_total{outcome}``: ``accepted`` and every ``dropped_*`` reason,
  also as ``mihomekit_dropped_total{reason}``;
* ``mihomekit_events_total``: button presses, motion, doors…
* ``mihomekit_over_cap{cap}``: what was refused for a cap of the settings
  (``bridge.max_bridges``: devices on no bridge; ``zigbee2mqtt.max_devices``: devices
  left out of Zigbee2MQTT's list);
* ``mihomekit_web_refused_hosts_total``: dashboard requests naming another host (421);

Per device (labels ``device``, ``name``, ``model``): ``mihomekit_device_last_seen_age_seconds``,
``mihomekit_device_battery_percent``, ``mihomekit_device_rssi_dbm`` and
``mihomekit_device_value{value}`` for every number (booleans as 0/1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping

from mihomekit.registry import Device, Registry
from mihomekit.sources import SourceStatus

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, text: str, samples: Iterable[tuple[Mapping[str, str], float]]
    ) -> None:
        sample_name = name + "_total" if kind == "counter" else name
        self.lines.append(f"# HELP {sample_name} {text}")
        self.lines.append(f"# TYPE {sample_name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{sample_name}{_labels(labels)} {_number(value)}")


def _device_labels(device: Device) -> dict[str, str]:
    return {
        "device": device.id,
        "name": device.name,
        "model": device.model.model if device.model else "",
    }


def render_metrics(
    registry: Registry,
    sources: Iterable[SourceStatus],
    *,
    events: int,
    paired_controllers: int,
    web_clients: int,
    over_cap: Mapping[str, int] | None = None,
    refused_hosts: int = 0,
) -> str:
    """The whole ``/metrics`` page."""
    out = _Writer()
    statuses = list(sources)
    out.family(
        "mihomekit_advertisements",
        "counter",
        "BLE service-data entries received, by receiver.",
        (({"receiver": r}, n) for r, n in sorted(registry.receiver_stats.items())),
    )
    out.family(
        "mihomekit_source_received",
        "counter",
        "Advertisements or messages a source received.",
        (({"kind": s.kind, "source": s.name}, s.advertisements) for s in statuses),
    )
    out.family(
        "mihomekit_source_errors",
        "counter",
        "What a source could not use or do.",
        (({"kind": s.kind, "source": s.name}, s.errors) for s in statuses),
    )
    out.family(
        "mihomekit_source_connected",
        "gauge",
        "1 if the source is connected.",
        (({"kind": s.kind, "source": s.name}, 1 if s.connected else 0) for s in statuses),
    )
    stats = registry.stats
    out.family(
        "mihomekit_readings",
        "counter",
        "Readings the registry accepted.",
        [({}, stats.get("accepted", 0))],
    )
    drops = sorted((k[len("dropped_") :], n) for k, n in stats.items() if k.startswith("dropped_"))
    out.family(
        "mihomekit_dropped",
        "counter",
        "Frames or readings dropped, by reason.",
        (({"reason": reason}, n) for reason, n in drops),
    )
    out.family("mihomekit_events", "counter", "Events (buttons, motion…).", [({}, events)])
    out.family(
        "mihomekit_paired_controllers",
        "gauge",
        "HomeKit controllers paired.",
        [({}, paired_controllers)],
    )
    out.family(
        "mihomekit_web_live_clients", "gauge", "Browsers on the live page.", [({}, web_clients)]
    )
    out.family(
        "mihomekit_over_cap",
        "gauge",
        "What was refused for a cap of the settings, by setting.",
        (({"cap": cap}, n) for cap, n in sorted((over_cap or {}).items())),
    )
    out.family(
        "mihomekit_web_refused_hosts",
        "counter",
        "Dashboard requests whose Host header named another host.",
        [({}, refused_hosts)],
    )
    devices = registry.devices()
    now = time.monotonic()
    out.family(
        "mihomekit_device_last_seen_age_seconds",
        "gauge",
        "Seconds since the device was last heard.",
        (
            (_device_labels(d), max(0.0, now - d.last_seen))
            for d in devices
            if d.last_seen is not None
        ),
    )
    out.family(
        "mihomekit_device_battery_percent",
        "gauge",
        "Battery level the device reported.",
        (
            (_device_labels(d), float(d.values["battery"]))
            for d in devices
            if _numeric(d.values.get("battery"))
        ),
    )
    out.family(
        "mihomekit_device_rssi_dbm",
        "gauge",
        "Signal of the best receiver.",
        ((_device_labels(d), float(d.rssi)) for d in devices if d.rssi is not None),
    )
    values: list[tuple[Mapping[str, str], float]] = []
    for device in devices:
        labels = _device_labels(device)
        for name, value in sorted(device.values.items()):
            if name in ("battery", "rssi"):
                continue
            if isinstance(value, bool):
                values.append(({**labels, "value": name}, 1.0 if value else 0.0))
            elif _numeric(value):
                values.append(({**labels, "value": name}, float(value)))
    out.family("mihomekit_device_value", "gauge", "The device's last readings.", values)
    return "\n".join(out.lines) + "\n"


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
