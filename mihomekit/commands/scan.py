"""``mihomekit scan``: list the Xiaomi (and compatible) BLE sensors in range.

Listens with the Bluetooth adapter and through the receivers the settings name (ESPHome
proxies, MQTT receivers), or replays a recording with ``--replay``, and shows one row per
device: MAC, product id, model, signal, whether its frames are encrypted,
what is known about its key, which receivers hear it at what RSSI, and the last values
heard. ``--write`` saves the devices
heard as a Tasmota-compatible mi32cfg (merged into an existing file), ``--record`` keeps
every advertisement as JSON lines for later ``--replay``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mihomekit.errors import AdapterError
from mihomekit.mi32cfg import DeviceEntry, load_mi32cfg, save_mi32cfg
from mihomekit.readings import KeyStatus, Value
from mihomekit.settings import Settings, load_settings
from mihomekit.sources import LOCAL_RECEIVER, Advertisement, AdvertisementSink, Source, SourceStatus
from mihomekit.wording import counted

if TYPE_CHECKING:
    from mihomekit.readings import DecodeResult

    Decoder = Callable[[str, int, bytes, bytes | None], DecodeResult]

_LOGGER = logging.getLogger(__name__)

#: Fake product ids Tasmota uses in mi32cfg for custom firmware and BTHome devices.
ATC_PID = 0x0A1C
PVVX_PID = 0x944A
BTHOME_PID = 0xB770
#: Tasmota files every Qingping (0xFDCD) advertiser as CGD1.
QINGPING_PID = 0x0576

DEFAULT_SECONDS = 30.0
REFRESH_SECONDS = 1.0

KEY_STATUS_TEXT: dict[KeyStatus, str] = {
    KeyStatus.NOT_NEEDED: "no key needed",
    KeyStatus.MISSING: "needs key",
    KeyStatus.OK: "key ok",
    KeyStatus.WRONG: "wrong key",
}

#: Value names shown first, in this order; the rest follow alphabetically.
_VALUE_ORDER = (
    "temperature",
    "humidity",
    "pressure",
    "battery",
    "voltage",
    "low_battery",
    "illuminance",
    "moisture",
    "conductivity",
    "formaldehyde",
    "motion",
    "no_motion_seconds",
    "light",
    "opening",
    "leak",
    "smoke",
    "gas",
    "occupancy",
)
_VALUE_RANK = {name: rank for rank, name in enumerate(_VALUE_ORDER)}


def compact_mac(mac: str) -> str:
    """``A4:C1:38:12:34:56`` → ``A4C138123456`` (the mi32cfg form)."""
    return mac.replace(":", "").replace("-", "").upper()


def mi32cfg_pid(result: DecodeResult, uuid: int, data: bytes) -> int | None:
    """The PID Tasmota's mi32cfg uses for a device, from one decoded frame.

    ATC1441 and pvvx custom firmware get the fake PIDs 0x0A1C / 0x944A, BTHome 0xB770;
    MiBeacon devices their real product id.
    """
    fmt = result.format.lower()
    if "atc" in fmt:
        return ATC_PID
    if "pvvx" in fmt:
        return PVVX_PID
    if "bthome" in fmt:
        return BTHOME_PID
    if uuid == 0x181A:
        return ATC_PID if len(data) == 13 else PVVX_PID
    if uuid == 0xFCD2:
        return BTHOME_PID
    if result.pid is not None:
        return result.pid
    if uuid == 0xFDCD:
        return QINGPING_PID
    return None


def _model_for_pid(pid: int) -> str:
    from mihomekit.catalog import lookup, unknown_name

    model = lookup(pid)
    return model.model if model is not None else unknown_name(pid)


def format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_values(values: Mapping[str, Value]) -> str:
    """``temperature=22.6 humidity=59.6 battery=95`` in a stable, readable order."""
    names = sorted(values, key=lambda name: (_VALUE_RANK.get(name, len(_VALUE_RANK)), name))
    return " ".join(f"{name}={format_value(values[name])}" for name in names)


@dataclass(slots=True)
class ScanRow:
    """What the scan learned about one device."""

    mac: str
    uuid: int
    format: str
    pid: int | None = None
    model: str | None = None
    name: str | None = None
    rssi: int | None = None
    #: Per receiver id, the last RSSI it heard this device at.
    receivers: dict[str, int | None] = field(default_factory=dict)
    encrypted: bool = False
    key_status: KeyStatus = KeyStatus.NOT_NEEDED
    values: dict[str, Value] = field(default_factory=dict)
    last_event: str | None = None
    error: str | None = None
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0

    @property
    def receivers_text(self) -> str:
        """``attic -61, local -80``: strongest first."""
        heard = sorted(self.receivers.items(), key=lambda item: -(item[1] or -999))
        return ", ".join(name if rssi is None else f"{name} {rssi}" for name, rssi in heard)

    @property
    def key_text(self) -> str:
        return KEY_STATUS_TEXT.get(self.key_status, str(self.key_status))

    def to_json(self) -> dict[str, Any]:
        return {
            "mac": self.mac,
            "pid": self.pid,
            "pid_hex": None if self.pid is None else f"{self.pid:04x}",
            "model": self.model,
            "name": self.name,
            "format": self.format,
            "uuid": f"{self.uuid:04x}",
            "rssi": self.rssi,
            "receivers": dict(self.receivers),
            "encrypted": self.encrypted,
            "key_status": str(self.key_status),
            "key": self.key_text,
            "values": dict(self.values),
            "last_event": self.last_event,
            "error": self.error,
            "count": self.count,
            "first_seen": round(self.first_seen, 3),
            "last_seen": round(self.last_seen, 3),
        }


class ScanTable:
    """Decode advertisements as they arrive and keep one :class:`ScanRow` per device.

    ``known`` maps 12-hex-digit MACs to mi32cfg entries whose keys are used for decoding
    and whose names are shown. ``decode`` defaults to
    :func:`mihomekit.decoders.decode_advertisement`.
    """

    def __init__(
        self,
        known: Mapping[str, DeviceEntry] | None = None,
        *,
        decode: Decoder | None = None,
    ) -> None:
        if decode is None:
            from mihomekit.decoders import decode_advertisement

            decode = decode_advertisement
        self._decode: Decoder = decode
        self._known = dict(known or {})
        self._rows: dict[str, ScanRow] = {}
        #: The radio and receivers listened through (their statuses at the end).
        self.sources: list[SourceStatus] = []
        self.advertisements = 0
        self.undecodable = 0

    def ingest(
        self,
        mac: str,
        uuid: int,
        data: bytes,
        rssi: int | None,
        t: float,
        receiver: str = LOCAL_RECEIVER,
    ) -> ScanRow | None:
        """Decode one advertisement heard ``t`` seconds into the scan; return its row.

        Frames that tell nothing about a device (not decodable, no product id) are only
        counted in :attr:`undecodable`.
        """
        self.advertisements += 1
        known = self._known.get(compact_mac(mac))
        result = self._decode(mac, uuid, data, known.key if known is not None else None)
        if not (
            result.ok
            or result.pid is not None
            or result.key_status in (KeyStatus.MISSING, KeyStatus.WRONG)
        ):
            self.undecodable += 1
            return None
        row_mac = (result.mac or mac).upper()
        row = self._rows.get(row_mac)
        if row is None:
            row = ScanRow(mac=row_mac, uuid=uuid, format=result.format, first_seen=t)
            entry = self._known.get(compact_mac(row_mac)) or known
            if entry is not None:
                row.name = entry.name
            self._rows[row_mac] = row
        row.count += 1
        row.last_seen = t
        row.uuid = uuid
        row.format = result.format
        row.receivers[receiver] = rssi
        best = max((r for r in row.receivers.values() if r is not None), default=None)
        if best is not None:
            row.rssi = best
        pid = mi32cfg_pid(result, uuid, data)
        if pid is not None:
            row.pid = pid
        if result.model:
            row.model = result.model
        elif row.model is None and row.pid is not None:
            row.model = _model_for_pid(row.pid)
        # a device that encrypts keeps its key status through its plain frames
        if result.encrypted:
            row.encrypted = True
            row.key_status = result.key_status
        elif not row.encrypted:
            row.key_status = result.key_status
        if result.ok:
            row.values.update(result.values)
            if result.events:
                row.last_event = result.events[-1].event
            row.error = None
        else:
            row.error = result.error
        return row

    @property
    def rows(self) -> list[ScanRow]:
        """Devices in the order they were first heard."""
        return list(self._rows.values())

    def render(self, now: float | None = None) -> str:
        """The table as text; ``now`` (seconds into the scan) adds an age column."""
        rows = self.rows
        if not rows:
            lines = [f"no Xiaomi devices heard ({counted(self.advertisements, 'advertisement')})"]
            lines.extend(_status_line(status) for status in self.sources)
            return "\n".join(lines)
        remote = any(set(row.receivers) - {LOCAL_RECEIVER} for row in rows)
        header = ["MAC", "PID", "MODEL", "RSSI", "ENCRYPTED", "KEY", "FRAMES"]
        if remote:
            header.append("RECEIVERS")
        if now is not None:
            header.append("AGE")
        header.append("LAST VALUES")
        table: list[list[str]] = [header]
        for row in rows:
            model = row.model or "?"
            if row.name:
                model = f"{model} ({row.name})"
            cells = [
                row.mac,
                "----" if row.pid is None else f"{row.pid:04x}",
                model,
                "" if row.rssi is None else str(row.rssi),
                "yes" if row.encrypted else "no",
                row.key_text,
                str(row.count),
            ]
            if remote:
                cells.append(row.receivers_text)
            if now is not None:
                cells.append(f"{max(now - row.last_seen, 0.0):.0f}s")
            shown = format_values(row.values)
            if row.last_event:
                shown = f"{shown} event={row.last_event}".strip()
            if not shown and row.error:
                shown = f"({row.error})"
            cells.append(shown)
            table.append(cells)
        widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
            + "  "
            + line[-1]
            for line in table
        ]
        lines.append(
            f"{counted(len(rows), 'device')}, {counted(self.advertisements, 'advertisement')}"
            + (f", {self.undecodable} not decodable" if self.undecodable else "")
        )
        lines.extend(_status_line(status) for status in self.sources)
        return "\n".join(line.rstrip() for line in lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "devices": [row.to_json() for row in self.rows],
            "advertisements": self.advertisements,
            "undecodable": self.undecodable,
            "sources": [status.as_dict() for status in self.sources],
        }

    def entries(self) -> list[DeviceEntry]:
        """mi32cfg entries for the devices heard (keys and names from ``known``)."""
        out: list[DeviceEntry] = []
        for row in self.rows:
            if row.pid is None:
                continue
            mac = compact_mac(row.mac)
            known = self._known.get(mac)
            out.append(
                DeviceEntry(
                    mac=mac,
                    pid=row.pid,
                    key=known.key if known is not None else None,
                    name=known.name if known is not None else None,
                    feat=known.feat if known is not None else None,
                )
            )
        return out


def _status_line(status: SourceStatus) -> str:
    """``esphome attic: connected, 120 advertisements`` (with the last error if any)."""
    state = "connected" if status.connected else "not connected"
    line = (
        f"{status.kind} {status.name}: {state}, {counted(status.advertisements, 'advertisement')}"
    )
    if status.last_error:
        line += f", last error: {status.last_error}"
    return line


def merge_entries(
    existing: Sequence[DeviceEntry], heard: Iterable[DeviceEntry]
) -> tuple[list[DeviceEntry], int]:
    """Keep ``existing`` (order, PIDs, keys) and append new devices; fill in missing keys
    and names from ``heard``. Returns the merged list and how many devices were added."""
    merged = list(existing)
    index = {entry.mac: i for i, entry in enumerate(merged)}
    added = 0
    for entry in heard:
        i = index.get(entry.mac)
        if i is None:
            index[entry.mac] = len(merged)
            merged.append(entry)
            added += 1
            continue
        old = merged[i]
        if (old.key is None and entry.key is not None) or (old.name is None and entry.name):
            merged[i] = DeviceEntry(
                mac=old.mac,
                pid=old.pid,
                key=old.key if old.key is not None else entry.key,
                name=old.name or entry.name,
                feat=old.feat if old.feat is not None else entry.feat,
            )
    return merged, added


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """The ``scan`` sub-command's options."""

    seconds: float | None = None
    write: str | None = None
    record: str | None = None
    mi32cfg: str | None = None
    adapter: str | None = None
    scan_mode: str = "auto"
    replay: str | None = None
    speed: float = 1.0
    json: bool = False
    #: The settings file whose receivers (``[[esphome]]``, ``[[mqtt_receivers]]``) listen too.
    settings: str | None = None
    #: Listen with this host's radio (``--no-radio``: through the receivers only).
    radio: bool = True

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ScanOptions:
        return cls(
            seconds=args.seconds,
            write=args.write,
            record=args.record,
            mi32cfg=args.mi32cfg,
            adapter=args.adapter,
            scan_mode=args.scan_mode,
            replay=args.replay,
            speed=args.speed,
            json=args.json,
            settings=args.settings,
            radio=not args.no_radio,
        )


