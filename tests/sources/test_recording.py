"""Recordings (JSON lines) and replaying them into a sink."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mihomekit.errors import ConfigError
from mihomekit.sources import Advertisement
from mihomekit.sources.recording import (
    RecordedAdvertisement,
    RecordingWriter,
    ReplaySource,
    read_recording,
)


def entries(adv: Advertisement) -> list[tuple[str, int, bytes, int | None]]:
    """An advertisement as (mac, uuid, data, rssi) per service-data entry."""
    return [(adv.mac, uuid, data, adv.rssi) for uuid, data in adv.service_data.items()]


Heard = list[tuple[str, int, bytes, int | None]]

RECORDS = [
    RecordedAdvertisement(
        0.0,
        "A4:C1:38:02:83:F4",
        0xFE95,
        bytes.fromhex("58585b0550f4830238c1a495ef58763c26000097e2abb5"),
        -67,
    ),
    RecordedAdvertisement(
        0.1, "A4:C1:38:BC:7C:4E", 0x181A, bytes.fromhex("a4c138bc7c4e0102284f0b6720"), None
    ),
    RecordedAdvertisement(0.3, "54:48:E6:8F:80:A5", 0xFCD2, bytes.fromhex("4000090161"), -90),
]


async def test_start_and_stop_as_a_bridge_source() -> None:
    got: list[str] = []
    records = [
        RecordedAdvertisement(t=0.05 * i, mac=f"A4:C1:38:00:00:{i:02X}", uuid=0xFE95, data=b"\x01")
        for i in range(40)
    ]
    replay = ReplaySource(records, lambda adv: got.append(adv.mac), speed=1.0)
    await replay.start()
    await replay.stop()  # at once, before the background task ran
    await asyncio.sleep(0.2)
    assert got == [] and not replay.running
    replay = ReplaySource(records, lambda adv: got.append(adv.mac), speed=0)
    await replay.start()
    await asyncio.sleep(0.1)
    await replay.stop()
    assert len(got) == 40


def test_write_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    with RecordingWriter(path) as writer:
        for r in RECORDS:
            writer.write(r.mac, r.uuid, r.data, r.rssi, r.t)
        assert writer.count == 3
    assert writer.closed
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {
        "t": 0.0,
        "mac": "A4:C1:38:02:83:F4",
        "uuid": "fe95",
        "data": "58585b0550f4830238c1a495ef58763c26000097e2abb5",
        "rssi": -67,
    }
    assert json.loads(lines[1])["rssi"] is None
    assert read_recording(path) == RECORDS


def test_each_line_is_flushed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    writer = RecordingWriter(path)
    writer.write("A4:C1:38:BC:7C:4E", 0x181A, b"\x01\x02", -50, 1.23456)
    # still open: what was heard is already on disk
    assert read_recording(path) == [
        RecordedAdvertisement(1.235, "A4:C1:38:BC:7C:4E", 0x181A, b"\x01\x02", -50)
    ]
    writer.close()
    writer.close()
    with pytest.raises(ValueError):
        writer.write("A4:C1:38:BC:7C:4E", 0x181A, b"", None, 2.0)


def test_comments_blank_lines_and_lenient_forms_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_text(
        "# recorded in the kitchen\n"
        "\n"
        '{"t": 0, "mac": "a4c138bc7c4e", "uuid": "0x181A", "data": "A4C1"}\n'
        "   \n"
        '{"t": 2.5, "mac": "a4:c1:38:02:83:f4", '
        '"uuid": "0000fe95-0000-1000-8000-00805f9b34fb", "data": "", "rssi": -1, "extra": 1}\n',
        encoding="utf-8",
    )
    assert read_recording(path) == [
        RecordedAdvertisement(0.0, "A4:C1:38:BC:7C:4E", 0x181A, b"\xa4\xc1", None),
        RecordedAdvertisement(2.5, "A4:C1:38:02:83:F4", 0xFE95, b"", -1),
    ]


GOOD = '{"t": 0.5, "mac": "A4:C1:38:BC:7C:4E", "uuid": "181a", "data": "00ff", "rssi": -60}'


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"mac": "A4:C1:38:BC:7C:4E", "uuid": "181a", "data": "00"}', "missing 't'"),
        (GOOD.replace('"data": "00ff", ', ""), "missing 'data'"),
        (GOOD.replace("A4:C1:38:BC:7C:4E", "A4:C1:38:BC:7C"), "'mac'"),
        (GOOD.replace('"00ff"', '"0g"'), "'data' is not valid hex"),
        (GOOD.replace('"181a"', '"fe9"'), "'uuid'"),
        (GOOD.replace("0.5", "-1"), "'t' must be a number"),
        (GOOD.replace("0.5", '"soon"'), "'t' must be a number"),
        (GOOD.replace("-60", '"-60"'), "'rssi' must be an integer"),
        (GOOD.replace("-60", "true"), "'rssi' must be an integer"),
    ],
)
def test_bad_line_names_line_number_and_reason(tmp_path: Path, bad: str, reason: str) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_text(f"# header\n{GOOD}\n{bad}\n{GOOD}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_recording(path)
    message = str(info.value)
    assert "line 3:" in message
    assert reason in message
    assert str(path) in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read recording"):
        read_recording(tmp_path / "nope.jsonl")


async def test_replay_keeps_order_and_pace() -> None:
    heard: Heard = []
    times: list[float] = []
    loop = asyncio.get_running_loop()

    def sink(adv: Advertisement) -> None:
        heard.extend(entries(adv))
        times.append(loop.time())

    source = ReplaySource(RECORDS, sink, speed=2.0)  # 0.3 s of recording in 0.15 s
    started = loop.time()
    await source.run()
    elapsed = loop.time() - started
    assert heard == [(r.mac, r.uuid, r.data, r.rssi) for r in RECORDS]
    assert elapsed >= 0.15 * 0.8
    assert times[2] - times[1] >= 0.1 * 0.8  # 0.2 s apart in the recording, at speed 2
    assert elapsed < 2.0
    assert source.stats.as_dict() == {"delivered": 3, "passes": 1, "errors": 0}
    assert not source.running


async def test_speed_zero_is_as_fast_as_possible() -> None:
    heard: Heard = []
    slow = [
        RecordedAdvertisement(float(i * 10), "A4:C1:38:BC:7C:4E", 0x181A, bytes([i]), None)
        for i in range(200)
    ]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await ReplaySource(slow, lambda adv: heard.extend(entries(adv)), speed=0).run()
    assert loop.time() - started < 1.0
    assert [data for _, _, data, _ in heard] == [bytes([i]) for i in range(200)]


async def test_loop_passes_pass_numbers_to_transform_and_stops() -> None:
    heard: Heard = []
    passes: list[int] = []

    def restamp(pass_number: int, record: RecordedAdvertisement) -> RecordedAdvertisement:
        passes.append(pass_number)
        return RecordedAdvertisement(
            record.t, record.mac, record.uuid, record.data + bytes([pass_number]), record.rssi
        )

    def sink(adv: Advertisement) -> None:
        heard.extend(entries(adv))

    source = ReplaySource(RECORDS, sink, speed=0, loop=True, transform=restamp)
    task = asyncio.create_task(source.run())
    while len(heard) < 3 * 4:
        await asyncio.sleep(0)
    await source.stop()
    assert task.done() and task.exception() is None
    assert not source.running
    assert passes[:12] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert heard[3][2] == RECORDS[0].data + b"\x01"
    assert heard[8][2] == RECORDS[2].data + b"\x02"
    assert source.stats.passes >= 3


async def test_loop_at_recorded_pace_repeats_the_timeline() -> None:
    times: list[float] = []
    loop = asyncio.get_running_loop()
    records = [
        RecordedAdvertisement(0.0, "A4:C1:38:BC:7C:4E", 0x181A, b"\x00", None),
        RecordedAdvertisement(0.1, "A4:C1:38:BC:7C:4E", 0x181A, b"\x01", None),
    ]
    source = ReplaySource(records, lambda *a: times.append(loop.time()), loop=True)
    task = asyncio.create_task(source.run())
    while len(times) < 5:
        await asyncio.sleep(0.01)
    await source.stop()
    await task
    # 5 deliveries = two passes of 0.1 s plus the start of the third
    assert times[4] - times[0] >= 0.2 * 0.8


async def test_stop_interrupts_a_long_wait() -> None:
    heard: Heard = []
    records = [
        RecordedAdvertisement(0.0, "A4:C1:38:BC:7C:4E", 0x181A, b"\x00", None),
        RecordedAdvertisement(60.0, "A4:C1:38:BC:7C:4E", 0x181A, b"\x01", None),
    ]
    source = ReplaySource(records, lambda adv: heard.extend(entries(adv)))
    task = asyncio.create_task(source.run())
    await asyncio.sleep(0.05)
    assert source.running
    loop = asyncio.get_running_loop()
    started = loop.time()
    await source.stop()
    assert loop.time() - started < 1.0
    assert task.done()
    assert len(heard) == 1
    assert source.stats.passes == 0


async def test_cancel_is_clean() -> None:
    records = [RecordedAdvertisement(30.0, "A4:C1:38:BC:7C:4E", 0x181A, b"\x00", None)]
    source = ReplaySource(records, lambda *a: None)
    task = asyncio.create_task(source.run())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not source.running
    await source.stop()  # nothing running: returns at once


async def test_sink_errors_are_counted_and_replay_goes_on() -> None:
    calls: list[str] = []

    def sink(adv: Advertisement) -> None:
        calls.append(adv.mac)
        if 0x181A in adv.service_data:
            raise ValueError("bad")

    source = ReplaySource(RECORDS, sink, speed=0)
    await source.run()
    assert len(calls) == 3
    assert source.stats.as_dict() == {"delivered": 2, "passes": 1, "errors": 1}


async def test_empty_recording_and_bad_speed() -> None:
    source = ReplaySource([], lambda *a: None, loop=True)
    await asyncio.wait_for(source.run(), 1.0)
    assert source.stats.delivered == 0
    with pytest.raises(ValueError):
        ReplaySource(RECORDS, lambda *a: None, speed=-1)
