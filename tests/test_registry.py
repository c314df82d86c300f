"""The registry: routing by MAC, repeats, replays, counter wrap and device reboot."""

from __future__ import annotations

import struct

import pytest

from mihomekit import decoders
from mihomekit.decoders import build
from mihomekit.decoders.manufacturer import MANUFACTURER_DECODERS
from mihomekit.mi32cfg import DeviceEntry
from mihomekit.readings import DecodeResult, KeyStatus
from mihomekit.registry import (
    REBOOT_CONFIRM,
    RECEIVER_WINDOW,
    REPEAT_WINDOW,
    Device,
    Registry,
    Update,
    counter_is_newer,
)
from mihomekit.sources import SENSOR_COMPANY_IDS, SENSOR_SERVICE_UUIDS, Advertisement

KEY = bytes.fromhex("e9ea895fac7eea6d30532432a516f3a3")
TH = DeviceEntry(mac="A4C138112233", pid=0x055B, key=KEY)
MAC = "A4:C1:38:11:22:33"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _frame(counter: int, temp: float, key: bytes = KEY) -> bytes:
    """An encrypted LYWSD03MMC temperature frame with a 32-bit counter."""
    return build.mibeacon_frame(
        0x055B,
        counter & 0xFF,
        [(0x1004, struct.pack("<h", round(temp * 10)))],
        mac=MAC,
        key=key,
        ext_counter=counter >> 8,
    )


def _updates(device: Device) -> list[Update]:
    """The device's accepted readings from now on (its other news left out)."""
    updates: list[Update] = []
    device.subscribe(lambda event: updates.append(event) if isinstance(event, Update) else None)
    return updates


def _registry() -> tuple[Registry, Clock, list[Update]]:
    clock = Clock()
    registry = Registry(clock=clock)
    device = registry.add_entry(TH)
    return registry, clock, _updates(device)


def test_counter_is_newer_handles_wrap() -> None:
    assert counter_is_newer(2, 1)
    assert not counter_is_newer(1, 2)
    assert not counter_is_newer(5, 5)
    assert counter_is_newer(0, 0xFFFFFFFF)
    assert counter_is_newer(3, 0xFFFFFFF0)
    assert not counter_is_newer(0xFFFFFFF0, 3)


def test_reading_reaches_device_and_listener() -> None:
    registry, clock, updates = _registry()
    result = registry.handle_advertisement(MAC.lower(), 0xFE95, _frame(0x100, 21.5), -70)
    assert result is not None and result.ok
    device = registry.get("A4C138112233")
    assert device is not None
    assert device.values["temperature"] == 21.5
    assert device.last_seen == clock.now
    assert device.rssi == -70
    assert device.key_status is KeyStatus.OK
    assert [u.values["temperature"] for u in updates] == [21.5]


def test_repeated_frame_refreshes_liveness_without_second_update() -> None:
    registry, clock, updates = _registry()
    frame = _frame(0x200, 20.0)
    registry.handle_advertisement(MAC, 0xFE95, frame)
    clock.now += 30
    registry.handle_advertisement(MAC, 0xFE95, frame)
    assert len(updates) == 1
    assert registry.stats["dropped_duplicate"] == 1
    assert registry.get(TH.mac).last_seen == clock.now  # type: ignore[union-attr]


def test_older_counter_is_a_replay() -> None:
    registry, _clock, updates = _registry()
    registry.handle_advertisement(MAC, 0xFE95, _frame(0x300, 20.0))
    registry.handle_advertisement(MAC, 0xFE95, _frame(0x2FF, 25.0))
    assert [u.values["temperature"] for u in updates] == [20.0]
    assert registry.stats["dropped_replay"] == 1


def test_counter_wrap_is_accepted() -> None:
    registry, _clock, updates = _registry()
    registry.handle_advertisement(MAC, 0xFE95, _frame(0xFFFFFFFE, 20.0))
    registry.handle_advertisement(MAC, 0xFE95, _frame(0x00000001, 21.0))
    assert [u.values["temperature"] for u in updates] == [20.0, 21.0]


def test_device_reboot_is_accepted_after_confirming_frames() -> None:
    registry, _clock, updates = _registry()
    registry.handle_advertisement(MAC, 0xFE95, _frame(0x5000, 20.0))
    for i in range(1, REBOOT_CONFIRM + 1):
        registry.handle_advertisement(MAC, 0xFE95, _frame(i, 20.0 + i))
    assert [u.values["temperature"] for u in updates] == [20.0, 20.0 + REBOOT_CONFIRM]
    assert registry.stats["counter_restarts"] == 1
    # ... and from then on the new sequence continues normally.
    registry.handle_advertisement(MAC, 0xFE95, _frame(REBOOT_CONFIRM + 1, 30.0))
    assert updates[-1].values["temperature"] == 30.0


