"""Zigbee2MQTT exposes → readings, buttons and controls; state rules; the saved model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from z2m_helpers import CLIMATE, CURTAIN, DOOR, GYRO, LAMP, LEAK, MINI, MOTION, PLUG, WALL
from z2m_simulator import load_devices

from mihomekit.accessories.services import homekit_services
from mihomekit.readings import Event
from mihomekit.sources.zigbee2mqtt.devices import (
    Z2mDevice,
    model_from_json,
    model_to_json,
    parse_devices,
    restored_model,
    saved_entry,
)
from mihomekit.sources.zigbee2mqtt.exposes import map_exposes, parse_action
from mihomekit.sources.zigbee2mqtt.state import ActionGate, apply_state, set_payload, xy_to_hs


@pytest.fixture(scope="module")
def devices() -> dict[str, Z2mDevice]:
    parsed, skipped = parse_devices(load_devices())
    assert {s.reason for s in skipped} == {
        "the coordinator",
        "disabled in Zigbee2MQTT",
        "no definition (unsupported, or still being interviewed)",
    }
    return {d.ieee: d for d in parsed}


def apply(
    device: Z2mDevice,
    payload: dict[str, Any],
    previous: dict[str, Any] | None = None,
    *,
    retained: bool = False,
    now: float = 0.0,
    gate: ActionGate | None = None,
) -> Any:
    return apply_state(
        device.mapping,
        payload,
        previous or {},
        retained=retained,
        now=now,
        gate=gate or ActionGate(),
    )


def test_each_model_maps_from_its_exposes(devices: dict[str, Z2mDevice]) -> None:
    door = devices[DOOR].model
    assert door.measures >= {"opening", "battery", "voltage", "device_temperature"}
    assert door.sleepy and door.vendor == "Aqara"
    assert devices[MOTION].model.measures >= {"motion", "illuminance"}
    assert devices[CLIMATE].model.measures >= {"temperature", "humidity", "pressure"}
    assert devices[LEAK].model.measures >= {"leak", "low_battery"}
    mini = devices[MINI].model
    assert (mini.buttons, mini.button_events) == (
        1,
        ("press", "double_press", "long_press", "triple_press", "quadruple_press"),
    )
    gyro = devices[GYRO].model
    assert gyro.button_events == ("press", "double_press", "long_press", "shake")
    wall = devices[WALL].model
    assert (wall.buttons, wall.button_events) == (3, ("press",))
    assert devices[WALL].mapping.actions == {
        "single_left": (1, "press"),
        "single_right": (2, "press"),
        "single_both": (3, "press"),
    }
    plug = devices[PLUG].model
    assert plug.controls == ("outlet",)
    assert plug.measures >= {"power", "load_power", "energy", "in_use"}
    assert not plug.sleepy
    lamp = devices[LAMP].model
    assert lamp.controls == ("lightbulb",)
    assert lamp.measures >= {"light_on", "brightness", "color_temp", "hue", "saturation"}


def test_unmapped_exposes_say_why(devices: dict[str, Z2mDevice]) -> None:
    plug = {u.property: u.reason for u in devices[PLUG].mapping.unmapped}
    assert plug["power_outage_memory"] == "a configuration setting"
    mini = {u.property: u.reason for u in devices[MINI].mapping.unmapped}
    assert mini["action=release"] == "action value without a HomeKit event"
    lamp = {u.property: u.reason for u in devices[LAMP].mapping.unmapped}
    assert "write-only" in lamp["effect"]
    assert "StatelessProgrammableSwitch x3" in homekit_services(devices[WALL].model)


def test_contact_goes_through_value_on_and_value_off(devices: dict[str, Z2mDevice]) -> None:
    door = devices[DOOR]
    assert apply(door, {"contact": True}).values == {"opening": False}
    assert apply(door, {"contact": False}).values == {"opening": True}
    # 1 is not true: a wrong type is a problem, not a reading.
    result = apply(door, {"contact": 1})
    assert result.values == {} and result.problems
    assert apply(door, {"voltage": 3015}).values == {"voltage": 3.015}


def test_only_changes_are_reported(devices: dict[str, Z2mDevice]) -> None:
    motion = devices[MOTION]
    first = apply(motion, {"occupancy": True, "illuminance": 40, "battery": 100})
    assert first.values == {"motion": True, "illuminance": 40.0, "battery": 100}
    again = apply(motion, {"occupancy": True, "illuminance": 41, "battery": 100}, first.values)
    assert again.values == {"illuminance": 41.0}


def test_action_is_an_edge(devices: dict[str, Z2mDevice]) -> None:
    wall = devices[WALL]
    gate = ActionGate()
    assert apply(wall, {"action": "single_right"}, gate=gate, now=1.0).events == [Event("press", 2)]
    # The same message again at once (a repeat), retained, empty, unknown: nothing.
    assert apply(wall, {"action": "single_right"}, gate=gate, now=1.2).events == []
    retained = apply(wall, {"action": "single_left"}, gate=gate, now=5.0, retained=True)
    assert retained.events == [] and retained.suppressed == 1
    assert apply(wall, {"action": ""}, gate=gate, now=6.0).events == []
    assert apply(wall, {"action": "triple_left"}, gate=gate, now=7.0).events == []
    assert apply(wall, {"action": "single_right"}, gate=gate, now=9.0).events == [Event("press", 2)]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("single", ("single", None)),
        ("double_left", ("double", "left")),
        ("hold_both", ("hold", "both")),
        ("button_2_single", ("single", "2")),
        ("3_double", ("double", "3")),
        ("single_4", ("single", "4")),
        ("rotate_left", ("rotate_left", None)),
        ("brightness_move_up", None),
        ("single_sideways", None),
    ],
)
def test_parse_action(value: str, parsed: tuple[str, str | None] | None) -> None:
    assert parse_action(value) == parsed


def test_writes(devices: dict[str, Z2mDevice]) -> None:
    assert set_payload(devices[PLUG].mapping, {"power": True}) == ({"state": "ON"}, [])
    lamp = devices[LAMP].mapping
    payload, refused = set_payload(
        lamp, {"light_on": True, "brightness": 50, "color_temp": 100, "hue": 120, "saturation": 80}
    )
    assert payload == {
        "state": "ON",
        "brightness": 127,
        "color_temp": 153,  # clamped to what the light takes
        "color": {"hue": 120.0, "saturation": 80.0},
    }
    assert refused == []
    assert set_payload(devices[DOOR].mapping, {"opening": True}) == ({}, ["opening"])


def test_colour_state(devices: dict[str, Z2mDevice]) -> None:
    lamp = devices[LAMP]
    got = apply(lamp, {"state": "ON", "brightness": 127, "color": {"hue": 30, "saturation": 90}})
    assert got.values == {"light_on": True, "brightness": 50, "hue": 30.0, "saturation": 90.0}
    red = apply(lamp, {"color": {"x": 0.7006, "y": 0.2993}}).values
    assert red["hue"] == pytest.approx(0, abs=2) or red["hue"] > 355
    assert red["saturation"] > 90
    assert xy_to_hs(0.3127, 0.3290)[1] < 10  # D65 white: nearly no saturation


def test_curtain_position_and_motor(devices: dict[str, Z2mDevice]) -> None:
    mapping = devices[CURTAIN].mapping
    assert mapping.controls == ("cover",)
    assert homekit_services(devices[CURTAIN].model) == ["BatteryService", "WindowCovering"]
    assert set_payload(mapping, {"position": 40}) == ({"position": 40}, [])
    # OPEN only repeats the position (it never overrides a reported 55 with 100).
    moving = {"position": 55, "state": "OPEN", "motor_state": "closing", "running": True}
    assert apply(devices[CURTAIN], moving).values == {"position": 55.0, "cover_motion": "closing"}
    stop = {"position": 55, "state": "OPEN", "motor_state": "stopped", "running": False}
    previous = {"position": 55.0, "cover_motion": "closing"}
    assert apply(devices[CURTAIN], stop, previous).values == {"cover_motion": "stopped"}
    assert apply(devices[CURTAIN], {"state": "STOP"}, previous).values == {
        "cover_motion": "stopped"
    }
    assert apply(devices[CURTAIN], {"running": False}, previous).values == {
        "cover_motion": "stopped"
    }
    assert apply(devices[CURTAIN], {"motor_state": 3}).problems  # counted, not a crash


def test_multi_channel_switch_and_cover() -> None:
    exposes = [
        {
            "type": "switch",
            "endpoint": "l1",
            "features": [
                {
                    "type": "binary",
                    "name": "state",
                    "property": "state_l1",
                    "access": 7,
                    "value_on": "ON",
                    "value_off": "OFF",
                }
            ],
        },
        {
            "type": "switch",
            "endpoint": "l2",
            "features": [
                {
                    "type": "binary",
                    "name": "state",
                    "property": "state_l2",
                    "access": 7,
                    "value_on": "ON",
                    "value_off": "OFF",
                }
            ],
        },
        {
            "type": "switch",
            "endpoint": "l3",
            "features": [
                {
                    "type": "binary",
                    "name": "state",
                    "property": "state_l3",
                    "access": 7,
                    "value_on": "ON",
                    "value_off": "OFF",
                }
            ],
        },
        {
            "type": "cover",
            "features": [
                {
                    "type": "enum",
                    "name": "state",
                    "property": "state",
                    "access": 3,
                    "values": ["OPEN", "CLOSE", "STOP"],
                },
                {
                    "type": "numeric",
                    "name": "position",
                    "property": "position",
                    "access": 7,
                    "value_min": 0,
                    "value_max": 100,
                },
            ],
        },
        {"type": "lock", "features": []},
        {"type": "mystery", "name": "x", "property": "x", "access": 1},
        "not an object",
    ]
    mapping = map_exposes(exposes)
    assert mapping.controls == ("cover", "switch", "switch_2", "switch_3")
    assert set_payload(mapping, {"power_3": False, "position": 30}) == (
        {"state_l3": "OFF", "position": 30},
        [],
    )
    result = apply_state(
        mapping, {"state_l2": "ON", "position": 55}, {}, retained=False, now=0, gate=ActionGate()
    )
    assert result.values == {"power_2": True, "position": 55.0}
    reasons = {u.property: u.reason for u in mapping.unmapped}
    assert "lock devices are not mapped yet" in reasons.values()
    assert reasons["x"] == "expose type 'mystery' is not mapped"


def test_model_survives_the_state_file(devices: dict[str, Z2mDevice]) -> None:
    for device in devices.values():
        saved = json.loads(json.dumps(saved_entry(device.model)))
        assert restored_model(saved) == device.model
    assert model_from_json({"model": 1}) is None
    assert model_from_json({**model_to_json(devices[DOOR].model), "buttons": "x"}) is None


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {"devices": []},
        [1, "x", None, {"ieee_address": 5}, {"ieee_address": "0xnothex"}],
        [{"ieee_address": "0x00158d0001a2b3c4", "definition": {"exposes": "nope"}}],
        [{"ieee_address": "0x00158d0001a2b3c4", "definition": {"exposes": [{"type": []}]}}],
    ],
)
def test_bad_device_lists_are_skipped_not_fatal(payload: Any) -> None:
    devices, skipped = parse_devices(payload)
    assert devices == []
    assert skipped
