"""End to end: fake ESPHome proxies over TCP → the bridge → a paired HomeKit controller.

The bridge gets its proxy sources exactly as ``mihomekit run`` builds them from the
settings (``[[esphome]]``). Five proxies: three healthy ones (plaintext and Noise), one
configured with a wrong key, one whose subscriber slot Home Assistant holds. A real
captured door-open frame at one proxy reaches HomeKit; one frame repeated by three
proxies is one event; a proxy restart recovers by itself; the wrong key and the silent
proxy show in the sources' statuses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from esphome_fake import FEATURE_STATE_AND_MODE, Entry, FakeProxy
from homekit_helpers import AccessoryView, EventLog, controller_on_loopback, free_port, pair

from mihomekit.app import App, AppConfig
from mihomekit.commands.run import esphome_sources
from mihomekit.decoders import build
from mihomekit.mi32cfg import DeviceEntry
from mihomekit.settings import parse_settings
from mihomekit.sources.esphome import proxy as proxy_module

KEY = "px7tsbK3C7bpXHr2OevEV2ZMg/FrNBw2+O2pNPbedtA="
OTHER_KEY = "QRTIErOb/fcE9Ou/QG5O2EXCjVDqq0bP8l1ocs7CfYY="
SETUP_MAC = "B8:27:EB:12:34:56"

# Real captured frames (tests/data/mibeacon-real.json): xiaomi-ble-046, a MCCGQ02HL door
# sensor opening (AES-CCM), and xiaomi-ble-017, a LYWSD03MMC at 27.2 °C.
DOOR = DeviceEntry(
    mac="E4AAEC8121AE", pid=0x098B, key=bytes.fromhex("017e52d2684779298709b117c0a75a7b")
)
DOOR_OPEN = bytes.fromhex("58588b09a3ae2181ecaae40e2c553c040000d28a500c")
THERMO = DeviceEntry(mac="A4C138B4944C", pid=0x055B, key=None)
THERMO_27_2 = bytes.fromhex("50305b05034c94b438c1a40d10041001ea01")
REMOTE = DeviceEntry(mac="F82441000003", pid=0x0153, key=None)


def _settings(ports: dict[str, int]) -> str:
    return f"""
[[esphome]]
host = "127.0.0.1"
port = {ports["attic"]}
name = "attic"

[[esphome]]
host = "127.0.0.1"
port = {ports["garage"]}
encryption_key = "{KEY}"

[[esphome]]
host = "127.0.0.1"
port = {ports["basement"]}

[[esphome]]
host = "127.0.0.1"
port = {ports["shed"]}
encryption_key = "{OTHER_KEY}"

[[esphome]]
host = "127.0.0.1"
port = {ports["loft"]}
"""


@pytest.mark.timeout(120)
async def test_proxies_to_homekit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proxy_module, "SILENCE_LIMIT", 1.0)
    monkeypatch.setattr(proxy_module, "BACKOFF_INITIAL", 0.1)
    monkeypatch.setattr(proxy_module, "BACKOFF_MAX", 0.5)
    fakes = {
        "attic": FakeProxy(name="attic", mac="AA:BB:CC:00:00:01"),
        "garage": FakeProxy.encrypted(KEY, name="garage", mac="AA:BB:CC:00:00:02"),
        "basement": FakeProxy(
            name="basement", mac="AA:BB:CC:00:00:03", feature_flags=33 | FEATURE_STATE_AND_MODE
        ),
        "shed": FakeProxy.encrypted(KEY, name="shed", mac="AA:BB:CC:00:00:04"),
        "loft": FakeProxy(name="loft", mac="AA:BB:CC:00:00:05", slot_taken=True),
    }
    for fake in fakes.values():
        await fake.start()
    settings = parse_settings(_settings({name: fake.port for name, fake in fakes.items()}))
    app = App(
        AppConfig(
            state_dir=tmp_path,
            address="127.0.0.1",
            port=free_port(),
            setup_code_mac=SETUP_MAC,
            entries=[DOOR, THERMO, REMOTE],
            print_setup=False,
            sources=esphome_sources(settings),
        )
    )
    await app.start()
    try:
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, app.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())

            def key(entry: DeviceEntry, service: str, char: str) -> tuple[int, int]:
                aid = view.aid_by_serial(entry.display_mac)
                return aid, view.iid(aid, service, char)

            contact = key(DOOR, "ContactSensor", "ContactSensorState")
            temperature = key(THERMO, "TemperatureSensor", "CurrentTemperature")
            button = key(REMOTE, "StatelessProgrammableSwitch", "ProgrammableSwitchEvent")
            log = EventLog()
            pairing.dispatcher_connect(log)
            await pairing.subscribe([contact, temperature, button])
            for name in ("attic", "garage", "basement"):
                await fakes[name].wait_subscribed()

            # A real door-open frame at one proxy reaches HomeKit.
            assert fakes["attic"].send_batch([Entry.service(DOOR.display_mac, DOOR_OPEN)])
            await log.wait_for(contact, 1)  # 1: contact not detected (open)

            # Three proxies repeat the same frames: one reading, one event each.
            events_before = app.registry.stats["events"]
            press = build.mibeacon_frame(
                REMOTE.pid, 7, [build.obj_button(0, 0)], mac=REMOTE.display_mac, version=3
            )
            for name, rssi in (("attic", -80), ("garage", -55), ("basement", -70)):
                sent = fakes[name].send_batch(
                    [
                        Entry.service(REMOTE.display_mac, press, rssi=rssi),
                        Entry.service(DOOR.display_mac, DOOR_OPEN, rssi=rssi),
                    ]
                )
                assert sent
            await log.wait_for(button, 0)  # single press
            await asyncio.sleep(0.8)  # time for any duplicate to show up
            assert log.values(button) == [0]
            assert log.values(contact) == [1]
            assert app.registry.stats["events"] - events_before == 1
            remote = app.registry.get(REMOTE.mac)
            assert remote is not None
            assert set(remote.receivers) == {"attic", "garage", "basement"}
            assert remote.best_receiver == "garage" and remote.rssi == -55
            assert app.registry.stats["dropped_duplicate"] >= 4

            # The garage proxy restarts; readings flow again without any help.
            await fakes["garage"].restart(downtime=0.3)
            await fakes["garage"].wait_subscribed(timeout=10)
            fakes["garage"].send_batch([Entry.service(THERMO.display_mac, THERMO_27_2)])
            await log.wait_for(temperature, 27.2)

            # Statuses: the wrong key and the silent proxy say why.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while loop.time() < deadline:
                statuses = {s.name: s for s in app.source_statuses()}
                if "loft" in statuses and statuses["loft"].last_error:
                    break
                await asyncio.sleep(0.1)
            # The shed never connected: its status goes by its host.
            assert set(statuses) == {"attic", "garage", "basement", "loft", "127.0.0.1"}
            shed = statuses["127.0.0.1"]
            assert not shed.connected and "wrong encryption key" in (shed.last_error or "")
            loft = statuses["loft"]
            assert loft.connected and "Home Assistant" in (loft.last_error or "")
            for name in ("attic", "garage", "basement"):
                assert statuses[name].connected, statuses[name]
                assert statuses[name].kind == "esphome"
            assert statuses["garage"].errors >= 1  # the lost connection
            await pairing.close()
    finally:
        await app.stop()
        for fake in fakes.values():
            await fake.stop()