def test_single_old_frames_never_confirm_a_reboot() -> None:
    registry, _clock, updates = _registry()
    registry.handle_advertisement(MAC, 0xFE95, _frame(0x5000, 20.0))
    # Replays that do not form a rising run are all dropped.
    for counter in (0x10, 0x08, 0x20, 0x04, 0x30, 0x02):
        registry.handle_advertisement(MAC, 0xFE95, _frame(counter, 99.0))
    assert len(updates) == 1
    assert registry.stats["dropped_replay"] == 6


def test_wrong_key_gives_no_values_and_marks_device() -> None:
    registry, _clock, updates = _registry()
    result = registry.handle_advertisement(MAC, 0xFE95, _frame(0x10, 20.0, key=bytes(16)))
    assert result is not None and not result.ok
    device = registry.get(TH.mac)
    assert device is not None
    assert device.key_status is KeyStatus.WRONG
    assert device.values == {}
    assert updates == []
    assert registry.stats["dropped_wrong_key"] == 1


def test_plain_frames_cannot_speak_for_a_keyed_device() -> None:
    registry, _clock, updates = _registry()
    plain = build.mibeacon_frame(0x055B, 7, [build.obj_temperature(40.0)], mac=MAC)
    registry.handle_advertisement(MAC, 0xFE95, plain)
    pvvx = build.pvvx_frame(MAC, 40.0, 10.0, 3.0, 50, 1)
    registry.handle_advertisement(MAC, 0x181A, pvvx)
    assert updates == []
    assert registry.stats["dropped_unencrypted"] == 2
    registry.handle_advertisement(MAC, 0xFE95, _frame(0x10, 20.0))
    assert [u.values["temperature"] for u in updates] == [20.0]


def test_unknown_device_is_counted_not_decoded() -> None:
    registry, _clock, _updates = _registry()
    assert registry.handle_advertisement("11:22:33:44:55:66", 0xFE95, b"\x00" * 12) is None
    assert registry.stats["dropped_unknown_device"] == 1


def test_unknown_pid_is_kept_but_not_bridged() -> None:
    registry = Registry()
    device = registry.add_entry(DeviceEntry(mac="A4C138000001", pid=0xFFFE, key=None))
    assert not device.bridged
    assert device.name == "MI_FFFE-000001"


def test_heartbeat_fires_no_events_but_refreshes_values() -> None:
    from mihomekit.catalog import DeviceModel
    from mihomekit.readings import Event

    registry = Registry()
    model = DeviceModel(model="switch", name="Button", measures=frozenset({"battery"}), buttons=1)
    device = registry.add_device("158d0001", model, None, source="zigbee")
    updates = _updates(device)
    registry.ingest("158d0001", {"battery": 90}, [Event("press")], heartbeat=True)
    registry.ingest("158d0001", {}, [Event("press")])
    assert updates[0].events == () and updates[0].values == {"battery": 90}
    assert updates[1].events == (Event("press"),)


def test_listener_error_does_not_stop_ingest(caplog: pytest.LogCaptureFixture) -> None:
    registry, _clock, _seen = _registry()

    def broken(_event: object) -> None:
        raise RuntimeError("boom")

    registry.get(TH.mac).subscribe(broken)  # type: ignore[union-attr]
    for counter, temperature in ((0x40, 20.0), (0x41, 20.5), (0x42, 21.0)):
        registry.handle_advertisement(MAC, 0xFE95, _frame(counter, temperature))
    assert registry.stats["listener_errors"] == 4  # three readings and the key status
    assert registry.get(TH.mac).values["temperature"] == 21.0  # type: ignore[union-attr]
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1  # once, then quiet


# -- receivers -----------------------------------------------------------------------

BT = DeviceEntry(mac="3C2EF5AABBCC", pid=0xB770, key=None)
BT_MAC = "3C:2E:F5:AA:BB:CC"
BUTTON_PRESS = build.bthome_frame([(0x3A, b"\x01")], mac=BT_MAC)  # no packet id


def test_one_frame_heard_by_three_receivers_is_one_update_and_each_rssi_is_kept() -> None:
    registry, clock, updates = _registry()
    frame = _frame(0x200, 22.0)
    for receiver, rssi in (("kitchen", -80), ("attic", -60), ("local", -90)):
        registry.handle(Advertisement(MAC, {0xFE95: frame}, rssi, receiver, clock.now))
        clock.now += 0.05
    assert len(updates) == 1
    device = registry.get("A4C138112233")
    assert device is not None
    assert {name: r.rssi for name, r in device.receivers.items()} == {
        "kitchen": -80,
        "attic": -60,
        "local": -90,
    }
    assert device.best_receiver == "attic"
    assert device.rssi == -60
    assert registry.stats["dropped_duplicate"] == 2


