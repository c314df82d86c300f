"""The reading vocabulary: every reading named once, used by every output, values rounded
to their precision where they leave (a real HomeKit controller, a real broker)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from bridge_helpers import SETUP_CODE, bridge_config
from homekit_helpers import AccessoryView, EventLog, controller_on_loopback, free_port, pair
from mosquitto import HOST, Mosquitto
from repo import ROOT
from vectors import vectors_dir
from z2m_helpers import mqtt_settings, until

from mihomekit.app import App
from mihomekit.catalog import all_models
from mihomekit.commands.run import mqtt_output
from mihomekit.decoders import bthome_objects as bthome
from mihomekit.decoders import build, decode_advertisement
from mihomekit.decoders import objects as mibeacon
from mihomekit.mi32cfg import DeviceEntry
from mihomekit.sources.gateway import models as gateway_models
from mihomekit.sources.gateway.properties import decode_properties
from mihomekit.sources.zigbee2mqtt import exposes
from mihomekit.vocabulary import (
    DEFAULT_PRECISION,
    HOMEKIT_SENSORS,
    READINGS,
    STALENESS_KINDS,
    info,
    markdown_table,
    rounded,
    rounded_values,
    staleness_kinds,
)

#: Every property a gateway device may send, with a usable value.
_GATEWAY_PROPERTIES = {
    "voltage": 3000,
    "temperature": "2100",
    "humidity": "5000",
    "pressure": "100000",
    "no_close": "60",
    "no_motion": "120",
    "lux": "10",
    "illumination": "400",
    "rgb": 0x64FF0000,
    "final_tilt_angle": "10",
    "bed_activity": "3",
    "inuse": "1",
    "load_power": "1.5",
    "power_consumed": "2",
    "channel_0": "on",
    "channel_1": "on",
    "alarm": "1",
    "density": "3",
}


def _produced_names() -> set[str]:
    """Every value name the decoders, the gateway adapter and Zigbee2MQTT can produce."""
    names: set[str] = set()
    names |= {name for name, _, _ in mibeacon.SCALARS.values()}
    names |= set(mibeacon.FLOATS.values()) | set(mibeacon.FLAGS.values())
    for values in mibeacon._DOOR_EVENTS.values():
        names |= set(values)
    names |= {state for state, _, _ in mibeacon._LOCK_ACTIONS.values()}
    names |= {name for name, _ in mibeacon._WATER_EVENTS.values()}
    # The rest of the MiBeacon handlers write their values literally.
    for path in (ROOT / "mihomekit" / "decoders").glob("*.py"):
        names |= set(re.findall(r'\bv\["([a-z0-9_]+)"\]', path.read_text(encoding="utf-8")))
    kinds = (bthome.NUM, bthome.BOOL, bthome.LOCK, bthome.TEXT, bthome.RAW, bthome.FIRMWARE)
    names |= {spec.name for spec in bthome.OBJECTS.values() if spec.kind in kinds}
    for vector_file in ("mibeacon-real.json", "custom-formats-real.json"):
        data = json.loads((vectors_dir() / vector_file).read_text(encoding="utf-8"))
        for vector in data["vectors"]:
            key = bytes.fromhex(vector["bindkey_hex"]) if vector.get("bindkey_hex") else None
            result = decode_advertisement(
                vector["mac"],
                int(vector["service_uuid"], 16),
                bytes.fromhex(vector["data_hex"]),
                key,
            )
            names |= set(result.values)
    for model in gateway_models.MODEL_FAMILIES:
        names |= set(decode_properties(model, _GATEWAY_PROPERTIES).values)
        for status in ("open", "motion", "leak", "on"):
            names |= set(decode_properties(model, {"status": status}).values)
    names |= set(exposes.BINARY_READINGS.values()) | set(exposes.LIGHT_FEATURES.values())
    names |= {reading for reading, _ in exposes.NUMERIC_READINGS.values()}
    names |= {"power", "in_use", "position", "cover_motion", "hue", "saturation", "rssi"}
    for model in all_models():
        names |= model.measures
    return {re.sub(r"_[2-9]$", "", name) for name in names}


def test_every_reading_produced_is_in_the_vocabulary() -> None:
    produced = _produced_names()
    assert len(produced) > 100
    assert sorted(produced - set(READINGS)) == []


def test_homekit_sensors_keep_their_order_and_names() -> None:
    """The order services are added in gives every characteristic its iid: it never changes."""
    assert [
        (r.name, r.homekit.service, r.homekit.characteristic, r.homekit.name)
        for r in HOMEKIT_SENSORS
        if r.homekit is not None
    ] == [
        ("temperature", "TemperatureSensor", "CurrentTemperature", "Temperature"),
        ("humidity", "HumiditySensor", "CurrentRelativeHumidity", "Humidity"),
        ("moisture", "HumiditySensor", "CurrentRelativeHumidity", "Moisture"),
        ("illuminance", "LightSensor", "CurrentAmbientLightLevel", "Light"),
        ("motion", "MotionSensor", "MotionDetected", "Motion"),
        ("opening", "ContactSensor", "ContactSensorState", "Contact"),
        ("leak", "LeakSensor", "LeakDetected", "Leak"),
        ("smoke", "SmokeSensor", "SmokeDetected", "Smoke"),
        ("gas", "SmokeSensor", "SmokeDetected", "Gas"),
        ("occupancy", "OccupancySensor", "OccupancyDetected", "Occupancy"),
        ("presence", "OccupancySensor", "OccupancyDetected", "Presence"),
        ("carbon_monoxide", "CarbonMonoxideSensor", "CarbonMonoxideDetected", "Carbon Monoxide"),
        ("vibration", "MotionSensor", "MotionDetected", "Vibration"),
        # Since 0.3, after the battery, buttons and controls (appended):
        ("co2", "CarbonDioxideSensor", "CarbonDioxideLevel", "Carbon Dioxide"),
        ("pm25", "AirQualitySensor", "PM2.5Density", "PM2.5"),
        ("pm10", "AirQualitySensor", "PM10Density", "PM10"),
        ("tvoc", "AirQualitySensor", "VOCDensity", "TVOC"),
    ]
    assert [r.name for r in HOMEKIT_SENSORS if r.homekit and r.homekit.appended] == [
        "co2",
        "pm25",
        "pm10",
        "tvoc",
    ]
    for reading in HOMEKIT_SENSORS:
        assert reading.homekit is not None
        step = (reading.homekit.properties or {}).get("minStep")
        if step is not None:  # HomeKit's step and the precision agree
            assert step == 10**-reading.precision, reading.name
        assert reading.alert == reading.binary, reading.name


def test_every_record_is_consistent() -> None:
    ha_sensor_classes = {
        "atmospheric_pressure", "battery", "carbon_dioxide", "conductivity", "current",
        "distance", "duration", "energy", "gas", "humidity", "illuminance", "moisture", "pm10",
        "pm25", "power", "precipitation", "signal_strength", "speed", "temperature", "voltage",
        "volatile_organic_compounds", "volume", "volume_flow_rate", "volume_storage", "water",
        "weight",
    }  # fmt: skip
    ha_binary_classes = {
        "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
        "gas", "heat", "light", "moisture", "motion", "moving", "occupancy", "plug", "power",
        "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "vibration",
    }  # fmt: skip
    for name, reading in READINGS.items():
        assert reading.name == name and reading.label
        assert reading.staleness in STALENESS_KINDS, name
        assert 0 <= reading.precision <= 6, name
        entity = reading.home_assistant
        if entity is not None and entity.device_class is not None:
            classes = ha_binary_classes if reading.binary else ha_sensor_classes
            assert entity.device_class in classes, name
        if entity is not None and reading.kind != "number":
            assert entity.state_class is None, name
        if reading.tasmota is not None:
            assert reading.kind != "text", name
    assert staleness_kinds({"temperature", "battery", "vibration"}) == {"climate", "motion"}


def test_values_are_rounded_to_their_precision() -> None:
    assert rounded("humidity", 0.1 * 569) == 56.9  # 56.900000000000006
    assert repr(rounded("humidity", 56.93)) == "56.9"
    assert rounded("battery", 87.6) == 88 and isinstance(rounded("battery", 87.6), int)
    assert rounded("illuminance", 3.4) == 3 and rounded("voltage", 2.9512) == 2.951
    assert rounded("motion", True) is True and rounded("lock_method", "nfc") == "nfc"
    assert rounded("temperature_2", 21.87) == 21.9
    assert rounded("made_up_reading", 1 / 3) == round(1 / 3, DEFAULT_PRECISION)
    assert rounded_values({"temperature": 21.04, "rssi": -60}) == {"temperature": 21.0, "rssi": -60}
    assert info("temperature_2").label == "Temperature 2" and info("temperature_2").homekit is None
    assert info("power_2").label == "Switch 2" and info("power_2").control
    assert info("made_up_reading").label == "Made up reading"
    assert info("motion").text(True) == "detected" and info("load_power").text(0) == "0.0 W"


def test_readings_page_is_the_vocabulary() -> None:
    """``docs/readings.md`` is generated (``python -m mihomekit.vocabulary``): never stale."""
    page = (ROOT / "docs" / "readings.md").read_text(encoding="utf-8")
    assert page == markdown_table()
    assert "| `humidity` | Humidity | % | 1 | HumiditySensor.CurrentRelativeHumidity |" in page


# -- end to end: a real controller and a real broker ------------------------------------

PVVX = DeviceEntry(mac="A4C138445566", pid=0x944A, key=None, name="Bedroom")


def _pvvx(counter: int, temperature: float, humidity: float) -> bytes:
    return build.pvvx_frame("A4:C1:38:44:55:66", temperature, humidity, 2.9512, 80, counter)


@pytest.mark.timeout(120)
async def test_values_reach_homekit_and_mqtt_rounded(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """56.93 % decoded (and HAP-python's own 0.1 steps, which make 56.9 into
    56.900000000000006) reach the controller, the broker and Tasmota's message as 56.9."""
    frame = _pvvx(1, 21.87, 56.93)
    decoded = decode_advertisement("A4:C1:38:44:55:66", 0x181A, frame)
    assert (decoded.values["humidity"], decoded.values["temperature"]) == (56.93, 21.87)
    config = bridge_config(
        tmp_path,
        free_port(),
        [PVVX],
        outputs=[mqtt_output],
        mqtt=mqtt_settings(broker=mosquitto, publish=True, tasmota_topic="mi32"),
    )
    app = App(config)
    got: dict[str, list[bytes]] = {}
    ready = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client(HOST, mosquitto.port, identifier="listener") as client:
            await client.subscribe("mihomekit/#")
            await client.subscribe("tele/#")
            ready.set()
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                got.setdefault(message.topic.value, []).append(payload)

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(ready.wait(), 10)
    await app.start()
    try:
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, SETUP_CODE)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            aid = view.aid_by_serial(PVVX.display_mac)
            humidity = (aid, view.iid(aid, "HumiditySensor", "CurrentRelativeHumidity"))
            temperature = (aid, view.iid(aid, "TemperatureSensor", "CurrentTemperature"))
            log = EventLog()
            pairing.dispatcher_connect(log)
            await pairing.subscribe([humidity, temperature])

            app.registry.handle_advertisement(PVVX.display_mac, 0x181A, frame, -60)
            await log.wait_for(humidity, 56.9)
            await log.wait_for(temperature, 21.9)
            read = await pairing.get_characteristics([humidity, temperature])
            assert repr(read[humidity]["value"]) == "56.9"
            assert repr(read[temperature]["value"]) == "21.9"
            assert all(
                repr(v) in ("56.9", "21.9") for _, k, v in log if k in (humidity, temperature)
            )

        state_topic = f"mihomekit/{PVVX.mac}"
        await until(lambda: got.get(state_topic) and got.get("tele/mi32/SENSOR"), "MQTT", 10)
        state_text = got[state_topic][-1].decode()
        state = json.loads(state_text)
        assert (state["humidity"], state["temperature"], state["voltage"]) == (56.9, 21.9, 2.951)
        assert "56.93" not in state_text and "21.87" not in state_text
        tasmota: dict[str, Any] = json.loads(got["tele/mi32/SENSOR"][-1])
        fields = next(v for k, v in tasmota.items() if isinstance(v, dict))
        assert (fields["Humidity"], fields["Temperature"]) == (56.9, 21.9)
        assert app.registry.get(PVVX.mac).values["humidity"] == 56.93  # kept as decoded
    finally:
        await app.stop()
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


@pytest.mark.parametrize(
    ("reading", "value", "grade"),
    [
        ("co2", 420, 0),  # normal
        ("co2", 1000, 0),
        ("co2", 1001, 1),  # abnormal: a room to air
        ("pm25", 0, 1),  # excellent
        ("pm25", 15, 1),
        ("pm25", 15.5, 2),  # good
        ("pm25", 55, 3),  # fair
        ("pm25", 75, 4),  # inferior
        ("pm25", 76, 5),  # poor
        ("pm10", 25, 1),
        ("pm10", 301, 5),
        ("tvoc", 300, 1),
        ("tvoc", 999, 2),
        ("tvoc", 3000, 3),
        ("tvoc", 9000, 4),
        ("tvoc", 20_000, 5),
    ],
)
def test_air_readings_are_graded_as_homekit_expects(reading: str, value: float, grade: int) -> None:
    sensor = READINGS[reading].homekit
    assert sensor is not None and sensor.level is not None
    assert sensor.level.of(value) == grade
    assert sensor.level.initial == 0  # unknown / normal before the first reading
