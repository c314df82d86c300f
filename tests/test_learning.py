"""What a model learns from what its device reports: readings HomeKit can show, the battery,
buttons that send presses; in a fixed order; and what is restored from the saved state."""

from __future__ import annotations

from mihomekit.catalog import DeviceModel, by_model, lookup
from mihomekit.learning import (
    LEARNABLE,
    button_count,
    buttons_weighed,
    learned_button,
    learned_readings,
    learns_buttons,
    new_capabilities,
    restored,
    shown_readings,
    with_learned,
)
from mihomekit.readings import Event
from mihomekit.vocabulary import HOMEKIT_SENSORS

BTHOME = lookup(0xB770)
PVVX = lookup(0x944A)
assert BTHOME is not None and PVVX is not None


def test_homekit_sensors_and_the_battery_are_learnable_nothing_else() -> None:
    assert {r.name for r in HOMEKIT_SENSORS} | {"battery", "low_battery"} == LEARNABLE
    weighed: set[str] = set()
    names = ["voltage", "rssi", "pressure", "temperature_2", "count", "power", "firmware"]
    assert new_capabilities(BTHOME, names, (), weighed) == ()
    assert weighed == set(names)


def test_one_reading_learns_in_the_order_the_catalog_adds_services() -> None:
    weighed: set[str] = set()
    frame = ["battery", "packet_id", "humidity", "temperature"]
    assert new_capabilities(BTHOME, frame, (), weighed) == ("temperature", "humidity", "battery")
    # What was weighed is not weighed again, even if the model did not change.
    assert new_capabilities(BTHOME, frame, (), weighed) == ()


def test_a_model_learns_only_what_it_does_not_list() -> None:
    weighed: set[str] = set()
    bparasite = ["temperature", "humidity", "moisture", "voltage", "illuminance"]
    assert new_capabilities(PVVX, bparasite, (), weighed) == ("moisture", "illuminance")
    learned = with_learned(PVVX, ("moisture", "illuminance"))
    assert learned.learned == ("moisture", "illuminance")
    assert shown_readings(learned) == PVVX.measures | {"moisture", "illuminance"}
    assert new_capabilities(learned, ["moisture", "opening"], (), set()) == ("opening",)


def test_one_battery_service_shows_both_battery_readings() -> None:
    assert new_capabilities(PVVX, ["low_battery"], (), set()) == ()  # PVVX lists battery
    assert new_capabilities(BTHOME, ["low_battery", "battery"], (), set()) == ("low_battery",)
    model = with_learned(BTHOME, ("low_battery",))
    assert new_capabilities(model, ["battery"], (), set()) == ()


def test_buttons_that_send_presses_are_learned_by_models_without_switches() -> None:
    assert learns_buttons(BTHOME)
    weighed: set[str] = set()
    events = (Event("press", 2), Event("triple_press", 3), Event("long_press", 1))
    assert not buttons_weighed(events, weighed)
    assert new_capabilities(BTHOME, ["battery"], events, weighed) == (
        "battery",
        "button_1",
        "button_2",
    )
    assert buttons_weighed(events, weighed)
    model = with_learned(BTHOME, ("battery", "button_1", "button_2"))
    assert button_count(model) == 2
    assert learned_readings(model) == ("battery",)
    assert learned_button("button_2") == 2 and learned_button("battery") is None
    # Hostile button numbers grow nothing.
    assert new_capabilities(BTHOME, [], (Event("press", 200), Event("press", 0)), set()) == ()


def test_models_with_switches_of_their_own_learn_no_buttons() -> None:
    remote = by_model("YLYK01YL")
    assert remote is not None and remote.buttons > 0
    assert not learns_buttons(remote)
    weighed: set[str] = set()
    assert new_capabilities(remote, [], (Event("press", 9),), weighed) == ()
    assert buttons_weighed((Event("press", 9),), weighed)  # weighed once, not again


def test_restored_keeps_what_is_still_a_capability() -> None:
    saved: list[object] = ["temperature", "button_1", "voltage", 7, "temperature", "button_99"]
    assert restored(BTHOME, saved).learned == ("temperature", "button_1")
    # The catalog lists it by now: nothing to learn.
    assert restored(PVVX, ["temperature", "battery"]) is PVVX
    assert restored(PVVX, ["moisture"]).learned == ("moisture",)
    remote = by_model("YLYK01YL")
    assert remote is not None and restored(remote, ["button_1"]) is remote


def test_learned_is_not_part_of_any_catalog_entry() -> None:
    assert all(m.learned == () for m in (BTHOME, PVVX))
    assert DeviceModel("X", "X").learned == ()
