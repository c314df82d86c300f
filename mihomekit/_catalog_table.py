"""The device catalog as data: every MiBeacon product id and the other known devices.

Rows 1-95 are the MiBeacon product ids (PIDs) known to Home Assistant's Xiaomi integration,
with its model and product names. Then come the fake PIDs Tasmota's MI32 driver gives to
devices that send no MiBeacon (ATC1441 0x0A1C, pvvx 0x944A, BTHome 0xB770) and mihomekit's
own for the pink HHCCJCY10 plant sensor (0xFD50, its service UUID: Tasmota does not know
it), and models that only advertise in other formats (Mi scales, Qingping sensors,
b-parasite); those have no PID (``mihomekit scan --write`` lists Qingping sensors under the
CGD1's id and b-parasite under pvvx's, as Tasmota does). Last come the MiBeacon product ids that
ble_monitor knows and xiaomi-ble does not (the MJZNZ018H bed sensor, the ZX1 pillow).

``measures`` lists the reading names HomeKit can show (see :mod:`mihomekit.readings`);
locks list ``locked`` for a read-only lock state. ``buttons`` counts distinct programmable
switches, combinations included: a K9B-2BTN reports left, right and "both" (3), a K9B-3BTN
every one of its seven combinations, an XMWXKG01YL left, right and both (3). ``sleepy``
marks devices that only advertise when something happens (the sleepy models of Home
Assistant, plus remotes, switches and other button-only devices). BTHome lists nothing
(``reports_vary``): what its devices show is learned from what they report
(:mod:`mihomekit.learning`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .device_model import DeviceModel, GattBattery, GattChar, GattProfile

_THB = frozenset({"temperature", "humidity", "battery"})
_LOCK = frozenset({"locked"})
_LOCK_DOOR = frozenset({"locked", "opening"})
_MOTION_LUX = frozenset({"motion", "illuminance", "battery"})

# ---- GATT (clock, units, battery), from public captures of each model ----------------
_MMC = "ebe0ccb0-7a0a-4b0c-8a1a-6ff2997da3a6"


def _mmc(char: str) -> GattChar:
    """A characteristic of the ebe0ccb0 service of the LYWSD0x / MHO-C401 family."""
    return GattChar(_MMC, f"ebe0cc{char}-7a0a-4b0c-8a1a-6ff2997da3a6")


def _std(service: int, char: int) -> GattChar:
    """A characteristic with 16-bit UUIDs."""
    return GattChar(
        f"0000{service:04x}-0000-1000-8000-00805f9b34fb",
        f"0000{char:04x}-0000-1000-8000-00805f9b34fb",
    )


#: LYWSD02: units 0xFF = °C, 0x01 = °F; battery % in ebe0ccc4.
_GATT_LYWSD02 = GattProfile(
    clock=_mmc("b7"),
    units=_mmc("be"),
    unit_values=(b"\xff", b"\x01"),
    battery=GattBattery(_mmc("c4")),
)
#: LYWSD03MMC and MHO-C401: units 0x00 = °C, 0x01 = °F; their battery byte is bogus, the
#: voltage in the data notification (temperature, humidity, mV) is not.
_GATT_LYWSD03 = GattProfile(
    clock=_mmc("b7"),
    units=_mmc("be"),
    unit_values=(b"\x00", b"\x01"),
    battery=GattBattery(_mmc("c1"), how="notify", offset=3, kind="millivolts"),
)
#: Flower Care: 0x1A02 holds battery %, a zero, then the firmware version.
_GATT_FLOWER = GattProfile(battery=GattBattery(_std(0x1204, 0x1A02)))
#: Standard Battery Service (CGD1).
_GATT_BATTERY_SERVICE = GattProfile(battery=GattBattery(_std(0x180F, 0x2A19)))

_PRESSES = ("press", "double_press", "long_press")
_SINGLE_LONG = ("press", "long_press")


def _m(*names: str) -> frozenset[str]:
    return frozenset(names)


MODELS: tuple[DeviceModel, ...] = (
    # ---- MiBeacon product ids (0xFE95) -------------------------------------------------
    DeviceModel("YM-K1501", "Smart Kettle", 0x0083, measures=_m("temperature")),
    DeviceModel(
        "HHCCJCY01",
        "Plant Sensor",
        0x0098,
        tasmota_name="Flora",
        measures=_m("temperature", "illuminance", "moisture", "battery"),
        gatt=_GATT_FLOWER,
    ),
    DeviceModel("MMC-T201-1", "Baby Thermometer", 0x00DB, measures=_m("temperature", "battery")),
    DeviceModel("YM-K1501EU", "Smart Kettle", 0x0113, measures=_m("temperature")),
    DeviceModel(
        "YLYK01YL",
        "Remote Control",
        0x0153,
        tasmota_name="YLYK01",
        buttons=6,
        button_events=_SINGLE_LONG,
        sleepy=True,
    ),
    DeviceModel("HHCCPOT002", "Smart Flower Pot", 0x015D, measures=_m("moisture")),
    DeviceModel(
        "LYWSDCGQ", "Temperature/Humidity Sensor", 0x01AA, tasmota_name="MJ_HT_V1", measures=_THB
    ),
    DeviceModel(
        "JQJCY01YM",
        "Formaldehyde Sensor",
        0x02DF,
        measures=_m("temperature", "humidity", "battery", "formaldehyde"),
    ),
    DeviceModel("CGG1", "Temperature/Humidity Sensor", 0x0347, tasmota_name="CGG1", measures=_THB),
    DeviceModel("DSL-C08", "Door Lock", 0x0380, measures=_LOCK_DOOR),
    DeviceModel(
        "MHO-C401",
        "Temperature/Humidity Sensor",
        0x0387,
        tasmota_name="MHOC401",
        measures=_THB,
        encrypted=True,
        gatt=_GATT_LYWSD03,
    ),
    DeviceModel(
        "MMC-W505", "Body Thermometer", 0x0391, measures=_m("temperature", "battery"), sleepy=True
    ),
    DeviceModel(
        "YLKG07YL/YLKG08YL",
        "Dimmer Switch",
        0x03B6,
        tasmota_name="YLKG08",
        buttons=1,
        button_events=(
            "press",
            "double_press",
            "triple_press",
            "long_press",
            "rotate_left",
            "rotate_right",
        ),
        sleepy=True,
        encrypted=True,
        legacy_key=True,
    ),
    DeviceModel(
        "GCLS002",
        "Grow Care Garden",
        0x03BC,
        measures=_m("temperature", "illuminance", "moisture"),
    ),
    DeviceModel("YLYB01YL-BHFRC", "Bathroom Heater Remote", 0x03BF, buttons=9, sleepy=True),
    DeviceModel(
        "CGH1", "Door/Window Sensor", 0x03D6, measures=_m("opening", "battery"), sleepy=True
    ),
    DeviceModel("MUE4094RT", "Nightlight", 0x03DD, tasmota_name="NLIGHT", measures=_m("motion")),
    DeviceModel("WX08ZM", "Mosquito Repellent", 0x040A, measures=_m("battery")),
    DeviceModel(
        "LYWSD02",
        "Temperature/Humidity Sensor",
        0x045B,
        tasmota_name="LYWSD02",
        measures=_THB,
        gatt=_GATT_LYWSD02,
    ),
    DeviceModel("V-SK152", "Smart Kettle", 0x045C, measures=_m("temperature")),
    DeviceModel("M1S-T500", "Smart Toothbrush", 0x0489, measures=_m("battery")),
    DeviceModel(
        "XMMF01JQD",
        "Magic Cube",
        0x04E1,
        buttons=1,
        button_events=("rotate_left", "rotate_right"),
        sleepy=True,
    ),
    DeviceModel("YLYK01YL-VENFAN", "Ventilator Fan Remote Control", 0x04E6, buttons=6, sleepy=True),
    DeviceModel("MJZNMSQ01YD", "Door Lock", 0x04E9, measures=_LOCK),
    DeviceModel(
        "LYWSD03MMC",
        "Temperature/Humidity Sensor",
        0x055B,
        tasmota_name="LYWSD03",
        measures=_THB,
        encrypted=True,
        gatt=_GATT_LYWSD03,
    ),
    DeviceModel(
        "CGD1",
        "3-in-1 Alarm Clock",
        0x0576,
        tasmota_name="CGD1",
        measures=_THB,
        gatt=_GATT_BATTERY_SERVICE,
    ),
    DeviceModel("MJZNMS03LM", "Door Lock", 0x0599, measures=_LOCK),
    DeviceModel("CGDK2", "Temperature/Humidity Sensor", 0x066F, measures=_THB, encrypted=True),
    DeviceModel("YLYK01YL-FANCL", "Fan Remote Control", 0x068E, buttons=6, sleepy=True),
    DeviceModel("ZNMS16LM", "Door Lock", 0x069E, measures=_LOCK_DOOR),
    DeviceModel("ZNMS17LM", "Door Lock", 0x069F, measures=_LOCK_DOOR),
    DeviceModel("MHO-C303", "Alarm Clock", 0x06D3, tasmota_name="MHOC303", measures=_THB),
    DeviceModel("XMZNMS04LM", "Door Lock", 0x0784, measures=_LOCK),
    DeviceModel(
        "YLAI003", "Wireless Switch", 0x07BF, tasmota_name="YLAI003", buttons=1, sleepy=True
    ),
    DeviceModel(
        "MJYD02YL",
        "Nightlight",
        0x07F6,
        tasmota_name="MJYD2S",
        measures=_m("motion", "illuminance", "battery"),
    ),
    DeviceModel("T700", "Smart Toothbrush", 0x0806, measures=_m("battery"), encrypted=True),
    DeviceModel(
        "SJWS01LM",
        "Flood Detector",
        0x0863,
        tasmota_name="SJWS01L",
        measures=_m("leak", "battery"),
        buttons=1,
        button_events=_SINGLE_LONG,
        encrypted=True,
    ),
    DeviceModel(
        "MCCGQ02HL",
        "Door/Window Sensor",
        0x098B,
        tasmota_name="MCCGQ02",
        measures=_m("opening", "light", "battery"),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel("XMZNMST02YD", "Door Lock", 0x098C, measures=_LOCK),
    DeviceModel(
        "JTYJGD03MI",
        "Smoke Detector",
        0x0997,
        measures=_m("smoke", "battery"),
        buttons=1,
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel("loock.safe.v1", "Safe Box", 0x09B0, measures=_m("opening")),
    DeviceModel("CGPR1", "Motion/Light Sensor", 0x0A83, measures=_MOTION_LUX),
    DeviceModel(
        "RTCGQ02LM",
        "Motion Sensor",
        0x0A8D,
        measures=_m("motion", "light", "battery"),
        buttons=1,
        button_events=("press",),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel(
        "CGG1-ENCRYPTED", "Temperature/Humidity Sensor", 0x0B48, measures=_THB, encrypted=True
    ),
    DeviceModel("CGC1", "Alarm Clock", 0x0C3C, measures=_THB),
    DeviceModel("SU001-T", "Odor Eliminator", 0x0DE7, measures=_m("battery")),
    DeviceModel("K9B-3BTN", "Switch (triple button)", 0x0DFD, buttons=7, sleepy=True),
    DeviceModel("XMZNMS08LM", "Door Lock", 0x0E39, measures=_LOCK_DOOR, encrypted=True),
    DeviceModel("Lockin-SV40", "Door Lock", 0x11C2, measures=_LOCK_DOOR, encrypted=True),
    DeviceModel("XMWSDJ04MMC", "Thermometer", 0x1203, measures=_THB, encrypted=True),
    DeviceModel("K9B-1BTN", "Switch (single button)", 0x1568, buttons=1, sleepy=True),
    DeviceModel("K9B-2BTN", "Switch (double button)", 0x1569, buttons=3, sleepy=True),
    DeviceModel("LYWSD02MMC", "Temperature/Humidity Sensor", 0x16E4, measures=_THB, encrypted=True),
    DeviceModel("T700", "Smart Toothbrush", 0x1790, measures=_m("battery"), encrypted=True),
    DeviceModel(
        "MS1BB(MI)",
        "Door/Window Sensor",
        0x1889,
        measures=_m("opening", "battery"),
        buttons=1,
        button_events=("press",),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel(
        "XMWXKG01YL",
        "Switch (double button)",
        0x1949,
        measures=_m("low_battery"),
        buttons=3,
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel(
        "K9BB-1BTN", "Switch (single button)", 0x1C10, buttons=1, sleepy=True, encrypted=True
    ),
    DeviceModel(
        "XMWXKG01LM",
        "Button",
        0x2387,
        measures=_m("low_battery"),
        buttons=1,
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel("LYWSD02MMC", "Temperature/Humidity Sensor", 0x2542, measures=_THB, encrypted=True),
    DeviceModel("MJWSD05MMC", "Temperature/Humidity Sensor", 0x2832, measures=_THB, encrypted=True),
    DeviceModel(
        "HS1BB(MI)", "Motion Sensor", 0x2AEB, measures=_MOTION_LUX, sleepy=True, encrypted=True
    ),
    DeviceModel("MJTZC01YM", "Body Composition Scale", 0x30D9, sleepy=True, encrypted=True),
    DeviceModel(
        "XMPIRO2SXS", "Motion Sensor", 0x3531, measures=_MOTION_LUX, sleepy=True, encrypted=True
    ),
    DeviceModel(
        "PTX_YK1_QMIMB",
        "Wireless Switch",
        0x38BB,
        measures=_m("low_battery"),
        buttons=1,
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel(
        "KS1",
        "Switch (quadruple button)",
        0x3A61,
        measures=_m("battery"),
        buttons=4,
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel("MJTZC01YM", "Body Composition Scale", 0x3BD5, sleepy=True, encrypted=True),
    DeviceModel(
        "KS1BP",
        "Switch (quadruple button)",
        0x3E17,
        measures=_m("battery"),
        buttons=4,
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel(
        "RS1BB(MI)",
        "Flood and Rain Sensor",
        0x3F0F,
        measures=_m("leak", "battery"),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel(
        "PS1BB",
        "Seat Pressure Sensor",
        0x3F4C,
        measures=_m("occupancy", "battery"),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel("MJTZC02YM", "Smart Scale S200", 0x45C9, sleepy=True, encrypted=True),
    DeviceModel(
        "XMOSB01XS",
        "Occupancy Sensor",
        0x4683,
        measures=_m("occupancy", "illuminance", "battery"),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel("MJTZC01YM", "Body Composition Scale", 0x48CF, sleepy=True, encrypted=True),
    DeviceModel("MJTZC03YM", "Body Composition Scale", 0x4B05, sleepy=True, encrypted=True),
    DeviceModel("MJTZC02YM", "Smart Scale S200", 0x4C04, sleepy=True, encrypted=True),
    DeviceModel("MJWSD05MMC", "Temperature/Humidity Sensor", 0x4C47, measures=_THB, encrypted=True),
    DeviceModel(
        "XMPIRO2GSXS", "Motion Sensor", 0x4C60, measures=_MOTION_LUX, sleepy=True, encrypted=True
    ),
    DeviceModel("MJTZC02YM", "Smart Scale S200", 0x4DCB, sleepy=True, encrypted=True),
    DeviceModel("CGDK3", "Temperature/Humidity Sensor", 0x4F59, measures=_THB, encrypted=True),
    DeviceModel("MJTZC01YM", "Body Composition Scale", 0x4FC2, sleepy=True, encrypted=True),
    DeviceModel(
        "ES3",
        "Human Presence Sensor",
        0x50FB,
        measures=_m("occupancy", "illuminance", "battery"),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel(
        "KS2BB",
        "Temperature/Humidity Sensor with Button",
        0x520B,
        measures=_THB,
        buttons=1,
        encrypted=True,
    ),
    DeviceModel("MJWSD06MMC", "Temperature/Humidity Sensor", 0x55B5, measures=_THB, encrypted=True),
    DeviceModel(
        "XMWS01XS",
        "Switch (double button)",
        0x5968,
        measures=_m("low_battery"),
        buttons=2,
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel("M2457B1", "Smart Band 10", 0x59FA, sleepy=True, encrypted=True),
    DeviceModel("M2456B1", "Smart Band 10 NFC", 0x59FB, sleepy=True, encrypted=True),
    DeviceModel("M2456B1", "Smart Band 10 Ceramic Edition", 0x59FC, sleepy=True, encrypted=True),
    DeviceModel("MJWSD06MMC", "Temperature/Humidity Sensor", 0x5BEA, measures=_THB, encrypted=True),
    DeviceModel("MBS17", "Temperature/Humidity Sensor", 0x5DB1, measures=_THB, encrypted=True),
    DeviceModel("M2456B1", "Smart Band 10 Glimmer Edition", 0x6188, sleepy=True, encrypted=True),
    DeviceModel(
        "SJWS02LM",
        "Water Leak Sensor 2",
        0x6375,
        measures=_m("leak", "battery"),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel(
        "ES5BB",
        "Human Presence Sensor",
        0x6A0F,
        measures=_m("occupancy", "illuminance"),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel(
        "zhiee.flood.sj01",
        "Water Leak Sensor",
        0x7712,
        measures=_m("leak", "battery"),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel("AFWXKG220000", "Wireless Switch", 0x78A3, buttons=1, sleepy=True, encrypted=True),
    DeviceModel(
        "MC-COMM",
        "Door/Window Sensor",
        0x78D1,
        measures=_m("opening", "battery"),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel("ESM787", "Temperature/Humidity Sensor", 0x78DB, measures=_THB),
    # ---- Tasmota fake product ids (no MiBeacon) ----------------------------------------
    DeviceModel(
        "ATC1441",
        "Thermometer (ATC1441 firmware)",
        0x0A1C,
        tasmota_name="ATC",
        measures=_THB,
    ),
    DeviceModel(
        "PVVX",
        "Thermometer (pvvx firmware)",
        0x944A,
        tasmota_name="PVVX",
        measures=_THB,
    ),
    DeviceModel("BTHome", "BTHome v2 device", 0xB770, tasmota_name="BTHOME", reports_vary=True),
    # ---- mihomekit's own ids (no MiBeacon, unknown to Tasmota) ----------------------------
    DeviceModel(
        "HHCCJCY10",
        "Plant Sensor (pink)",
        0xFD50,
        measures=_m("temperature", "illuminance", "moisture", "battery"),
    ),
    # ---- Other formats, no product id ----------------------------------------------------
    DeviceModel("XMTZC01HM/XMTZC04HM", "Mi Smart Scale", sleepy=True),
    DeviceModel("XMTZC02HM/XMTZC05HM/NUN4049CN", "Mi Body Composition Scale", sleepy=True),
    DeviceModel(
        "CGP1W",
        "Qingping Temp & RH Monitor Pro",
        measures=_m("temperature", "humidity", "pressure", "battery"),
    ),
    DeviceModel("CGDN1", "Qingping Air Monitor Lite", measures=_m("temperature", "humidity")),
    DeviceModel(
        "CGP23W",
        "Qingping Temp & RH Monitor",
        measures=_m("temperature", "humidity", "pressure", "battery"),
    ),
    DeviceModel("CGP22C", "Qingping CO2 & Temp & RH Monitor", measures=_THB),
    DeviceModel(
        "b-parasite",
        "Soil Moisture Sensor (b-parasite)",
        measures=_m("temperature", "humidity", "moisture", "illuminance"),
    ),
    # ---- MiBeacon product ids known to ble_monitor only ----------------------------------
    DeviceModel(
        "MJZNZ018H",
        "Bed Sensor",
        0x20DB,
        measures=_m("occupancy", "battery"),
        buttons=1,
        button_events=("double_press",),
        sleepy=True,
        encrypted=True,
    ),
    DeviceModel(
        "ZX1",
        "Smart Pillow",
        0x18E3,
        buttons=1,
        button_events=("double_press",),
        sleepy=True,
        encrypted=True,
    ),
)

#: Product id → model (MiBeacon PIDs and Tasmota fake PIDs).
BY_PID: Mapping[int, DeviceModel] = MappingProxyType(
    {m.pid: m for m in MODELS if m.pid is not None}
)

#: Model name → the first entry with that name.
BY_MODEL: Mapping[str, DeviceModel] = MappingProxyType({m.model: m for m in reversed(MODELS)})

#: Number of MiBeacon product ids in the table (rows before the Tasmota fake PIDs).
MIBEACON_PID_COUNT = 95
