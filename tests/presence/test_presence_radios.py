"""Presence end to end: a tag with a fixed address, an iBeacon and a phone's resolvable
private address (made with a known IRK) turn their OccupancySensors on when heard and off
after ``away_after``, through the local radio (bleak against the BlueZ stand-in, passive
scanning), through a fake ESPHome proxy and through ``mihomekit relay`` on another host
(bleak and the stand-in there, a real mosquitto between), as a paired HomeKit controller
sees it.

The bridge is the one ``mihomekit run`` builds from the settings, in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from bluez_fake import FakeBluez
from bridge_helpers import planned_app
from esphome_fake import Entry, FakeProxy
from homekit_helpers import AccessoryView, EventLog, controller_on_loopback, pair
from mosquitto import HOST, Mosquitto
from mqtt_helpers import settings as mqtt_settings
from mqtt_helpers import until as wait_until
from presence_helpers import APPLE, ibeacon_data, make_rpa
from run_helpers import settings_args

from mihomekit.app import App
from mihomekit.commands.relay import Relay
from mihomekit.presence.tracker import presence_id
from mihomekit.settings import parse_settings
from mihomekit.sources.esphome.ad import build_ad

pytestmark = pytest.mark.timeout(90)

TAG = "C8:FD:19:12:34:56"
BEACON_MAC = "D0:11:22:33:44:55"
BEACON_UUID = "fda50693-a4e2-4fb1-afcf-c6eb07647825"
IRK = bytes.fromhex("5f3a9c01d2e84b67a0c3f1e2d4b59687")
PHONE = make_rpa(IRK, 0x1A2B3C)
STRANGER = make_rpa(bytes(16), 0x1A2B3C)  # another phone
AWAY = 1.0
#: Apple "nearby" data a phone sends (no iBeacon).
NEARBY = bytes.fromhex("100501184400")

SETTINGS = f"""
[[presence]]
name = "Keys"
mac = "{TAG}"
away_after = {AWAY}

[[presence]]
name = "Beacon"
ibeacon = "{BEACON_UUID}:1:2"
away_after = {AWAY}

[[presence]]
name = "Phone"
irk = "{IRK.hex()}"
away_after = {AWAY}

[web]
enabled = false
"""

#: ``send(mac, manufacturer data, rssi)``: one advertisement through the radio under test.
Send = Callable[[str, dict[int, bytes], int], None]
#: How many advertisements the radio has heard (all of them, before any filtering).
Heard = Callable[[App], int]
Radio = tuple[str, Send, Heard]


def _fed(app: App) -> int:
    return app.advertisements.fed


@contextlib.asynccontextmanager
async def local_radio(tmp_path: Path, bluez: FakeBluez) -> AsyncIterator[Radio]:
    def send(mac: str, makers: dict[int, bytes], rssi: int) -> None:
        bluez.advertise(mac, manufacturer_data=makers, rssi=rssi, name="tag")

    yield '[ble]\nadapter = "hci0"\n', send, _fed


@contextlib.asynccontextmanager
async def esphome_radio(tmp_path: Path, bluez: FakeBluez) -> AsyncIterator[Radio]:
    async with FakeProxy(name="attic", mac="AA:BB:CC:00:00:01") as proxy:

        def send(mac: str, makers: dict[int, bytes], rssi: int) -> None:
            data = build_ad(manufacturer_data=makers, name="tag")
            proxy.send_batch([Entry(int(mac.replace(":", ""), 16), rssi, data)])

        settings = f'[ble]\nenabled = false\n[[esphome]]\nhost = "127.0.0.1"\nport = {proxy.port}\n'
        yield settings, send, _fed


@contextlib.asynccontextmanager
async def relay_radio(tmp_path: Path, bluez: FakeBluez) -> AsyncIterator[Radio]:
    """``mihomekit relay`` with the same ``[[presence]]`` entries: it forwards what they
    want, and nothing else."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    relay = Relay(
        mqtt_settings(broker, "mihomekit-relay-hall"),
        "hall",
        presence=parse_settings(SETTINGS).presence,
        backoff_min=0.05,
        backoff_max=0.2,
        timeout=3.0,
    )
    try:
        await relay.start()
        await wait_until(lambda: relay.connection.connected, "the relay's connection")

        def send(mac: str, makers: dict[int, bytes], rssi: int) -> None:
            bluez.advertise(mac, manufacturer_data=makers, rssi=rssi, name="tag")

        settings = (
            f'[ble]\nenabled = false\n[mqtt]\nhost = "{HOST}"\nport = {broker.port}\n'
            '[[mqtt_receivers]]\ntopic = "mihomekit/relay/+/adv/#"\nformat = "mihomekit"\n'
        )
        yield settings, send, lambda app: relay.adapter.stats.advertisements
        heard = relay.adapter.stats.advertisements
        assert heard > relay.relayed > 0, (heard, relay.relayed)
    finally:
        await relay.stop()
        broker.stop()


