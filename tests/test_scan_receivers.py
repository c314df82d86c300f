"""``mihomekit scan`` through the receivers of the settings: a fake ESPHome proxy over TCP."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from esphome_fake import Entry, FakeProxy

from mihomekit.commands import scan
from mihomekit.errors import AdapterError

THERMO_MAC = "A4:C1:38:B4:94:4C"
THERMO_27_2 = bytes.fromhex("50305b05034c94b438c1a40d10041001ea01")  # xiaomi-ble-017


def _options(settings: Path) -> scan.ScanOptions:
    return scan.ScanOptions(seconds=1.5, settings=str(settings), radio=False)


async def test_scan_lists_devices_heard_through_a_proxy(tmp_path: Path) -> None:
    async with FakeProxy(name="attic") as proxy:
        settings = tmp_path / "settings.toml"
        settings.write_text(f'[[esphome]]\nhost = "127.0.0.1"\nport = {proxy.port}\n')
        table = scan.ScanTable()

        async def feed() -> None:
            await proxy.wait_subscribed()
            assert proxy.send_batch([Entry.service(THERMO_MAC, THERMO_27_2, rssi=-67)])

        await asyncio.gather(scan.scan(_options(settings), table, out=io.StringIO()), feed())
    (row,) = table.rows
    assert row.mac == THERMO_MAC
    assert row.receivers == {"attic": -67}
    assert row.values["temperature"] == 27.2
    rendered = table.render()
    assert "RECEIVERS" in rendered.splitlines()[0]
    assert "esphome attic: " in rendered
    assert table.to_json()["sources"][0]["advertisements"] == 1


async def test_no_radio_and_no_receiver_is_a_clear_error(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("")
    with pytest.raises(AdapterError, match="no receiver"):
        await scan.scan(_options(settings), scan.ScanTable(), out=io.StringIO())
