"""``mihomekit z2m list [--json]``: Zigbee2MQTT's devices and how each maps to HomeKit.

Reads the retained ``<base>/bridge/devices`` (and ``bridge/info``) from the ``[mqtt]``
broker of the settings, then prints, per device: the HomeKit services it gets, the readings
kept and published over MQTT only (pressure, energy...), and every expose not mapped, with
why; and the devices not bridged (coordinator, disabled, unsupported), with why.

It reads through its own broker connection that announces nothing (no birth, no will) and
has a client id of its own, so it can run beside a running bridge.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from typing import Any

from mihomekit.errors import AdapterError, ConfigError, MihomekitError
from mihomekit.settings import MqttSettings, Settings, load_settings
from mihomekit.wording import counted


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "z2m",
        help="Zigbee2MQTT devices and how they map to HomeKit",
        description="Show the devices Zigbee2MQTT reports and what the bridge makes of them.",
    )
    commands = parser.add_subparsers(dest="z2m_command", metavar="COMMAND")
    listing = commands.add_parser(
        "list",
        help="list Zigbee2MQTT's devices, their HomeKit services and unmapped exposes",
        description="Read Zigbee2MQTT's retained bridge/devices from the [mqtt] broker and "
        "show how each device maps to HomeKit, and why an expose is not mapped.",
    )
    listing.add_argument("--settings", metavar="FILE", help="settings file (TOML)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for the broker (default 5)"
    )
    listing.set_defaults(func=_list)

    def usage(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=usage)


def _settings(args: argparse.Namespace) -> tuple[MqttSettings, str]:
    from mihomekit.commands.run import settings_file

    path = settings_file(args.settings)
    settings: Settings = load_settings(path)
    if settings.mqtt is None:
        raise ConfigError("z2m list needs the broker: add an [mqtt] table with its host", path=path)
    base = settings.zigbee2mqtt.base_topic if settings.zigbee2mqtt else "zigbee2mqtt"
    return settings.mqtt, base


def _list(args: argparse.Namespace) -> int:
    mqtt, base = _settings(args)
    devices_payload, info = asyncio.run(_read(mqtt, base, args.timeout))
    report = build_report(devices_payload, info, base)
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


async def _read(mqtt: MqttSettings, base: str, timeout: float) -> tuple[Any, Any]:
    """The retained ``bridge/devices`` and ``bridge/info`` (None when not sent)."""
    from mihomekit.mqtt import MqttConnection, MqttMessage

    connection = MqttConnection.listener(mqtt, "z2m", name="z2m list", timeout=timeout)
    got: dict[str, Any] = {}
    done = asyncio.Event()

    def keep(message: MqttMessage) -> None:
        name = message.topic.rpartition("/")[2]
        try:
            got[name] = json.loads(message.payload)
        except ValueError:
            got[name] = None
        if name == "devices":
            done.set()

    connection.subscribe(f"{base}/bridge/info", keep)  # first: its retained copy comes first
    connection.subscribe(f"{base}/bridge/devices", keep)
    await connection.start()
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout)
    finally:
        connected = connection.connected or connection.counts["connects"] > 0
        error = connection.status.last_error
        await connection.stop()
    if not connected:
        where = f"{mqtt.host}:{mqtt.port}"
        raise AdapterError(f"cannot read from the MQTT broker at {where}: {error or 'no answer'}")
    if "devices" not in got:
        raise MihomekitError(
            f"no retained {base}/bridge/devices within {timeout:g} s: is Zigbee2MQTT running, "
            f"with mqtt.base_topic {base!r} ([zigbee2mqtt] base_topic)?"
        )
    return got["devices"], got.get("info")


def build_report(devices_payload: Any, info: Any, base: str) -> dict[str, Any]:
    """What ``z2m list --json`` prints (pure)."""
    from mihomekit.accessories.services import homekit_services, not_shown
    from mihomekit.sources.zigbee2mqtt.devices import parse_devices

    devices, skipped = parse_devices(devices_payload)
    version = info.get("version") if isinstance(info, dict) else None
    return {
        "base_topic": base,
        "zigbee2mqtt_version": version if isinstance(version, str) else None,
        "devices": [
            {
                "ieee_address": d.ieee,
                "friendly_name": d.name,
                "model": d.model.model,
                "vendor": d.model.vendor,
                "description": d.model.name,
                "battery": d.battery,
                "homekit": homekit_services(d.model),
                "mqtt_only": not_shown(d.model),
                "writable": sorted(d.mapping.writes),
                "unmapped": [
                    {"property": u.property, "reason": u.reason} for u in d.mapping.unmapped
                ],
            }
            for d in devices
        ],
        "skipped": [
            {"ieee_address": s.ieee, "friendly_name": s.name, "reason": s.reason} for s in skipped
        ],
    }


def format_report(report: dict[str, Any]) -> str:
    """The text ``z2m list`` prints."""
    version = report["zigbee2mqtt_version"] or "unknown version"
    lines = [
        f"Zigbee2MQTT ({version}) on {report['base_topic']}: "
        f"{counted(len(report['devices']), 'device')} bridged, {len(report['skipped'])} not"
    ]
    for device in report["devices"]:
        lines.append("")
        lines.append(
            f"{device['friendly_name']}  {device['ieee_address']}  "
            f"{device['vendor'] or ''} {device['model']}".rstrip()
        )
        lines.append(f"  HomeKit:   {', '.join(device['homekit']) or '-'}")
        if device["mqtt_only"]:
            lines.append(f"  MQTT only: {', '.join(device['mqtt_only'])}")
        for unmapped in device["unmapped"]:
            lines.append(f"  not mapped: {unmapped['property']}: {unmapped['reason']}")
    if report["skipped"]:
        lines.append("")
        lines.append("Not bridged:")
        for skipped in report["skipped"]:
            lines.append(
                f"  {skipped['friendly_name']}  {skipped['ieee_address']}: {skipped['reason']}"
            )
    return "\n".join(lines)
