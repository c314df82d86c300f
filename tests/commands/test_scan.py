"""``mihomekit scan``: replayed real advertisements → table, mi32cfg, recording, JSON; and the
radio through unmodified bleak and the BlueZ stand-in."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bluez_fake import FakeBluez

from mihomekit.commands import scan
from mihomekit.errors import ConfigError
from mihomekit.mi32cfg import load_mi32cfg
from mihomekit.readings import KeyStatus
from mihomekit.sources.recording import RecordingWriter, read_recording

# (vector id, mac, uuid, data) — real packets from the test vectors in tests/data.
PACKETS = [
    # LYWSD03MMC, MiBeacon v5 encrypted, humidity 46 with key E9EA...
    (
        "xiaomi-ble-021",
        "A4:C1:38:02:83:F4",
        0xFE95,
        "58585b0550f4830238c1a495ef58763c26000097e2abb5",
    ),
    # LYWSD03MMC, encrypted, its key is not known
    (
        "xiaomi-ble-002",
        "A4:C1:38:D4:3C:48",
        0xFE95,
        "58585b0501483cd438c1a49cf255cfdd0000002fae2ff2",
    ),
    # the same device's plain frame without objects
    ("xiaomi-ble-001", "A4:C1:38:D4:3C:48", 0xFE95, "30585b0502483cd438c1a408"),
    # LYWSD03MMC, MiBeacon v3 plain: temperature 27.2, humidity 49
    ("xiaomi-ble-017", "A4:C1:38:B4:94:4C", 0xFE95, "50305b05034c94b438c1a40d10041001ea01"),
    # MJWSD06MMC, encrypted; the mi32cfg below has a wrong key for it
    ("xiaomi-ble-049", "A4:C1:38:80:15:07", 0xFE95, "4859b5553a8699bda053448f1200005b046d6a"),
    # ATC1441 custom firmware: 25.8 °C, 40 %, battery 79
    ("atc1441-002", "A4:C1:38:BC:7C:4E", 0x181A, "a4c138bc7c4e0102284f0b6720"),
    # pvvx custom firmware: 25.1 °C
    ("pvvx_custom-003", "A4:C1:38:63:37:8B", 0x181A, "8b376338c1a4ce0913107f0b521204"),
    # BTHome v2: battery 97
    ("bthome_v2-001", "54:48:E6:8F:80:A5", 0xFCD2, "4000090161"),
    # the v3 thermometer again, closer
    ("xiaomi-ble-017", "A4:C1:38:B4:94:4C", 0xFE95, "50305b05034c94b438c1a40d10041001ea01"),
    # not a frame at all
    ("garbage", "11:22:33:44:55:66", 0xFE95, "0000"),
]
RSSI = [-60, -71, -72, -80, -65, -55, -90, -77, -50, -99]

KEY_021 = "E9EA895FAC7CCA6D30532432A516F3A8"
WRONG_KEY_049 = "00112233445566778899AABBCCDDEEFF"
KNOWN_CFG = (
    f'[{{"MAC":"A4C1380283F4","PID":"055b","key":"{KEY_021}"}},'
    f'{{"MAC":"A4C138801507","PID":"55b5","key":"{WRONG_KEY_049}"}},'
    '{"MAC":"A4C138BC7C4E","PID":"0a1c","key":"","name":"Kitchen","feat":143},'
    '{"MAC":"AABBCCDDEEFF","PID":"01aa","key":""}]'
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mihomekit")
    scan.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["scan", *argv])


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "heard.jsonl"
    with RecordingWriter(path) as writer:
        for i, ((_, mac, uuid, data), rssi) in enumerate(zip(PACKETS, RSSI, strict=True)):
            writer.write(mac, uuid, bytes.fromhex(data), rssi, i * 0.01)
    return path


@pytest.fixture
def known(tmp_path: Path) -> Path:
    path = tmp_path / "known-mi32cfg"
    path.write_text(KNOWN_CFG, encoding="utf-8")
    return path


def run_json(argv: list[str]) -> dict[str, Any]:
    out = io.StringIO()
    assert scan.run(parse([*argv, "--json"]), out=out) == 0
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def by_mac(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["mac"]: row for row in result["devices"]}


def test_replay_json_rows(recording: Path, known: Path) -> None:
    result = run_json(["--replay", str(recording), "--speed", "0", "--mi32cfg", str(known)])
    rows = by_mac(result)
    assert list(rows) == [
        "A4:C1:38:02:83:F4",
        "A4:C1:38:D4:3C:48",
        "A4:C1:38:B4:94:4C",
        "A4:C1:38:80:15:07",
        "A4:C1:38:BC:7C:4E",
        "A4:C1:38:63:37:8B",
        "54:48:E6:8F:80:A5",
    ]
    assert result["advertisements"] == 10
    assert result["undecodable"] == 1

    keyed = rows["A4:C1:38:02:83:F4"]
    assert (keyed["pid_hex"], keyed["model"], keyed["encrypted"]) == ("055b", "LYWSD03MMC", True)
    assert (keyed["key_status"], keyed["key"]) == ("ok", "key ok")
    assert int(keyed["values"]["humidity"]) == 46  # 46.x: the integer truncation is optional
    assert keyed["rssi"] == -60

    locked = rows["A4:C1:38:D4:3C:48"]
    assert locked["key"] == "needs key"  # the plain frame that followed does not hide it
    assert locked["encrypted"] is True
    assert locked["count"] == 2
    assert locked["values"] == {}

    plain = rows["A4:C1:38:B4:94:4C"]
    assert plain["key"] == "no key needed" and plain["encrypted"] is False
    assert plain["values"]["temperature"] == pytest.approx(27.2)
    assert plain["values"]["humidity"] == pytest.approx(49.0)
    assert plain["count"] == 2 and plain["rssi"] == -50  # the latest signal

    wrong = rows["A4:C1:38:80:15:07"]
    assert (wrong["key"], wrong["pid_hex"], wrong["values"]) == ("wrong key", "55b5", {})

    atc = rows["A4:C1:38:BC:7C:4E"]
    assert (atc["pid_hex"], atc["name"], atc["key"]) == ("0a1c", "Kitchen", "no key needed")
    assert atc["values"]["temperature"] == pytest.approx(25.8)
    assert atc["values"]["humidity"] == pytest.approx(40)
    assert atc["values"]["battery"] == 79

    pvvx = rows["A4:C1:38:63:37:8B"]
    assert pvvx["pid_hex"] == "944a"
    assert pvvx["values"]["temperature"] == pytest.approx(25.1)

    bthome = rows["54:48:E6:8F:80:A5"]
    assert bthome["pid_hex"] == "b770"
    assert bthome["values"]["battery"] == 97


def test_replay_text_table_printed_once(
    recording: Path, known: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    assert (
        scan.run(
            parse(["--replay", str(recording), "--speed", "0", "--mi32cfg", str(known)]), out=out
        )
        == 0
    )
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0].split()[:7] == ["MAC", "PID", "MODEL", "RSSI", "ENCRYPTED", "KEY", "FRAMES"]
    assert "\x1b[" not in text  # not a terminal: no redrawing
    assert text.count("MAC ") == 1
    row = next(line for line in lines if line.startswith("A4:C1:38:02:83:F4"))
    assert "055b" in row and "LYWSD03MMC" in row and "key ok" in row and "humidity=46" in row
    assert any("needs key" in line for line in lines if line.startswith("A4:C1:38:D4:3C:48"))
    assert any("wrong key" in line for line in lines if line.startswith("A4:C1:38:80:15:07"))
    kitchen = next(line for line in lines if line.startswith("A4:C1:38:BC:7C:4E"))
    assert "(Kitchen)" in kitchen and "0a1c" in kitchen
    assert lines[-1] == "7 devices, 10 advertisements, 1 not decodable"
    assert capsys.readouterr().err == ""


def test_write_merges_into_existing_file_in_tasmota_format(
    recording: Path, known: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mi32cfg"
    existing = (
        '[{"MAC":"582D3412ABCD","PID":"01aa","key":""},'
        '{"MAC":"A4C138B4944C","PID":"055b","key":""}]'
    )
    target.write_text(existing, encoding="utf-8")
    argv = [
        "--replay",
        str(recording),
        "--speed",
        "0",
        "--mi32cfg",
        str(known),
        "--write",
        str(target),
    ]
    assert scan.run(parse(argv), out=io.StringIO()) == 0
    assert target.read_text(encoding="utf-8") == (
        "["
        '{"MAC":"582D3412ABCD","PID":"01aa","key":""},'
        '{"MAC":"A4C138B4944C","PID":"055b","key":""},'
        f'{{"MAC":"A4C1380283F4","PID":"055b","key":"{KEY_021}"}},'
        '{"MAC":"A4C138D43C48","PID":"055b","key":""},'
        f'{{"MAC":"A4C138801507","PID":"55b5","key":"{WRONG_KEY_049}"}},'
        '{"MAC":"A4C138BC7C4E","PID":"0a1c","key":"","name":"Kitchen","feat":143},'
        '{"MAC":"A4C13863378B","PID":"944a","key":""},'
        '{"MAC":"5448E68F80A5","PID":"b770","key":""}'
        "]"
    )
    entries = load_mi32cfg(target)
    assert [e.mac for e in entries][:2] == ["582D3412ABCD", "A4C138B4944C"]
    assert entries[2].key == bytes.fromhex(KEY_021)
    assert "wrote 8 devices (6 new)" in capsys.readouterr().err

    # a second run adds nothing and keeps the file as it is
    before = target.read_text(encoding="utf-8")
    assert scan.run(parse(argv), out=io.StringIO()) == 0
    assert target.read_text(encoding="utf-8") == before
    assert "(0 new)" in capsys.readouterr().err


def test_write_fills_a_missing_key_from_mi32cfg(
    recording: Path, known: Path, tmp_path: Path
) -> None:
    target = tmp_path / "mi32cfg"
    target.write_text('[{"MAC":"A4C1380283F4","PID":"055b","key":""}]', encoding="utf-8")
    argv = [
        "--replay",
        str(recording),
        "--speed",
        "0",
        "--mi32cfg",
        str(known),
        "--write",
        str(target),
    ]
    assert scan.run(parse(argv), out=io.StringIO()) == 0
    first = load_mi32cfg(target)[0]
    assert (first.mac, first.key) == ("A4C1380283F4", bytes.fromhex(KEY_021))


def test_write_files_devices_without_a_product_id_under_their_ids(tmp_path: Path) -> None:
    """Qingping sensors go in as the CGD1 (0576), b-parasite as pvvx (944a), as Tasmota
    files them; the pink HHCCJCY10 under mihomekit's own id (fd50)."""
    heard = tmp_path / "heard.jsonl"
    with RecordingWriter(heard) as writer:
        # qingping-001: CGP1W, 19.0 °C, 52.5 %, 984.2 hPa, battery 87
        writer.write(
            "58:2D:34:40:1C:6F",
            0xFDCD,
            bytes.fromhex("08096f1c40342d580104be000d0207027226020157"),
            -60,
            0.0,
        )
        # bparasite-v2-lux
        writer.write(
            "F0:CA:F0:CA:02:01",
            0x181A,
            bytes.fromhex("110b0aa1542cbca1fffff0caf0ca02010042"),
            -61,
            0.01,
        )
        # xiaomi-ble-035: HHCCJCY10
        writer.write("DC:23:4D:E5:5B:FC", 0xFD50, bytes.fromhex("0e006e0134a428005b"), -62, 0.02)
    target = tmp_path / "mi32cfg"
    argv = ["--replay", str(heard), "--speed", "0", "--write", str(target)]
    assert scan.run(parse(argv), out=io.StringIO()) == 0
    assert target.read_text(encoding="utf-8") == (
        '[{"MAC":"582D34401C6F","PID":"0576","key":""},'
        '{"MAC":"F0CAF0CA0201","PID":"944a","key":""},'
        '{"MAC":"DC234DE55BFC","PID":"fd50","key":""}]'
    )


