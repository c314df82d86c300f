"""Recordings of advertisements as JSON lines, and replaying them into a sink.

One advertisement per line::

    {"t": 1.25, "mac": "A4:C1:38:12:34:56", "uuid": "fe95", "data": "5858...", "rssi": -67}

``t`` is seconds from the start of the recording, ``uuid`` the 16-bit service UUID in
hex, ``data`` the service data in hex and ``rssi`` dBm or null. An optional
``"receiver"`` names the receiver that heard it (this host's radio when absent).
Blank lines and lines starting with ``#`` are skipped when reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from mihomekit.errors import ConfigError
from mihomekit.sources import LOCAL_RECEIVER, Advertisement, AdvertisementSink, SourceStatus

_LOGGER = logging.getLogger(__name__)

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_MAC_COMPACT = re.compile(r"^[0-9A-Fa-f]{12}$")
_UUID16 = re.compile(r"^(0x)?([0-9A-Fa-f]{4})$")
_UUID128 = re.compile(r"^0000([0-9A-Fa-f]{4})-0000-1000-8000-00805f9b34fb$", re.IGNORECASE)

#: A replay that is behind its pace (or runs with ``speed=0``) yields to the event loop
#: after this many records, so it cannot starve HomeKit output.
_FAST_BATCH = 64
#: Records due within this many seconds are delivered in one wake-up: asyncio's selector
#: cannot sleep for less (it rounds every timeout up to the millisecond).
_RESOLUTION = 0.001


@dataclass(frozen=True, slots=True)
class RecordedAdvertisement:
    """One recorded service-data entry."""

    t: float
    mac: str
    uuid: int
    data: bytes
    rssi: int | None = None
    receiver: str = LOCAL_RECEIVER

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "t": round(self.t, 3),
            "mac": self.mac,
            "uuid": f"{self.uuid:04x}",
            "data": self.data.hex(),
            "rssi": self.rssi,
        }
        if self.receiver != LOCAL_RECEIVER:
            line["receiver"] = self.receiver
        return line


class RecordingWriter:
    """Append advertisements to a JSON-lines file, flushing every line."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = self.path.open("w", encoding="utf-8", newline="\n")
        self.count = 0

    def write(
        self,
        mac: str,
        uuid: int,
        data: bytes,
        rssi: int | None,
        t: float,
        receiver: str = LOCAL_RECEIVER,
    ) -> None:
        """Write one service-data entry heard ``t`` seconds after the recording started."""
        if self._file is None:
            raise ValueError("recording is closed")
        record = RecordedAdvertisement(t, mac, uuid, data, rssi, receiver)
        self._file.write(json.dumps(record.to_json()) + "\n")
        self._file.flush()
        self.count += 1

    def write_advertisement(self, advertisement: Advertisement, t: float) -> None:
        """Write each service-data entry of ``advertisement`` as one line."""
        for uuid, data in advertisement.service_data.items():
            self.write(advertisement.mac, uuid, data, advertisement.rssi, t, advertisement.receiver)

    def close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    @property
    def closed(self) -> bool:
        return self._file is None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _parse_uuid(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFF:
        return value
    if isinstance(value, str):
        match = _UUID16.match(value) or _UUID128.match(value)
        if match:
            return int(match.group(match.lastindex or 1), 16)
    raise ValueError(f"'uuid' must be a 16-bit UUID in hex like \"fe95\", not {value!r}")


def _parse_mac(value: object) -> str:
    if isinstance(value, str):
        if _MAC.match(value):
            return value.upper()
        if _MAC_COMPACT.match(value):
            return ":".join(value[i : i + 2] for i in range(0, 12, 2)).upper()
    raise ValueError(f"'mac' must look like \"A4:C1:38:12:34:56\", not {value!r}")


def parse_record(obj: object) -> RecordedAdvertisement:
    """Validate one decoded JSON line; raise ValueError with the reason."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    for name in ("t", "mac", "uuid", "data"):
        if name not in obj:
            raise ValueError(f"missing {name!r}")
    t = obj["t"]
    if isinstance(t, bool) or not isinstance(t, int | float) or t != t or t < 0:
        raise ValueError(f"'t' must be a number of seconds >= 0, not {t!r}")
    data = obj["data"]
    if not isinstance(data, str):
        raise ValueError(f"'data' must be a hex string, not {data!r}")
    try:
        payload = bytes.fromhex(data)
    except ValueError:
        raise ValueError(f"'data' is not valid hex: {data!r}") from None
    rssi = obj.get("rssi")
    if rssi is not None and (isinstance(rssi, bool) or not isinstance(rssi, int)):
        raise ValueError(f"'rssi' must be an integer or null, not {rssi!r}")
    receiver = obj.get("receiver", LOCAL_RECEIVER)
    if not isinstance(receiver, str) or not receiver:
        raise ValueError(f"'receiver' must be a non-empty string, not {receiver!r}")
    return RecordedAdvertisement(
        t=float(t),
        mac=_parse_mac(obj["mac"]),
        uuid=_parse_uuid(obj["uuid"]),
        data=payload,
        rssi=rssi,
        receiver=receiver,
    )


def read_recording(path: str | os.PathLike[str]) -> list[RecordedAdvertisement]:
    """Read a recording. A bad line raises :class:`ConfigError` naming its line number."""
    name = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read recording: {err.strerror or err}", path=name) from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"recording is not UTF-8 text: {err}", path=name) from err
    records: list[RecordedAdvertisement] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise ConfigError(f"line {number}: not valid JSON ({err.msg})", path=name) from None
        try:
            records.append(parse_record(obj))
        except ValueError as err:
            raise ConfigError(f"line {number}: {err}", path=name) from None
    return records


@dataclass(slots=True)
class ReplayStats:
    """``delivered``: advertisements handed to the sink; ``passes``: complete passes;
    ``errors``: sink exceptions."""

    delivered: int = 0
    passes: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ReplaySource:
    """Feed recorded advertisements to a sink at the recorded pace.

    ``speed`` scales time (2.0 = twice as fast; 0 = as fast as possible). With
    ``loop=True`` the recording repeats until :meth:`stop`; each pass starts when the
    previous one's last advertisement was due. ``transform(pass_number, record)`` (pass 0
    first) may change each record before it is delivered, e.g. to advance frame counters.
    """

    def __init__(
        self,
        records: Sequence[RecordedAdvertisement],
        sink: AdvertisementSink,
        *,
        speed: float = 1.0,
        loop: bool = False,
        transform: Callable[[int, RecordedAdvertisement], RecordedAdvertisement] | None = None,
        name: str = "recording",
    ) -> None:
        if speed < 0 or speed != speed:
            raise ValueError(f"speed must be >= 0, not {speed!r}")
        self._records = list(records)
        self._sink = sink
        self._speed = float(speed)
        self._loop = loop
        self._transform = transform
        self._stop = asyncio.Event()
        self._running = False
        self._done = asyncio.Event()
        self._done.set()
        self._sink_error_logged = False
        self.status = SourceStatus("replay", name)
        self._duration = max((record.t for record in self._records), default=0.0)
        self._finished: asyncio.Future[None] | None = None
        self._timeline = _Timeline(start=0.0)
        self._timer: asyncio.Handle | None = None
        self._task: asyncio.Task[None] | None = None
        self.stats = ReplayStats()

    @property
    def running(self) -> bool:
        return self._running

    async def run(self) -> None:
        """Replay until the records are used up (or forever with ``loop``) or :meth:`stop`."""
        if self._running:
            raise RuntimeError("replay is already running")
        self._running = True
        self._stop.clear()
        self._done.clear()
        self.status.set_connected(True)
        try:
            await self._replay()
        finally:
            self._running = False
            self.status.set_connected(False)
            self._done.set()

    async def start(self) -> None:
        """Replay in the background (as a bridge source); :meth:`stop` ends it."""
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """Stop a running replay and wait until it has returned."""
        self._stop.set()
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(None)
        await self._done.wait()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()  # started but not yet running: it must not start after stop
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _replay(self) -> None:
        """Deliver the records from timer callbacks until the last one (or :meth:`stop`).

        Each wake-up delivers every record due by then (within :data:`_RESOLUTION`) and
        sets one timer for the next: no future, task step or second loop iteration per
        advertisement, so the replay costs the bridge about what a radio's wake-up would.
        """
        if not self._records:
            return
        loop = asyncio.get_running_loop()
        finished = self._finished = loop.create_future()
        self._timeline = _Timeline(start=loop.time())
        self._timer = loop.call_soon(self._deliver_due, finished)
        try:
            await finished
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self._finished = None

    def _deliver_due(self, finished: asyncio.Future[None]) -> None:
        """Deliver the records due now; set the timer for the next one (or finish)."""
        loop = finished.get_loop()
        timeline, records, speed = self._timeline, self._records, self._speed
        delivered = 0
        horizon = loop.time() + _RESOLUTION
        while not finished.done():
            if timeline.index == len(records):
                self.stats.passes += 1
                if not self._loop:
                    finished.set_result(None)
                    return
                timeline.next_pass(self._duration / speed if speed > 0 else 0.0)
                self._timer = loop.call_soon(self._deliver_due, finished)
                return
            record = records[timeline.index]
            if speed > 0:
                due = timeline.start + record.t / speed
                if due > horizon:
                    self._timer = loop.call_at(due, self._deliver_due, finished)
                    return
            if delivered == _FAST_BATCH:
                # Behind the recorded pace (or as fast as possible): let the rest of the
                # bridge (HomeKit output above all) run every _FAST_BATCH records.
                self._timer = loop.call_soon(self._deliver_due, finished)
                return
            timeline.index += 1
            delivered += 1
            self._deliver(timeline.pass_number, record)

    def _deliver(self, pass_number: int, record: RecordedAdvertisement) -> None:
        try:
            if self._transform is not None:
                record = self._transform(pass_number, record)
            self._sink(
                Advertisement(
                    record.mac,
                    {record.uuid: record.data},
                    record.rssi,
                    record.receiver,
                    time.monotonic(),
                )
            )
        except Exception as err:
            self.stats.errors += 1
            self.status.error(f"{type(err).__name__}: {err}")
            if not self._sink_error_logged:
                self._sink_error_logged = True
                _LOGGER.warning(
                    "replayed advertisement could not be handled "
                    "(further failures logged at debug level)",
                    exc_info=True,
                )
            else:
                _LOGGER.debug("replayed advertisement could not be handled", exc_info=True)
            return
        self.stats.delivered += 1
        self.status.advertisements += 1


@dataclass(slots=True)
class _Timeline:
    """Where a replay is: the pass, its start (loop time) and the next record's index."""

    start: float
    pass_number: int = 0
    index: int = 0

    def next_pass(self, duration: float) -> None:
        self.pass_number += 1
        self.index = 0
        self.start += duration


__all__ = [
    "RecordedAdvertisement",
    "RecordingWriter",
    "ReplaySource",
    "ReplayStats",
    "parse_record",
    "read_recording",
]
