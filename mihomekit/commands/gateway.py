"""``mihomekit gateway`` and ``mihomekit miio`` commands.

* ``gateway list`` - find gateways (multicast, or ``--gateway HOST`` unicast) and show
  every subdevice with its model and current values.
* ``gateway key HOST --token HEX [--set NEW]`` - read or set the LAN password over miIO.
* ``miio discover`` - hello on one interface; ``miio call HOST --token HEX METHOD`` -
  one miIO call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from mihomekit.commands.options import tcp_port
from mihomekit.errors import GatewayError, MiioError
from mihomekit.settings import load_settings

_DEFAULT_MIIO_PORT = 54321


def register(subparsers: Any) -> None:
    """Add the ``gateway`` and ``miio`` sub-commands."""
    _register_gateway(subparsers)
    _register_miio(subparsers)


def _usage(parser: argparse.ArgumentParser) -> Any:
    def show(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def _register_gateway(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help="Aqara/Xiaomi Zigbee gateways (LAN protocol)",
        description="Find Aqara/Xiaomi gateways and their Zigbee devices; manage the LAN key.",
    )
    parser.set_defaults(func=_usage(parser))
    commands = parser.add_subparsers(dest="gateway_command", metavar="COMMAND")

    listing = commands.add_parser(
        "list",
        help="list gateways and their devices with current values",
        description="Discover gateways by multicast (or ask --gateway hosts directly) and "
        "list every subdevice with its model and current values.",
    )
    listing.add_argument("--interface", help="local IPv4 address or interface name for multicast")
    listing.add_argument(
        "--timeout", type=float, default=3.0, help="seconds to wait for answers (default 3)"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--settings", metavar="FILE", help="settings file (TOML)")
    listing.add_argument(
        "--gateway",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="talk unicast to this gateway instead of multicast discovery (repeatable)",
    )
    listing.add_argument("--discovery-port", type=tcp_port, help="discovery port (default 4321)")
    listing.set_defaults(func=_gateway_list)

    key = commands.add_parser(
        "key",
        help="read or set the gateway's LAN password over miIO",
        description="Read (or with --set, change) the LAN protocol password of a gateway "
        "over miIO; needs the gateway's miIO token.",
    )
    key.add_argument("host", help="the gateway's IP address")
    key.add_argument("--token", required=True, help="miIO token, 32 hex characters")
    key.add_argument("--set", metavar="NEW", help="new password (16 characters)")
    key.add_argument("--port", type=tcp_port, default=_DEFAULT_MIIO_PORT, help="miIO port (54321)")
    key.add_argument("--timeout", type=float, default=2.0, help="seconds per try (default 2)")
    key.set_defaults(func=_gateway_key)


def _register_miio(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "miio",
        help="miIO devices (UDP 54321): discover, call",
        description="Talk to Xiaomi Wi-Fi devices and gateways with the miIO protocol.",
    )
    parser.set_defaults(func=_usage(parser))
    commands = parser.add_subparsers(dest="miio_command", metavar="COMMAND")

    disc = commands.add_parser(
        "discover",
        help="find miIO devices with a hello broadcast",
        description="Broadcast hello from one interface (a 127.x address is asked directly).",
    )
    disc.add_argument("--interface", help="local IPv4 address to send from")
    disc.add_argument("--timeout", type=float, default=3.0, help="seconds to wait (default 3)")
    disc.add_argument("--port", type=tcp_port, default=_DEFAULT_MIIO_PORT, help="miIO port (54321)")
    disc.add_argument("--json", action="store_true", help="print JSON")
    disc.set_defaults(func=_miio_discover)

    call = commands.add_parser(
        "call",
        help="call one miIO method",
        description="Call METHOD with PARAMS (JSON, default []) and print the result as JSON.",
    )
    call.add_argument("host", help="the device's IP address")
    call.add_argument("--token", required=True, help="miIO token, 32 hex characters")
    call.add_argument("method", help="method name, such as miIO.info")
    call.add_argument("params", nargs="?", default="[]", help="JSON parameters (default [])")
    call.add_argument("--port", type=tcp_port, default=_DEFAULT_MIIO_PORT, help="miIO port (54321)")
    call.add_argument("--timeout", type=float, default=2.0, help="seconds per try (default 2)")
    call.set_defaults(func=_miio_call)


# --------------------------------------------------------------------------- gateway list


def _host_port(text: str, default: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise GatewayError(f"bad gateway address {text!r} (expected HOST or HOST:PORT)")
    return host, int(port)


async def _collect(args: argparse.Namespace) -> list[dict[str, Any]]:
    from mihomekit.sources.gateway.client import GatewayClient, GatewayInfo
    from mihomekit.sources.gateway.models import device_model
    from mihomekit.sources.gateway.net import interface_address

    settings = load_settings(args.settings).gateway
    interface = interface_address(args.interface or settings.interface)
    discovery_port = args.discovery_port or settings.discovery_port
    request_timeout = min(args.timeout, 2.0)
    client = GatewayClient(
        interface,
        group=settings.group,
        discovery_port=discovery_port,
        timeout=request_timeout,
    )
    async with client:
        gateways: list[GatewayInfo] = []
        hosts = [_host_port(text, 9898) for text in args.gateway]
        if not hosts:
            hosts = [(g.host, g.port) for g in settings.gateways if g.host]
            if settings.discover or not hosts:
                gateways.extend(await client.discover(args.timeout))
        for host, port in hosts:
            if any(g.host == host for g in gateways):
                continue
            gateways.append(await client.probe(host, port))
        if not gateways:
            where = f" on {interface}" if interface else ""
            raise GatewayError(f"no gateway answered the multicast whois{where}")
        out = []
        for gateway in gateways:
            refs = await client.list_devices(gateway)
            own = await client.read(gateway, gateway.wire_sid)
            model = gateway.model or own.model or "gateway"
            entry: dict[str, Any] = {
                "sid": gateway.sid,
                "ip": gateway.host,
                "port": gateway.port,
                "model": model,
                "proto": gateway.proto,
                "values": _values(model, own.properties),
                "devices": [],
            }
            for ref in refs:
                try:
                    answer = await client.read(gateway, ref.sid)
                except GatewayError as err:
                    entry["devices"].append({"sid": ref.sid, "model": ref.model, "error": str(err)})
                    continue
                sub_model = answer.model or ref.model or ""
                values = _values(sub_model, answer.properties)
                if device_model(sub_model) is None:
                    values = {}
                entry["devices"].append({"sid": ref.sid, "model": sub_model, "values": values})
            out.append(entry)
        return out


def _values(model: str, properties: Any) -> dict[str, Any]:
    from mihomekit.sources.gateway.codec import decode_properties

    try:
        return dict(decode_properties(model, properties, heartbeat=True).values)
    except GatewayError:
        return {}


def _gateway_list(args: argparse.Namespace) -> int:
    gateways = asyncio.run(_collect(args))
    if args.json:
        print(json.dumps({"gateways": gateways}, indent=2, sort_keys=True))
        return 0
    for gateway in gateways:
        print(
            f"gateway {gateway['sid']}  {gateway['model']}  protocol v{gateway['proto']}  "
            f"{gateway['ip']}:{gateway['port']}  {_format(gateway['values'])}"
        )
        for device in gateway["devices"]:
            detail = device.get("error") or _format(device.get("values", {}))
            print(f"  {device['sid']}  {device['model'] or '?'}  {detail}")
    return 0


def _format(values: dict[str, Any]) -> str:
    return " ".join(f"{name}={values[name]}" for name in sorted(values))


# --------------------------------------------------------------------------- gateway key


def _gateway_key(args: argparse.Namespace) -> int:
    from mihomekit.sources.miio import MiioClient

    new = args.set
    if new is not None and (len(new) != 16 or not new.isascii() or not new.isprintable()):
        raise GatewayError("the LAN password must be 16 printable ASCII characters")

    async def run() -> Any:
        async with MiioClient(
            args.host, args.token, port=args.port, timeout=args.timeout
        ) as client:
            if new is not None:
                answer = await client.call("set_lumi_dpf_aes_key", [new])
                if answer != ["ok"]:
                    raise MiioError(f"{args.host} did not accept the password: {answer!r}")
            return await client.call("get_lumi_dpf_aes_key")

    answer = asyncio.run(run())
    if not isinstance(answer, list) or not answer or not isinstance(answer[0], str):
        raise MiioError(f"unexpected answer from {args.host}: {answer!r}")
    password = answer[0]
    if len(password) != 16:
        print(f"{args.host} has no LAN password set", file=sys.stderr)
        return 1
    print(password)
    return 0


# --------------------------------------------------------------------------- miio


def _miio_discover(args: argparse.Namespace) -> int:
    from mihomekit.sources.gateway.net import interface_address
    from mihomekit.sources.miio import discover

    interface = interface_address(args.interface)
    found = asyncio.run(discover(interface, timeout=args.timeout, port=args.port))
    if args.json:
        print(json.dumps({"devices": [d.to_json() for d in found]}, indent=2))
        return 0
    if not found:
        print("no miIO device answered", file=sys.stderr)
        return 1
    for device in found:
        token = device.token or "(token not revealed)"
        print(f"{device.ip}  did {device.did}  stamp {device.stamp}  token {token}")
    return 0


def _miio_call(args: argparse.Namespace) -> int:
    from mihomekit.sources.miio import MiioClient

    try:
        params = json.loads(args.params)
    except ValueError as err:
        raise MiioError(f"PARAMS is not JSON: {err}") from None

    async def run() -> Any:
        async with MiioClient(
            args.host, args.token, port=args.port, timeout=args.timeout
        ) as client:
            return await client.call(args.method, params)

    print(json.dumps(asyncio.run(run()), indent=2))
    return 0