def test_write_without_devices_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("# nothing heard\n", encoding="utf-8")
    target = tmp_path / "mi32cfg"
    assert scan.run(parse(["--replay", str(empty), "--write", str(target)]), out=io.StringIO()) == 0
    assert not target.exists()
    assert "nothing written" in capsys.readouterr().err


def test_record_writes_every_advertisement(recording: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.jsonl"
    argv = ["--replay", str(recording), "--speed", "0", "--record", str(copy)]
    assert scan.run(parse(argv), out=io.StringIO()) == 0
    again = read_recording(copy)
    original = read_recording(recording)
    assert [(r.mac, r.uuid, r.data, r.rssi) for r in again] == [
        (r.mac, r.uuid, r.data, r.rssi) for r in original
    ]
    times = [r.t for r in again]
    assert times == sorted(times) and times[0] >= 0
    # each line is the documented shape
    first = json.loads(copy.read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"t", "mac", "uuid", "data", "rssi"}
    assert first["uuid"] == "fe95" and first["mac"] == "A4:C1:38:02:83:F4"


def test_seconds_limits_a_replay(tmp_path: Path) -> None:
    path = tmp_path / "slow.jsonl"
    with RecordingWriter(path) as writer:
        writer.write("A4:C1:38:BC:7C:4E", 0x181A, bytes.fromhex(PACKETS[5][3]), -55, 0.0)
        writer.write("54:48:E6:8F:80:A5", 0xFCD2, bytes.fromhex(PACKETS[7][3]), -77, 60.0)
    result = run_json(["--replay", str(path), "--seconds", "0.2"])
    assert [row["mac"] for row in result["devices"]] == ["A4:C1:38:BC:7C:4E"]


async def advertise_packets_while(bluez: FakeBluez, running: Callable[[], bool]) -> None:
    """The recorded sensors keep advertising (RSSI wavering) while ``running()``."""
    n = 0
    while running():
        for (_, mac, uuid, data), rssi in zip(PACKETS, RSSI, strict=True):
            bluez.advertise(mac, service_data={uuid: bytes.fromhex(data)}, rssi=rssi - n % 2)
        n += 1
        await asyncio.sleep(0.05)


async def test_scan_with_the_radio_adapter(tmp_path: Path, known: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        out = io.StringIO()
        args = parse(
            ["--seconds", "1.5", "--active", "--adapter", "hci0", "--mi32cfg", str(known), "--json"]
        )
        done = asyncio.ensure_future(asyncio.to_thread(scan.run, args, out=out))
        await advertise_packets_while(bluez, lambda: not done.done())
        assert await done == 0
        starts = bluez.called("StartDiscovery")
        assert [c.path for c in starts] == ["/org/bluez/hci0"]
        assert not bluez.called("RegisterMonitor")
    result = json.loads(out.getvalue())
    rows = by_mac(result)
    assert len(rows) == 7
    assert rows["A4:C1:38:02:83:F4"]["key"] == "key ok"
    assert rows["A4:C1:38:BC:7C:4E"]["receivers"]["local"] in (-55, -56)  # RSSI wavers
    (radio,) = result["sources"]
    assert (radio["kind"], radio["name"], radio["last_error"]) == ("ble", "hci0", None)


async def test_no_adapter_is_a_clear_message_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeBluez.running(tmp_path, adapters=()):
        out = io.StringIO()
        assert await asyncio.to_thread(scan.run, parse(["--seconds", "1"]), out=out) == 1
    err = capsys.readouterr().err
    assert "no Bluetooth adapter found (BlueZ lists no adapter)" in err
    assert "Traceback" not in err
    assert out.getvalue() == ""


async def test_scan_shows_why_the_radio_stopped_and_hears_again(tmp_path: Path) -> None:
    async with FakeBluez.running(tmp_path) as bluez:
        table = scan.ScanTable()
        options = scan.ScanOptions(seconds=60, adapter="hci0")
        task = asyncio.ensure_future(scan.scan(options, table, out=io.StringIO()))
        try:
            await bluez.wait_for(lambda: bool(bluez.active_monitors()))
            (radio,) = table.sources
            await bluez.crash()
            await bluez.wait_for(lambda: not radio.connected)
            assert "ble hci0: not connected" in table.render()
            assert "last error: bluetoothd is not running" in table.render()
            await bluez.start_daemon()
            heard = asyncio.ensure_future(
                advertise_packets_while(bluez, lambda: len(table.rows) < 7)
            )
            await asyncio.wait_for(heard, 10)
            assert radio.connected
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def test_bad_replay_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 0, "mac": "A4:C1:38:BC:7C:4E", "uuid": "181a", "data": "00"}\nnope\n')
    with pytest.raises(ConfigError, match="line 2"):
        scan.run(parse(["--replay", str(bad)]), out=io.StringIO())


def test_passive_and_active_exclude_each_other() -> None:
    assert parse(["--passive"]).scan_mode == "passive"
    assert parse([]).scan_mode == "auto"
    with pytest.raises(SystemExit):
        parse(["--passive", "--active"])
    with pytest.raises(SystemExit):
        parse(["--seconds", "0"])


def test_scan_table_keeps_rows_and_key_status() -> None:
    table = scan.ScanTable()
    _, mac, uuid, data = PACKETS[1]
    row = table.ingest(mac, uuid, bytes.fromhex(data), -70, 1.0)
    assert row is not None and row.key_status is KeyStatus.MISSING
    _, mac, uuid, data = PACKETS[2]
    same = table.ingest(mac, uuid, bytes.fromhex(data), None, 2.5)
    assert same is row
    assert row.key_status is KeyStatus.MISSING and row.rssi == -70 and row.last_seen == 2.5
    assert table.ingest("11:22:33:44:55:66", 0xFE95, b"\x00\x00", -40, 3.0) is None
    assert table.undecodable == 1
    rendered = table.render(now=4.0)
    assert "AGE" in rendered.splitlines()[0]
    assert "2s" in rendered.splitlines()[1]
    assert scan.ScanTable().render() == "no Xiaomi devices heard (0 advertisements)"


def test_live_display_redraws_in_place() -> None:
    out = io.StringIO()
    display = scan.LiveDisplay(out)
    display.show("a\nb")
    assert out.getvalue() == "a\nb\n"
    display.show("c\nd\ne")
    assert out.getvalue() == "a\nb\n\x1b[2F\x1b[Jc\nd\ne\n"


def test_format_values_order() -> None:
    assert scan.format_values({"battery": 5, "humidity": 40.5, "temperature": 21.0, "a": True}) == (
        "temperature=21 humidity=40.5 battery=5 a=yes"
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_live_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "REFRESH_SECONDS", 0.05)
    path = tmp_path / "two.jsonl"
    with RecordingWriter(path) as writer:
        writer.write("A4:C1:38:BC:7C:4E", 0x181A, bytes.fromhex(PACKETS[5][3]), -55, 0.0)
        writer.write("54:48:E6:8F:80:A5", 0xFCD2, bytes.fromhex(PACKETS[7][3]), -77, 0.3)
    out = Terminal()
    assert scan.run(parse(["--replay", str(path)]), out=out) == 0
    text = out.getvalue()
    draws = text.count("MAC ")
    assert draws >= 3  # redrawn while listening, and once more at the end
    assert text.count("\x1b[J") == draws - 1
    last = text.rsplit("\x1b[J", 1)[1]
    assert "54:48:E6:8F:80:A5" in last and "A4:C1:38:BC:7C:4E" in last
    assert "AGE" in last.splitlines()[0]


def test_replay_shows_which_receivers_hear_each_device(tmp_path: Path) -> None:
    path = tmp_path / "receivers.jsonl"
    _, mac, uuid, data = PACKETS[3]  # the MiBeacon v3 thermometer
    with RecordingWriter(path) as writer:
        writer.write(mac, uuid, bytes.fromhex(data), -81, 0.0, "kitchen-proxy")
        writer.write(mac, uuid, bytes.fromhex(data), -58, 0.01, "attic-relay")
        writer.write(mac, uuid, bytes.fromhex(data), -90, 0.02)
    row = by_mac(run_json(["--replay", str(path), "--speed", "0"]))[mac]
    assert row["receivers"] == {"kitchen-proxy": -81, "attic-relay": -58, "local": -90}
    assert row["rssi"] == -58
    out = io.StringIO()
    assert scan.run(parse(["--replay", str(path), "--speed", "0"]), out=out) == 0
    header, line = out.getvalue().splitlines()[:2]
    assert "RECEIVERS" in header
    assert "attic-relay -58, kitchen-proxy -81, local -90" in line
