"""One broker message must not make the bridge grow: a retained ``bridge/devices`` with
5,000 made-up devices, from anyone who may publish on the broker.

At most ``[zigbee2mqtt] max_devices`` devices are taken (the known ones first), at most
``[bridge] max_bridges`` bridges are served, what is left out is counted on the dashboard
and in ``/metrics`` and never saved, and the paired controller keeps being answered
while the list is read. Plus the pure parts: the list read entry by entry, and numbers
outside their physical range.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from homekit_helpers import controller_on_loopback, pair
from mosquitto import HOST, Mosquitto
from z2m_helpers import BRIDGED, DOOR, SourceSlot, make_app, until
from z2m_simulator import Z2mSimulator, load_devices

from mihomekit.commands.run import web_output
from mihomekit.outputs.web.server import WebOutput
from mihomekit.sources.zigbee2mqtt.devices import (
    NotAnArray,
    cap_devices,
    iter_json_array,
    parse_devices,
)
from mihomekit.sources.zigbee2mqtt.exposes import map_exposes
from mihomekit.sources.zigbee2mqtt.state import ActionGate, apply_state

pytestmark = pytest.mark.timeout(300)

SETUP_CODE = "182-11-234"  # the helpers' MAC B8:27:EB:12:34:56
FAKES = 5000


def made_up(count: int) -> list[dict[str, Any]]:
    """``count`` contact sensors that do not exist."""
    template = next(d for d in load_devices() if d["ieee_address"] == DOOR)
    devices = []
    for index in range(count):
        device = copy.deepcopy(template)
        device["ieee_address"] = f"0xfeed{index:012x}"
        device["friendly_name"] = f"made up {index}"
        devices.append(device)
    return devices


async def http_get(port: int, path: str) -> str:
    """A page of the dashboard on 127.0.0.1:``port`` (plain HTTP/1.0)."""
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        text = (await reader.read()).decode()
        writer.close()
    return text


web = web_output(port=0, password_hash=None)


async def test_five_thousand_made_up_devices(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    sim = Z2mSimulator(HOST, mosquitto.port)
    await sim.start()
    slot = SourceSlot()
    app = make_app(tmp_path, mosquitto, slot, outputs=[web])
    await app.start()
    reads = failures = 0
    stop = asyncio.Event()
    try:
        await until(lambda: app.registry.get(DOOR) is not None, "the real devices")
        source = slot.source
        assert source is not None
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, SETUP_CODE)

            async def keep_reading() -> None:
                nonlocal reads, failures
                while not stop.is_set():
                    try:
                        values = await asyncio.wait_for(pairing.get_characteristics([(1, 2)]), 10)
                    except (TimeoutError, OSError):
                        failures += 1
                    else:
                        assert (1, 2) in values
                        reads += 1
                    await asyncio.sleep(0.05)

            reader = asyncio.create_task(keep_reading())
            real = [d for d in load_devices() if d["ieee_address"] in BRIDGED]
            listing = made_up(FAKES // 2) + real + made_up(FAKES)[FAKES // 2 :]
            await sim.raw("bridge/devices", json.dumps(listing), retain=True)
            await until(
                lambda: (
                    source.status.over_cap.get("zigbee2mqtt.max_devices") == FAKES + len(real) - 500
                    and source._reading is None
                ),
                "the list to be read",
                timeout=240,
            )
            before = reads
            await asyncio.sleep(0.5)
            stop.set()
            await reader
            assert failures == 0
            assert reads > before  # still answered after the list
            await pairing.close()

        assert len(app.hubs) <= app.config.max_bridges == 8
        assert len(source.devices) == 500
        assert all(ieee in source.devices for ieee in BRIDGED)  # the known ones stay
        left_out = {d.ieee for d in source.over_cap}
        assert len(left_out) == FAKES + len(real) - 500
        children = [p for p in tmp_path.iterdir() if p.name.startswith("bridge-")]
        assert len(children) == len(app.hubs) - 1
        saved = (tmp_path / "bridge.json").read_text() + "".join(
            (child / "bridge.json").read_text() for child in children
        )
        assert not any(ieee in saved for ieee in left_out)  # never saved
        named = [r for r in caplog.records if "max_devices" in r.getMessage()]
        assert len(named) == 1, [r.getMessage() for r in named]
        output = next(o for o in app.outputs if isinstance(o, WebOutput))
        metrics = await http_get(output.port, "/metrics")
        assert f'mihomekit_over_cap{{cap="zigbee2mqtt.max_devices"}} {len(left_out)}' in metrics
        overview = await http_get(output.port, "/")
        assert f"<b>{len(left_out)}</b> Zigbee2MQTT devices were left out" in overview
    finally:
        stop.set()
        await app.stop()
        await sim.stop()


# --------------------------------------------------------------------------- pure parts


def test_the_list_is_read_entry_by_entry() -> None:
    assert list(iter_json_array(' [ {"a": 1} , [2], "x" ] ')) == [{"a": 1}, [2], "x"]
    assert list(iter_json_array("[]")) == []
    for bad in ("[1,", "[1 2]", "[1]x", "[,]"):
        with pytest.raises(ValueError):
            list(iter_json_array(bad))
    for not_array in ("{}", "", "null"):
        with pytest.raises(NotAnArray):
            list(iter_json_array(not_array))


def test_the_cap_keeps_known_devices_first() -> None:
    devices, _ = parse_devices(made_up(10))
    known = {devices[7].ieee, devices[9].ieee}
    taken, over = cap_devices(devices, 3, known)
    assert [d.ieee for d in taken] == [devices[0].ieee, devices[7].ieee, devices[9].ieee]
    assert len(over) == 7 and devices[1] in over


def test_numbers_outside_their_physical_range_are_dropped() -> None:
    def model(name: str) -> dict[str, Any]:
        return next(d for d in load_devices() if (d["definition"] or {}).get("model") == name)

    plug, climate = model("ZNCZ02LM"), model("WSDCGQ11LM")
    for device, payload, kept, dropped in (
        (plug, {"power": 1e308, "state": "ON"}, {"power"}, 1),
        (climate, {"temperature": 4000, "humidity": 55.5, "pressure": -3}, {"humidity"}, 2),
    ):
        mapping = map_exposes(device["definition"]["exposes"])
        result = apply_state(mapping, payload, {}, retained=False, now=0.0, gate=ActionGate())
        assert len(result.out_of_range) == dropped, result
        assert not result.problems
        assert "load_power" not in result.values and "temperature" not in result.values
        assert set(result.values) & {"power", "humidity"} == kept