@pytest.mark.parametrize(
    "radio", [local_radio, esphome_radio, relay_radio], ids=["local", "esphome", "relay"]
)
async def test_tags_beacons_and_phones_come_and_go(
    tmp_path: Path,
    bluez: FakeBluez,
    radio: Callable[..., contextlib.AbstractAsyncContextManager[Radio]],
) -> None:
    async with radio(tmp_path, bluez) as (radio_settings, send, heard_by):
        path = tmp_path / "mihomekit.toml"
        path.write_text(radio_settings + SETTINGS, encoding="utf-8")
        entries = parse_settings(SETTINGS).presence
        app = planned_app(settings_args(path, tmp_path / "state"))
        await app.start()
        try:
            async with controller_on_loopback() as controller:
                pairing = await pair(controller, app.driver.state.mac, app.setup_code)
                view = AccessoryView(await pairing.list_accessories_and_characteristics())
                occupancy, active = {}, {}
                for entry in entries:
                    aid = view.aid_by_serial(presence_id(entry))
                    assert view.info(aid)["Name"] == entry.name
                    occupancy[entry.name] = (
                        aid,
                        view.iid(aid, "OccupancySensor", "OccupancyDetected"),
                    )
                    active[entry.name] = (aid, view.iid(aid, "OccupancySensor", "StatusActive"))
                # never seen: not detected, and not active (never seen is not "away")
                start = await pairing.get_characteristics([*occupancy.values(), *active.values()])
                assert {start[k]["value"] for k in occupancy.values()} == {0}
                assert {start[k]["value"] for k in active.values()} == {False}
                log = EventLog()
                pairing.dispatcher_connect(log)
                await pairing.subscribe([*occupancy.values(), *active.values()])

                loop = asyncio.get_running_loop()

                async def advertise(
                    until: Callable[[], bool], targets: list[tuple[str, dict[int, bytes]]]
                ) -> None:
                    n = 0
                    deadline = loop.time() + 20
                    while not until():
                        assert loop.time() < deadline, log.events
                        for mac, makers in targets:
                            send(mac, makers, -60 - n % 2)
                        n += 1
                        await asyncio.sleep(0.05)

                def on(name: str) -> bool:
                    return 1 in log.values(occupancy[name])

                await advertise(
                    lambda: all(on(n) for n in occupancy),
                    [
                        (TAG, {0x0059: b"\x01\x02"}),
                        (BEACON_MAC, {APPLE: ibeacon_data(BEACON_UUID, 1, 2)}),
                        (PHONE, {APPLE: NEARBY}),
                    ],
                )
                for name in occupancy:
                    await log.wait_for(active[name], True)
                if radio is not esphome_radio:
                    # passive scanning listens for the Flags of every advertisement, and
                    # for Apple's manufacturer data
                    patterns = [p for monitor in bluez.active_monitors() for p in monitor]
                    assert (0, 0x01, b"\x06") in patterns, patterns
                    assert (0, 0xFF, b"\x4c\x00") in patterns, patterns
                # silence: each goes away after away_after
                for name in occupancy:
                    await log.wait_for(occupancy[name], 0, timeout=10)
                # others are heard: another phone, another beacon of the same UUID, another tag
                heard = heard_by(app)
                forwarded = app.advertisements.fed
                await advertise(
                    lambda: heard_by(app) > heard + 30,
                    [
                        (STRANGER, {APPLE: NEARBY}),
                        (BEACON_MAC, {APPLE: ibeacon_data(BEACON_UUID, 1, 3)}),
                        ("C8:FD:19:12:34:57", {0x0059: b"\x01\x02"}),
                    ],
                )
                await asyncio.sleep(0.3)
                for name in occupancy:
                    assert log.values(occupancy[name]) == [1, 0], (name, log.events)
                    assert log.values(active[name]) == [True]  # away stays active
                if radio is relay_radio:  # the relay kept the others off the broker
                    assert app.advertisements.fed == forwarded
                await pairing.close()
        finally:
            await app.stop()
