"""The HomeKit side: services per capability, motion hold, staleness, battery, buttons."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from homekit_helpers import driver_args

from mihomekit.accessories import AccessoryOptions, DeviceAccessory, staleness_window
from mihomekit.accessories.services import SENSOR_BY_READING, homekit_services
from mihomekit.catalog import DeviceModel, all_models
from mihomekit.homekit import BridgeDriver
from mihomekit.readings import Event
from mihomekit.registry import Device, Registry
from mihomekit.sources.gateway.models import MODELS as GATEWAY_MODELS


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def driver(tmp_path: Path) -> Any:
    drv = BridgeDriver(loop=asyncio.get_running_loop(), **driver_args(tmp_path))
    yield drv


def _service_names(acc: DeviceAccessory) -> list[str]:
    return [s.display_name for s in acc.services]


def _expected_services(model: DeviceModel) -> list[str]:
    names = ["AccessoryInformation"]
    for reading, spec in SENSOR_BY_READING.items():
        if reading in model.measures and spec.homekit is not None:
            names.append(spec.homekit.service)
    if "battery" in model.measures or "low_battery" in model.measures:
        names.append("BatteryService")
    return names


def test_every_catalog_model_builds_its_services(driver: Any) -> None:
    models = list(all_models())
    assert len(models) >= 95
    for index, model in enumerate(models):
        device = Device(id=f"A4C1380000{index:02X}", name=model.model, model=model)
        acc = DeviceAccessory(driver, device, aid=2 + index, options=AccessoryOptions())
        names = _service_names(acc)
        sensors = [n for n in names if n not in ("StatelessProgrammableSwitch", "ServiceLabel")]
        assert sorted(sensors) == sorted(_expected_services(model)), model.model
        switches = names.count("StatelessProgrammableSwitch")
        if model.buttons and {"press", "double_press", "long_press"} & set(model.button_events):
            assert switches >= model.buttons, model.model
        assert ("ServiceLabel" in names) == (switches > 1), model.model


def _device(model: DeviceModel, clock: Clock | None = None) -> tuple[Registry, Device]:
    registry = Registry(clock=clock or Clock())
    device = registry.add_device("A4C138000001", model, "Test", source="ble")
    return registry, device


def _char(acc: DeviceAccessory, service: str, char: str) -> Any:
    return acc.get_service(service).get_characteristic(char)


MOTION_MODEL = DeviceModel(
    model="MJYD02YL", name="Nightlight", measures=frozenset({"motion", "illuminance", "battery"})
)


async def test_motion_is_held_at_least_min_hold(driver: Any) -> None:
    registry, device = _device(MOTION_MODEL)
    acc = DeviceAccessory(driver, device, aid=2, options=AccessoryOptions(motion_timeout=0.6))
    detected = _char(acc, "MotionSensor", "MotionDetected")
    registry.ingest(device.id, {"motion": True})
    assert detected.value is True
    registry.ingest(device.id, {"motion": False})  # "clear" right away: too short to see
    assert detected.value is True
    await asyncio.sleep(0.8)  # the timeout (0.6 s) clears it
    assert detected.value is False


async def test_motion_clears_after_timeout_and_rearms(driver: Any) -> None:
    registry, device = _device(MOTION_MODEL)
    acc = DeviceAccessory(driver, device, aid=2, options=AccessoryOptions(motion_timeout=0.3))
    detected = _char(acc, "MotionSensor", "MotionDetected")
    registry.ingest(device.id, {"motion": True})
    await asyncio.sleep(0.2)
    registry.ingest(device.id, {"motion": True})  # new motion restarts the timer
    await asyncio.sleep(0.2)
    assert detected.value is True
    await asyncio.sleep(0.25)
    assert detected.value is False


async def test_no_motion_report_clears_after_hold(driver: Any) -> None:
    clock = Clock()
    registry, device = _device(MOTION_MODEL, clock)
    acc = DeviceAccessory(
        driver, device, aid=2, options=AccessoryOptions(motion_timeout=60), clock=clock
    )
    detected = _char(acc, "MotionSensor", "MotionDetected")
    registry.ingest(device.id, {"motion": True})
    clock.now += 10
    registry.ingest(device.id, {"motion": False})
    assert detected.value is False


def test_staleness_sets_status_active(driver: Any) -> None:
    clock = Clock()
    model = DeviceModel(
        model="LYWSD03MMC", name="T/H", measures=frozenset({"temperature", "humidity", "battery"})
    )
    registry, device = _device(model, clock)
    options = AccessoryOptions(staleness={"climate": 100.0, "default": 50.0})
    acc = DeviceAccessory(driver, device, aid=2, options=options, clock=clock)
    active = _char(acc, "TemperatureSensor", "StatusActive")
    assert active.value is False  # never heard
    registry.ingest(device.id, {"temperature": 21.0})
    assert active.value is True
    assert _char(acc, "HumiditySensor", "StatusActive").value is True
    clock.now += 101
    acc.refresh_active()
    assert active.value is False
    assert staleness_window(model, options) == 100.0


def test_staleness_window_is_the_most_lenient_kind_measured() -> None:
    options = AccessoryOptions(
        staleness={
            "climate": 100.0,
            "motion": 200.0,
            "contact": 300.0,
            "leak": 400.0,
            "smoke": 500.0,
            "button": 600.0,
            "default": 50.0,
        }
    )

    def window(*measures: str, buttons: int = 0) -> float:
        model = DeviceModel("X", "X", measures=frozenset(measures), buttons=buttons)
        return staleness_window(model, options)

    assert window("temperature", "humidity", "battery") == 100.0
    assert window("motion", "illuminance", "battery") == 200.0
    assert window("opening") == 300.0
    assert window("leak", buttons=1) == 600.0
    assert window("gas") == 500.0
    assert window("carbon_monoxide", "conductivity") == 500.0
    assert window("vibration", "light") == 200.0
    assert window(buttons=6) == 600.0
    assert window("battery") == 50.0
    assert window() == 50.0


def test_zigbee_devices_are_not_stale_between_hourly_heartbeats(driver: Any) -> None:
    clock = Clock()
    model = DeviceModel(model="weather.v1", name="T/H", measures=frozenset({"temperature"}))
    registry = Registry(clock=clock)
    device = registry.add_device("158d0001000003", model, None, source="zigbee")
    options = AccessoryOptions(staleness={"climate": 3600.0, "default": 3600.0})
    acc = DeviceAccessory(driver, device, aid=2, options=options, clock=clock)
    registry.ingest(device.id, {"temperature": 21.0}, heartbeat=True)
    clock.now += 3700  # one heartbeat period and a bit: still alive
    acc.refresh_active()
    assert _char(acc, "TemperatureSensor", "StatusActive").value is True
    clock.now += 6000  # more than 2.5 heartbeats: stale
    acc.refresh_active()
    assert _char(acc, "TemperatureSensor", "StatusActive").value is False


def test_source_liveness_overrides_last_seen(driver: Any) -> None:
    model = DeviceModel(model="magnet", name="Door", measures=frozenset({"opening"}))
    registry = Registry()
    device = registry.add_device("158d0001000001", model, None, source="zigbee")
    gateway_alive = [True]
    device.liveness = lambda: gateway_alive[0]
    acc = DeviceAccessory(driver, device, aid=2, options=AccessoryOptions())
    active = _char(acc, "ContactSensor", "StatusActive")
    registry.ingest(device.id, {"opening": False})
    assert active.value is True
    gateway_alive[0] = False  # the gateway stopped sending heartbeats
    acc.refresh_active()
    assert active.value is False
    gateway_alive[0] = True
    registry.ingest(device.id, {"opening": True})
    assert active.value is True


def test_battery_level_and_low_threshold(driver: Any) -> None:
    model = DeviceModel(model="X", name="X", measures=frozenset({"temperature", "battery"}))
    registry, device = _device(model)
    acc = DeviceAccessory(driver, device, aid=2, options=AccessoryOptions(battery_low_threshold=15))
    registry.ingest(device.id, {"battery": 40})
    assert _char(acc, "BatteryService", "BatteryLevel").value == 40
    assert _char(acc, "BatteryService", "StatusLowBattery").value == 0
    registry.ingest(device.id, {"battery": 10})
    assert _char(acc, "BatteryService", "StatusLowBattery").value == 1


def test_contact_and_leak_mapping(driver: Any) -> None:
    model = DeviceModel(model="X", name="X", measures=frozenset({"opening", "leak"}))
    registry, device = _device(model)
    acc = DeviceAccessory(driver, device, aid=2, options=AccessoryOptions())
    registry.ingest(device.id, {"opening": True, "leak": True})
    assert _char(acc, "ContactSensor", "ContactSensorState").value == 1  # not detected = open
    assert _char(acc, "LeakSensor", "LeakDetected").value == 1
    registry.ingest(device.id, {"opening": False})
    assert _char(acc, "ContactSensor", "ContactSensorState").value == 0


def test_buttons_and_gestures_get_switches(driver: Any) -> None:
    model = DeviceModel(
        model="cube",
        name="Cube",
        buttons=0,
        button_events=("flip90", "flip180", "shake"),
    )
    registry, device = _device(model)
    acc = DeviceAccessory(driver, device, aid=2, options=AccessoryOptions())
    switches = [s for s in acc.services if s.display_name == "StatelessProgrammableSwitch"]
    assert [s.get_characteristic("Name").value for s in switches] == ["Flip90", "Flip180", "Shake"]
    published: list[tuple[dict[str, Any], bool]] = []
    driver.publish = lambda data, client=None, immediate=False: published.append((data, immediate))
    registry.ingest(device.id, {}, [Event("flip180")])
    target = switches[1].get_characteristic("ProgrammableSwitchEvent")
    assert published == [
        ({"aid": 2, "iid": target.broker.iid_manager.get_iid(target), "value": 0}, True)
    ]


def test_undeclared_press_type_is_not_sent(driver: Any) -> None:
    model = DeviceModel(
        model="YLYK01YL", name="Remote", buttons=2, button_events=("press", "long_press")
    )
    registry, device = _device(model)
    DeviceAccessory(driver, device, aid=2, options=AccessoryOptions())
    published: list[Any] = []
    driver.publish = lambda data, client=None, immediate=False: published.append(data["value"])
    registry.ingest(device.id, {}, [Event("double_press", button=2)])
    assert published == []
    registry.ingest(device.id, {}, [Event("long_press", button=2), Event("press", button=3)])
    assert published == [2]  # button 3 does not exist


def test_unpaired_values_restored_silently(driver: Any) -> None:
    model = DeviceModel(model="X", name="X", measures=frozenset({"temperature"}))
    clock = Clock()  # the registry and the accessory share one clock
    registry, device = _device(model, clock)
    registry.restore(device.id, {"temperature": 18.5}, age=10.0)
    acc = DeviceAccessory(driver, device, aid=2, options=AccessoryOptions(), clock=clock)
    assert _char(acc, "TemperatureSensor", "CurrentTemperature").value == 18.5
    assert _char(acc, "TemperatureSensor", "StatusActive").value is True


def test_homekit_services_names_what_every_accessory_gets(driver: Any) -> None:
    """`homekit_services` (``z2m list`` and the README's product tables) says exactly which
    services each catalog and gateway model's accessory has."""
    models = [*all_models(), *(entry.device for entry in GATEWAY_MODELS.values())]
    for index, model in enumerate(models):
        device = Device(id=f"A4C13800{index:04X}", name=model.model, model=model)
        acc = DeviceAccessory(driver, device, aid=2 + index, options=AccessoryOptions())
        built = sorted(
            n for n in _service_names(acc) if n not in ("AccessoryInformation", "ServiceLabel")
        )
        said: list[str] = []
        for service in homekit_services(model):
            name, _, count = service.partition(" x")
            said.extend([name] * (int(count) if count else 1))
        assert built == sorted(said), model.model


# -- what a device reports beyond its model ----------------------------------------------


def _iids(acc: DeviceAccessory) -> list[tuple[int, str, list[tuple[int, str]]]]:
    listing = acc.to_HAP(include_value=False)
    return [
        (s["iid"], s["type"], [(c["iid"], c["type"]) for c in s["characteristics"]])
        for s in listing["services"]
    ]


def test_an_accessory_grown_while_running_is_the_one_built_at_the_next_start(
    driver: Any,
) -> None:
    """Services learned while running come after the others in the order learned, every
    earlier iid kept, exactly as an accessory built with the learned model numbers them."""
    from mihomekit.registry import DeviceChanged, RegistryEvent

    pvvx = next(m for m in all_models() if m.pid == 0x944A)
    registry, device = _device(pvvx)
    acc = DeviceAccessory(driver, device, aid=2, options=AccessoryOptions())
    grown: list[bool] = []

    def follow(event: RegistryEvent) -> None:  # what the bridge does (hubs.py)
        if isinstance(event, DeviceChanged) and event.what == "model":
            grown.append(acc.learn())

    registry.subscribe(follow, readings=False)
    before = _iids(acc)
    registry.ingest(device.id, {"temperature": 20.0, "moisture": 30, "voltage": 3.0})
    registry.ingest(device.id, {"illuminance": 250}, [Event("press", 2), Event("press", 1)])
    registry.ingest(device.id, {"low_battery": True, "temperature": 21.0})  # nothing new
    registry.ingest(device.id, {"opening": True}, [Event("long_press", 2)])
    assert grown == [True, True, True]
    assert device.model is not None
    assert device.model.learned == ("moisture", "illuminance", "button_1", "button_2", "opening")
    after = _iids(acc)
    assert after[: len(before)] == before
    names = _service_names(acc)[len(before) :]
    assert names == [
        "HumiditySensor",
        "LightSensor",
        "ServiceLabel",
        "StatelessProgrammableSwitch",
        "StatelessProgrammableSwitch",
        "ContactSensor",
    ]
    assert _char(acc, "LightSensor", "CurrentAmbientLightLevel").value == 250
    assert acc.get_service("ContactSensor").get_characteristic("ContactSensorState").value == 1
    restarted = Device(id=device.id, name=device.name, model=device.model)
    assert _iids(DeviceAccessory(driver, restarted, aid=3, options=AccessoryOptions())) == after
    assert not acc.learn()  # nothing more learned: nothing added


def test_staleness_follows_what_was_learned(driver: Any) -> None:
    from mihomekit.learning import with_learned

    options = AccessoryOptions(staleness={"contact": 300.0, "button": 600.0, "default": 50.0})
    bthome = next(m for m in all_models() if m.pid == 0xB770)
    assert staleness_window(bthome, options) == 50.0
    assert staleness_window(with_learned(bthome, ["opening"]), options) == 300.0
    assert staleness_window(with_learned(bthome, ["button_1"]), options) == 600.0


def test_homekit_services_names_what_a_learned_accessory_gets(driver: Any) -> None:
    from mihomekit.learning import with_learned

    bthome = next(m for m in all_models() if m.pid == 0xB770)
    model = with_learned(bthome, ["temperature", "low_battery", "button_1", "button_3"])
    device = Device(id="381F8D000001", name="H&T", model=model)
    acc = DeviceAccessory(driver, device, aid=2, options=AccessoryOptions())
    built = sorted(n for n in _service_names(acc) if n not in ("AccessoryInformation",))
    assert built == [
        "BatteryService",
        "ServiceLabel",
        "StatelessProgrammableSwitch",
        "StatelessProgrammableSwitch",
        "TemperatureSensor",
    ]
    assert homekit_services(model) == [
        "TemperatureSensor",
        "BatteryService",
        "StatelessProgrammableSwitch x2",
    ]


AIR_MONITOR = DeviceModel(
    model="Air monitor",
    name="Air monitor",
    measures=frozenset({"temperature", "humidity", "co2", "pm25", "pm10", "battery"}),
    controls=("power",),
)


def test_air_services_come_after_the_others_and_move_no_earlier_iid(driver: Any) -> None:
    """CO2 and air quality are shown since 0.3: a device that already reported them (a
    Zigbee2MQTT model built from its exposes) keeps every earlier service's iids."""
    before_03 = DeviceModel(
        model=AIR_MONITOR.model,
        name=AIR_MONITOR.name,
        measures=AIR_MONITOR.measures - {"co2", "pm25", "pm10"},
        controls=AIR_MONITOR.controls,
    )
    old = _iids(DeviceAccessory(driver, Device("158d0001000009", "Air", before_03), aid=2,
                                options=AccessoryOptions()))  # fmt: skip
    acc = DeviceAccessory(driver, Device("158d0001000009", "Air", AIR_MONITOR), aid=2,
                          options=AccessoryOptions())  # fmt: skip
    now = _iids(acc)
    assert now[: len(old)] == old
    assert _service_names(acc)[len(old) :] == [
        "CarbonDioxideSensor",
        "AirQualitySensor",
        "AirQualitySensor",
    ]
    assert homekit_services(AIR_MONITOR)[-3:] == [
        "CarbonDioxideSensor",
        "AirQualitySensor",
        "AirQualitySensor",
    ]


async def test_co2_and_particles_set_their_level_and_grade(driver: Any) -> None:
    registry, device = _device(AIR_MONITOR)
    acc = DeviceAccessory(driver, device, aid=2, options=AccessoryOptions())
    co2 = acc.get_service("CarbonDioxideSensor")
    assert co2.get_characteristic("CarbonDioxideDetected").value == 0
    pm25, pm10 = (s for s in acc.services if s.display_name == "AirQualitySensor")
    assert pm25.get_characteristic("Name").value == "PM2.5"
    assert pm25.get_characteristic("AirQuality").value == 0  # unknown before a reading
    registry.ingest(device.id, {"co2": 1450, "pm25": 41, "pm10": 12})
    assert co2.get_characteristic("CarbonDioxideLevel").value == 1450
    assert co2.get_characteristic("CarbonDioxideDetected").value == 1  # abnormal
    assert pm25.get_characteristic("PM2.5Density").value == 41
    assert pm25.get_characteristic("AirQuality").value == 3  # fair
    assert pm10.get_characteristic("PM10Density").value == 12
    assert pm10.get_characteristic("AirQuality").value == 1  # excellent
    registry.ingest(device.id, {"co2": 640})
    assert co2.get_characteristic("CarbonDioxideDetected").value == 0
