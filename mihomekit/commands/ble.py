"""``mihomekit ble``: talk to a sensor over a Bluetooth connection.

``time`` sets its clock to this host's time (and time zone), ``unit c|f`` switches its
display, ``battery`` reads the battery level its advertisements lack; ``read``, ``write``
and ``notify`` work on any characteristic. The model (for time, unit and battery) comes
from ``--model``, the mi32cfg, or the sensor's own advertisement.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mihomekit.catalog import DeviceModel
from mihomekit.errors import ConfigError
from mihomekit.wording import counted

from .options import SETTINGS_HELP
from .sensor_options import add_radio_options, command_settings, radio_from_args

Action = Callable[[Any, Any], Awaitable[str]]


@dataclass(frozen=True)
class _Task:
    """What to do once connected; ``model`` is given (or None) when ``needs_model``."""

    run: Action
    needs_model: bool = False
    #: The model as far as known before connecting (a product id the catalog lacks: int).
    model: DeviceModel | int | None = None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ble",
        help="set a sensor's clock or display units, read its battery, or any characteristic",
        description="Talk to a sensor over a Bluetooth connection (one at a time per adapter).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str, *, model: bool = False) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(
            name, help=help_text, description=help_text
        )
        sub.add_argument("mac", metavar="MAC", help="the sensor's address")
        if model:
            sub.add_argument(
                "--model", metavar="MODEL", help="model name or product id (default: detected)"
            )
            sub.add_argument("--config", metavar="PATH", help="mi32cfg that lists the sensor")
        sub.add_argument("--settings", metavar="FILE", help=SETTINGS_HELP)
        add_radio_options(sub)
        return sub

    action("time", "set the sensor's clock to this host's time and time zone", model=True)
    unit = action("unit", "show °C or °F on the sensor's display", model=True)
    unit.add_argument("unit", choices=("c", "f"), type=str.lower, help="c or f")
    action("battery", "read the sensor's battery level", model=True)
    read = action("read", "read a characteristic")
    write = action("write", "write a characteristic")
    notify = action("notify", "print a characteristic's notifications")
    for sub in (read, write, notify):
        sub.add_argument("service", metavar="SERVICE", help="service UUID (fe95 or 128-bit)")
        sub.add_argument("char", metavar="CHAR", help="characteristic UUID")
    write.add_argument("data", metavar="HEX", help="the bytes to write, in hex")
    write.add_argument(
        "--no-response", action="store_true", help="write without response (a command)"
    )
    notify.add_argument(
        "--count", type=int, default=1, metavar="N", help="stop after N notifications (1)"
    )
    parser.set_defaults(func=run_ble)


def run_ble(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    radio = radio_from_args(args, settings)
    task = _task(args, settings)
    print(asyncio.run(_run(radio, args.mac, args.timeout, task)))
    return 0


def _task(args: argparse.Namespace, settings: Any) -> _Task:
    from mihomekit.ble import jobs
    from mihomekit.ble.operations import OperationError, local_utc_offset, normalize_uuid

    action = args.action
    if action in ("read", "write", "notify"):
        service, char = normalize_uuid(args.service), normalize_uuid(args.char)
        if action == "read":

            async def read(link: Any, _model: Any) -> str:
                return bytes(await link.read(service, char)).hex(" ")

            return _Task(read)
        if action == "write":
            try:
                data = bytes.fromhex(args.data.replace(":", " "))
            except ValueError:
                raise OperationError(f"not hex: {args.data!r}") from None

            async def write(link: Any, _model: Any) -> str:
                await link.write(service, char, data, response=not args.no_response)
                return f"wrote {data.hex(' ') or '(nothing)'}"

            return _Task(write)

        async def notify(link: Any, _model: Any) -> str:
            return await _notifications(link, service, char, args.count, args.timeout)

        return _Task(notify)

    async def clock(link: Any, model: DeviceModel) -> str:
        now = time.time()
        offset = local_utc_offset(now)
        await jobs.set_clock(link, model, now, offset)
        shown = datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"clock of {model.model} set to {shown} UTC, time zone {int(offset / 3600):+d} h"

    async def unit(link: Any, model: DeviceModel) -> str:
        await jobs.set_units(link, model, args.unit)
        return f"{model.model} shows °{args.unit.upper()}"

    async def battery(link: Any, model: DeviceModel) -> str:
        level = await jobs.read_battery(link, model, timeout=args.timeout)
        return f"battery {level} %"

    chosen = {"time": clock, "unit": unit, "battery": battery}[action]

    async def with_model(link: Any, model: Any) -> str:
        if model is None:
            raise OperationError(
                f"the model of {args.mac} is unknown: give it with --model (e.g. LYWSD02)"
            )
        return await chosen(link, model)

    return _Task(with_model, needs_model=True, model=_model_hint(args, settings))


def _model_hint(args: argparse.Namespace, settings: Any) -> DeviceModel | int | None:
    """The model from --model, or the product id the mi32cfg lists (None: detect it)."""
    from mihomekit.catalog import lookup
    from mihomekit.commands.key import product_id
    from mihomekit.commands.run import find_mi32cfg
    from mihomekit.mi32cfg import load_mi32cfg, normalize_mac

    if args.model:
        pid = product_id(args.model)
        return lookup(pid) or pid
    path = find_mi32cfg(args.config, settings, Path(settings.bridge.state_dir).expanduser())
    if path is None:
        return None
    mac = normalize_mac(args.mac)
    entry = next((e for e in load_mi32cfg(path) if e.mac == mac), None)
    return None if entry is None else lookup(entry.pid) or entry.pid


async def _notifications(link: Any, service: str, char: str, count: int, timeout: float) -> str:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    await link.start_notify(service, char, queue.put_nowait)
    lines: list[str] = []
    try:
        for _ in range(max(count, 1)):
            data = await asyncio.wait_for(queue.get(), timeout)
            lines.append(data.hex(" "))
            print(lines[-1], flush=True)
    except TimeoutError:
        if not lines:
            from mihomekit.ble.link import GattError

            raise GattError(f"no notification from {char} in {timeout:g} s") from None
    return counted(len(lines), "notification")


async def _run(radio: Any, mac: str, timeout: float, task: _Task) -> str:
    from mihomekit.ble.bind import MIBEACON
    from mihomekit.ble.link import display_mac, listen_for
    from mihomekit.ble.queue import shared_queue
    from mihomekit.catalog import lookup
    from mihomekit.decoders import decode_advertisement
    from mihomekit.mi32cfg import normalize_mac

    try:
        mac = display_mac(normalize_mac(mac))
    except ValueError as err:
        raise ConfigError(f"MAC: {err}") from None
    model = task.model
    if task.needs_model and not isinstance(model, DeviceModel):
        heard, _others = await listen_for(
            radio, mac, timeout, lambda adv: MIBEACON in adv.service_data
        )
        if heard is not None:
            pid = decode_advertisement(mac, MIBEACON, bytes(heard.service_data[MIBEACON])).pid
            model = lookup(pid) if pid is not None else None
    async with shared_queue().session(radio, mac, timeout=timeout) as link:
        return await task.run(link, model if isinstance(model, DeviceModel) else None)