def test_best_receiver_forgets_a_receiver_that_went_quiet() -> None:
    registry, clock, _ = _registry()
    registry.handle(Advertisement(MAC, {0xFE95: _frame(0x300, 20.0)}, -50, "attic"))
    clock.now += RECEIVER_WINDOW + 1
    registry.handle(Advertisement(MAC, {0xFE95: _frame(0x301, 20.1)}, -85, "kitchen"))
    device = registry.get("A4C138112233")
    assert device is not None
    assert device.best_receiver == "kitchen"
    assert device.rssi == -85
    assert device.receivers["attic"].seen == 1000.0


def test_frame_without_counter_repeats_only_within_the_window() -> None:
    registry = Registry(clock=(clock := Clock()))
    device = registry.add_entry(BT)
    updates = _updates(device)
    for receiver in ("a", "b", "c"):  # one press, three receivers
        registry.handle(Advertisement(BT_MAC, {0xFCD2: BUTTON_PRESS}, -70, receiver))
        clock.now += 0.1
    assert [len(u.events) for u in updates] == [1]
    clock.now += REPEAT_WINDOW  # a second press with the very same bytes is news
    registry.handle(Advertisement(BT_MAC, {0xFCD2: BUTTON_PRESS}, -70, "a"))
    assert [len(u.events) for u in updates] == [1, 1]


def test_frame_with_counter_never_comes_back_as_news() -> None:
    registry, clock, updates = _registry()
    frame = _frame(0x400, 19.0)
    registry.handle_advertisement(MAC, 0xFE95, frame, -70, receiver="a")
    clock.now += 10 * REPEAT_WINDOW
    registry.handle_advertisement(MAC, 0xFE95, frame, -70, receiver="b")
    assert len(updates) == 1


def test_sources_forward_exactly_what_the_decoders_read() -> None:
    assert set(SENSOR_SERVICE_UUIDS) == decoders.SERVICE_UUIDS
    assert SENSOR_COMPANY_IDS == decoders.COMPANY_IDS


