"""Hostile input to the Zigbee2MQTT source: counted, never fatal.

Bad JSON, wrong types, unknown exposes, huge payloads and a flood, through a real
mosquitto; then a good message still gets through. Plus random JSON into the pure parts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mosquitto import HOST, Mosquitto
from z2m_helpers import CLIMATE, DOOR, SourceSlot, make_app, until
from z2m_simulator import Z2mSimulator, load_devices

from mihomekit.sources.zigbee2mqtt.devices import parse_devices
from mihomekit.sources.zigbee2mqtt.exposes import map_exposes
from mihomekit.sources.zigbee2mqtt.state import ActionGate, apply_state

pytestmark = pytest.mark.timeout(120)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "type",
        "name",
        "property",
        "access",
        "value_on",
        "value_off",
        "values",
        "features",
        "category",
        "value_max",
        "value_min",
    ]
)
_expose = st.dictionaries(
    _keys,
    _json
    | st.sampled_from(
        [
            "binary",
            "numeric",
            "enum",
            "switch",
            "light",
            "cover",
            "contact",
            "action",
            "state",
            "brightness",
            "color_xy",
            "occupancy",
        ]
    ),
    max_size=8,
)


@settings(max_examples=120, deadline=None)
@given(
    exposes=st.lists(_expose | _json, max_size=6),
    payload=st.dictionaries(
        st.sampled_from(["contact", "occupancy", "action", "state", "brightness", "color", "x"]),
        _json,
        max_size=5,
    ),
)
def test_random_exposes_and_states_never_raise(exposes: list[Any], payload: dict[str, Any]) -> None:
    mapping = map_exposes(exposes)
    result = apply_state(mapping, payload, {}, retained=False, now=0.0, gate=ActionGate())
    assert isinstance(result.values, dict)
    parse_devices([{"ieee_address": "0x00158d0001a2b3c4", "definition": {"exposes": exposes}}])


async def test_bad_messages_are_counted_and_the_source_carries_on(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    devices = load_devices()
    # An unknown expose type and a device of nothing but unknown exposes.
    devices[1]["definition"]["exposes"].append({"type": "hologram", "name": "h", "access": 1})
    sim = Z2mSimulator(HOST, mosquitto.port, devices=devices)
    await sim.start()
    slot = SourceSlot()
    app = make_app(tmp_path, mosquitto, slot)
    await app.start()
    try:
        await until(lambda: app.registry.get(DOOR) is not None, "the devices")
        source = slot.source
        assert source is not None
        door = sim.name_of(DOOR)
        caplog.set_level(logging.WARNING)
        await sim.raw(door, b"{not json")
        await sim.raw(door, b"[1, 2, 3]")
        await sim.raw(door, json.dumps({"contact": "open", "battery": "full"}))
        await sim.raw(door, b"\xff\xfe\x00")
        await sim.raw(door, b"[" * 100_000 + b"]" * 100_000)  # deep nesting, and huge
        await sim.raw(door, json.dumps({"contact": True, "pad": "x" * 200_000}))
        await sim.raw("bridge/state", b"maybe")
        await sim.raw("bridge/devices", b'{"not": "a list"}')
        await sim.raw("nobody/we/know", b"{}")
        for index in range(3000):  # a flood
            await sim.raw(door, json.dumps({"contact": index % 2 == 0}))
        await sim.state(CLIMATE, temperature=22.5)
        climate = app.registry.get(CLIMATE)
        assert climate is not None
        await until(lambda: climate.values.get("temperature") == 22.5, "a good message")
        stats = source.stats
        assert stats["dropped_bad_json"] >= 2
        assert stats["dropped_not_object"] == 1
        assert stats["dropped_bad_value"] == 2
        assert stats["dropped_too_large"] >= 1
        assert stats["dropped_bad_bridge_state"] == 1
        assert stats["dropped_bad_devices"] == 1
        assert stats["dropped_unknown_device"] >= 1
        assert source.status.errors >= 9
        # The devices are all still there, and warnings were not one per message.
        assert app.registry.get(DOOR) is not None
        assert len([r for r in caplog.records if "zigbee2mqtt" in r.getMessage()]) < 12
        assert "h" in {u.property for u in source.devices[DOOR].mapping.unmapped}
    finally:
        await app.stop()
        await sim.stop()