class LiveDisplay:
    """Redraw a block of text in place on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lines = 0

    def show(self, text: str) -> None:
        size = shutil.get_terminal_size()
        width, height = max(size.columns - 1, 20), max(size.lines - 1, 3)
        lines = [line[:width] for line in text.splitlines()]
        if len(lines) > height:  # the cursor cannot move above the screen: keep it fitting
            lines = [*lines[: height - 1], f"... {counted(len(lines) - height + 1, 'more line')}"]
        if self._lines:
            # back to the first line of the previous drawing, then clear to the end
            self._out.write(f"\x1b[{self._lines}F\x1b[J")
        self._out.write("\n".join(lines) + "\n")
        self._out.flush()
        self._lines = len(lines)


def load_known(path: str | None) -> dict[str, DeviceEntry]:
    """Entries of an existing mi32cfg by MAC (empty without a path)."""
    if path is None:
        return {}
    return {entry.mac: entry for entry in load_mi32cfg(path)}


async def _listen(
    until: asyncio.Future[Any] | None,
    seconds: float | None,
    refresh: Callable[[], None] | None,
) -> None:
    """Wait until ``until`` is done or ``seconds`` passed, calling ``refresh`` each second."""
    loop = asyncio.get_running_loop()
    deadline = None if seconds is None else loop.time() + seconds
    while True:
        timeout: float | None = REFRESH_SECONDS if refresh is not None else None
        if deadline is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            timeout = remaining if timeout is None else min(timeout, remaining)
        if until is not None:
            done, _ = await asyncio.wait({until}, timeout=timeout)
            if done:
                return
        else:
            await asyncio.sleep(REFRESH_SECONDS if timeout is None else timeout)
        if refresh is not None:
            refresh()


async def scan(options: ScanOptions, table: ScanTable, *, out: TextIO) -> None:
    """Listen (or replay) for the configured time, feeding ``table`` and ``--record``."""
    from mihomekit.sources.recording import RecordingWriter, ReplaySource, read_recording

    records = read_recording(options.replay) if options.replay else None
    loop = asyncio.get_running_loop()
    start = loop.time()
    display = LiveDisplay(out) if not options.json and out.isatty() else None

    def refresh() -> None:
        if display is not None:
            display.show(table.render(loop.time() - start))

    writer = RecordingWriter(options.record) if options.record else None
    ingest = table.ingest

    def sink(advertisement: Advertisement) -> None:
        t = loop.time() - start
        if writer is not None:
            writer.write_advertisement(advertisement, t)
        for uuid, data in advertisement.service_data.items():
            ingest(advertisement.mac, uuid, data, advertisement.rssi, t, advertisement.receiver)

    try:
        if records is not None:
            replay = ReplaySource(records, sink, speed=options.speed)
            task = asyncio.ensure_future(replay.run())
            try:
                await _listen(task, options.seconds, refresh if display else None)
            finally:
                await replay.stop()
                await task
        else:
            seconds = DEFAULT_SECONDS if options.seconds is None else options.seconds
            sources = await _start_listening(options, sink)
            table.sources = [source.status for source in sources]
            try:
                await _listen(None, seconds, refresh if display else None)
            finally:
                for source in reversed(sources):
                    await source.stop()
    finally:
        if writer is not None:
            writer.close()
        refresh()


async def _start_listening(options: ScanOptions, sink: AdvertisementSink) -> list[Source]:
    """Start the radio and every receiver of the settings; the started sources.

    Without receivers a radio that cannot start is an :class:`AdapterError`; with them it
    is a warning and the scan goes on through the receivers.
    """
    from mihomekit.sources.ble import BleAdapter

    sources = receiver_sources(scan_settings(options), sink)
    if not options.radio and not sources:
        raise AdapterError("--no-radio, and the settings name no receiver to listen through")
    for source in sources:
        await source.start()
    if options.radio:
        adapter = BleAdapter(sink, adapter=options.adapter, scan_mode=options.scan_mode)
        try:
            await adapter.start()
        except AdapterError as err:
            if not sources:
                raise
            _LOGGER.warning("listening through the receivers only: %s", err)
        else:
            _LOGGER.info("scanning (%s)", adapter.mode)
            sources.insert(0, adapter)
    return sources


def scan_settings(options: ScanOptions) -> Settings:
    """The settings whose receivers listen too (the default file if it exists)."""
    from mihomekit.commands.run import settings_file

    return load_settings(settings_file(options.settings))


def receiver_sources(settings: Settings, sink: AdvertisementSink) -> list[Source]:
    """A source for every receiver the settings name, feeding ``sink``.

    MQTT receivers come after their broker connection (started first, stopped last); the
    scan connects under a client id of its own, so a running bridge is not pushed off the
    broker, and announces nothing.
    """
    from mihomekit.sources.esphome.proxy import EsphomeProxy

    sources: list[Source] = [EsphomeProxy.from_settings(proxy, sink) for proxy in settings.esphome]
    if settings.mqtt is not None and settings.mqtt_receivers:
        from mihomekit.mqtt import MqttConnection
        from mihomekit.sources.mqtt_receivers import MqttReceiverSource

        connection = MqttConnection.listener(settings.mqtt, "scan", name="mqtt")
        sources.append(connection)
        sources.extend(
            MqttReceiverSource(connection, sink, entry) for entry in settings.mqtt_receivers
        )
    return sources


def write_config(path: str, table: ScanTable) -> tuple[int, int]:
    """Merge the devices heard into the mi32cfg at ``path``; (devices written, added)."""
    existing = load_mi32cfg(path) if Path(path).exists() else []
    merged, added = merge_entries(existing, table.entries())
    if merged:
        save_mi32cfg(path, merged)
    return len(merged), added


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Entry point of ``mihomekit scan``."""
    stream = out if out is not None else sys.stdout
    options = ScanOptions.from_args(args)
    table = ScanTable(load_known(options.mi32cfg))
    try:
        asyncio.run(scan(options, table, out=stream))
    except AdapterError as err:
        print(f"mihomekit scan: {err}", file=sys.stderr)
        print("(without a radio, try: mihomekit scan --replay RECORDING)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    if options.json:
        stream.write(json.dumps(table.to_json(), indent=2) + "\n")
    elif not stream.isatty():
        stream.write(table.render() + "\n")
    if options.write:
        count, added = write_config(options.write, table)
        if count:
            print(
                f"wrote {counted(count, 'device')} ({added} new) to {options.write}",
                file=sys.stderr,
            )
        else:
            print(f"no devices heard, nothing written to {options.write}", file=sys.stderr)
    if options.record:
        print(
            f"recorded {counted(table.advertisements, 'advertisement')} to {options.record}",
            file=sys.stderr,
        )
    return 0


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``scan`` sub-command."""
    parser = subparsers.add_parser(
        "scan",
        help="list the Xiaomi BLE sensors in range",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument(
        "--seconds",
        type=_positive,
        default=None,
        metavar="N",
        help=f"how long to listen (default {DEFAULT_SECONDS:g}; with --replay: to the end)",
    )
    parser.add_argument(
        "--write", metavar="PATH", help="write the devices heard to a mi32cfg (merged into PATH)"
    )
    parser.add_argument(
        "--record", metavar="FILE", help="record every advertisement heard as JSON lines"
    )
    parser.add_argument(
        "--mi32cfg", metavar="PATH", help="existing mi32cfg whose keys and names to use"
    )
    parser.add_argument("--adapter", metavar="HCI", help="Bluetooth adapter, e.g. hci0")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--passive",
        dest="scan_mode",
        action="store_const",
        const="passive",
        help="passive scanning only (fail if BlueZ cannot do it)",
    )
    mode.add_argument(
        "--active",
        dest="scan_mode",
        action="store_const",
        const="active",
        help="active scanning",
    )
    parser.set_defaults(scan_mode="auto")
    parser.add_argument(
        "--replay", metavar="FILE", help="replay a recording instead of using the radio"
    )
    parser.add_argument(
        "--speed",
        type=_non_negative,
        default=1.0,
        help="replay speed factor (0 = as fast as possible; default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print the final table as JSON")
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="TOML settings whose receivers ([[esphome]], [[mqtt_receivers]]) listen too",
    )
    parser.add_argument("--no-radio", action="store_true", help="listen through the receivers only")
    parser.set_defaults(func=run)


__all__ = [
    "ATC_PID",
    "BTHOME_PID",
    "KEY_STATUS_TEXT",
    "PVVX_PID",
    "LiveDisplay",
    "ScanOptions",
    "ScanRow",
    "ScanTable",
    "compact_mac",
    "format_values",
    "merge_entries",
    "mi32cfg_pid",
    "register",
    "run",
    "scan",
    "write_config",
]