def test_manufacturer_data_reaches_the_decoder_of_its_company_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, bytes]] = []

    def decoder(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
        seen.append((mac, data))
        return DecodeResult(
            True,
            mac,
            None,
            "BTHome",
            {"temperature": data[0] / 2},
            (),
            None,
            "test",
            False,
            KeyStatus.NOT_NEEDED,
        )

    monkeypatch.setitem(MANUFACTURER_DECODERS, 0xFFFE, decoder)
    registry = Registry(clock=Clock())
    device = registry.add_entry(BT)
    advertisement = Advertisement(BT_MAC, {}, -70, "attic", manufacturer_data={0xFFFE: b"\x2b"})
    registry.handle(advertisement)
    registry.handle(advertisement)  # the same frame again: a repeat
    assert seen == [(BT_MAC, b"\x2b")]
    assert device.values["temperature"] == 21.5
    assert device.best_receiver == "attic"
    unknown = registry.handle_manufacturer_data(BT_MAC, 0x0001, b"\x00")
    assert unknown is not None and not unknown.ok and "0x0001" in (unknown.error or "")


# -- the bus ---------------------------------------------------------------------------


def test_every_change_is_one_event_on_the_bus() -> None:
    """Added, renamed (the owner's name wins over the source's), reachability, updates,
    removed: each is told once, to the registry's listeners and the device's own."""
    from mihomekit.registry import DeviceAdded, DeviceChanged, DeviceRemoved, RegistryEvent
    from mihomekit.sources.gateway.models import device_model

    registry = Registry()
    seen: list[RegistryEvent] = []
    unsubscribe = registry.subscribe(seen.append)
    motion = device_model("sensor_motion.aq2")
    device = registry.add_device("158d0001", motion, "Hall", source="zigbee")
    own: list[object] = []
    device.subscribe(own.append)
    registry.source_renamed("158d0001", "Hallway")
    registry.rename("158d0001", "Front hall")
    registry.source_renamed("158d0001", "Zigbee name")  # the owner's name stays
    assert device.name == "Front hall" and device.source_name == "Zigbee name"
    assert registry.clear_name("158d0001") == "Zigbee name"
    registry.reachability_changed("158d0001")
    registry.ingest("158d0001", {"motion": True})
    registry.remove("158d0001")
    kinds = [
        type(e).__name__ + (f":{e.what}" if isinstance(e, DeviceChanged) else "") for e in seen
    ]
    assert kinds == [
        "DeviceAdded",
        "DeviceChanged:name",
        "DeviceChanged:name",
        "DeviceChanged:name",
        "DeviceChanged:reachable",
        "Update",
        "DeviceRemoved",
    ]
    assert isinstance(seen[0], DeviceAdded) and isinstance(seen[-1], DeviceRemoved)
    assert len(own) == 5  # the device's own listener: its changes and update only
    assert device.listeners == []  # dropped with the device
    unsubscribe()
    registry.add_device("158d0002", motion, None, source="zigbee")
    assert len(seen) == 7


async def test_writes_go_to_the_source_that_controls_the_device() -> None:
    from collections.abc import Mapping

    from mihomekit.errors import ControlError
    from mihomekit.readings import Value
    from mihomekit.sources.gateway.models import device_model

    registry = Registry()
    sent: list[tuple[str, Mapping[str, Value]]] = []

    async def control(device_id: str, values: Mapping[str, Value]) -> None:
        sent.append((device_id, values))

    registry.add_device("158d0009", device_model("plug"), None, source="zigbee", control=control)
    await registry.control("158d0009", {"power": True})
    assert sent == [("158d0009", {"power": True})]
    with pytest.raises(ControlError, match="cannot be controlled"):
        await registry.control("158d0000", {"power": True})


# -- what a device reports beyond its model --------------------------------------------

BTHOME = DeviceEntry(mac="381F8D000001", pid=0xB770, key=None)
BTHOME_MAC = "38:1F:8D:00:00:01"


def _bthome(*objects: tuple[int, bytes]) -> bytes:
    return build.bthome_frame(list(objects), mac=BTHOME_MAC)


def test_a_reading_the_model_does_not_list_extends_it_before_the_update() -> None:
    from mihomekit.registry import DeviceChanged, RegistryEvent

    registry = Registry(clock=Clock())
    device = registry.add_entry(BTHOME)
    seen: list[RegistryEvent] = []
    registry.subscribe(seen.append)
    own: list[object] = []
    device.subscribe(own.append)
    frame = _bthome((0x00, b"\x01"), (0x01, b"\x57"), (0x02, struct.pack("<h", 2137)))
    registry.handle_advertisement(BTHOME_MAC, 0xFCD2, frame)
    assert device.model is not None and device.model.learned == ("temperature", "battery")
    assert [type(e).__name__ for e in seen] == ["DeviceChanged", "Update"]
    assert [type(e).__name__ for e in own] == ["DeviceChanged", "Update"]
    change = seen[0]
    assert isinstance(change, DeviceChanged) and change.what == "model"
    # When told, the device already holds the values of the reading that brought it.
    assert change.device.values["temperature"] == 21.37
    seen.clear()
    registry.handle_advertisement(
        BTHOME_MAC, 0xFCD2, _bthome((0x00, b"\x02"), (0x2D, b"\x01"))
    )  # a window opens
    assert device.model.learned == ("temperature", "battery", "opening")
    assert [type(e).__name__ for e in seen] == ["DeviceChanged", "Update"]


def test_a_device_whose_model_lists_everything_never_changes_its_model() -> None:
    """A LYWSD03MMC's readings are in its model: only the first sight of a name is weighed,
    and the model is never changed."""
    from mihomekit.registry import DeviceChanged

    registry, _clock, updates = _registry()
    device = registry.get(TH.mac)
    assert device is not None
    model = device.model
    changes: list[object] = []
    registry.subscribe(
        lambda e: changes.append(e) if isinstance(e, DeviceChanged) and e.what == "model" else None,
        readings=False,
    )
    for n in range(5):
        registry.handle_advertisement(MAC, 0xFE95, _frame(0x100 + n, 20.0 + n))
    registry.ingest(TH.mac, {"humidity": 40.0, "battery": 90, "voltage": 3.0})
    assert len(updates) == 6
    assert changes == [] and device.model is model
    assert device.weighed == {"temperature", "humidity", "battery", "voltage"}


def test_restored_values_teach_the_model_too() -> None:
    """A device heard before learning existed: its saved values bring their services at
    the first start, before any frame."""
    registry = Registry(clock=Clock())
    device = registry.add_entry(BTHOME)
    registry.restore(device.id, {"humidity": 50.0, "packet_id": 3}, age=60.0)
    assert device.model is not None and device.model.learned == ("humidity",)


def test_a_model_learned_before_comes_back_once() -> None:
    from mihomekit.registry import DeviceChanged

    registry = Registry(clock=Clock())
    device = registry.add_entry(BTHOME)
    changes: list[object] = []
    registry.subscribe(changes.append, readings=False)
    registry.learned_before(device.id, ["opening", "battery", "nonsense"])
    assert device.model is not None and device.model.learned == ("opening", "battery")
    assert len(changes) == 1 and isinstance(changes[0], DeviceChanged)
    registry.learned_before(device.id, ["opening"])  # nothing new: no change
    registry.learned_before("000000000000", ["opening"])  # unknown device: nothing
    assert len(changes) == 1
