"""Relays on GPIO pins, in this process with gpiozero's mock pin factory: switched from a
paired HomeKit controller (the pin follows), from MQTT (a Home Assistant ``switch``) and
from the dashboard; restored after a restart as ``restore`` says; a pin that cannot be
opened is one line naming it while the rest runs."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bridge_helpers import bridge_config
from gpiozero import OutputDevice
from gpiozero.pins.mock import MockFactory
from homekit_helpers import AccessoryView, EventLog, controller_on_loopback, free_port, pair
from mosquitto import HOST, Mosquitto
from mqtt_helpers import Inbox, connection, until

from mihomekit.app import App
from mihomekit.commands.run import mqtt_output, web_output
from mihomekit.settings import MqttSettings, RelaySettings, parse_settings
from mihomekit.sources.relays import STATE_FILE, RelayBoard

pytestmark = pytest.mark.timeout(90)

RELAYS = parse_settings(
    """
[[relays]]
name = "Fan"
pin = 17

[[relays]]
name = "Lamp"
pin = 27
kind = "light"
active_high = false

[[relays]]
name = "Heater"
pin = 22
kind = "outlet"
restore = "off"

[[relays]]
name = "Pump"
pin = 23
restore = "on"
"""
).relays


def relay_app(
    state_dir: Path,
    port: int,
    factory: MockFactory,
    relays: Sequence[RelaySettings] = RELAYS,
    **extra: Any,
) -> App:
    def board(app: App) -> RelayBoard:
        return RelayBoard(app.registry, relays, state_dir=state_dir, pin_factory=factory)

    return App(bridge_config(state_dir, port, [], configured_sources=[board], **extra))


def level(factory: MockFactory, pin: int) -> bool:
    return bool(factory.pin(pin).state)


async def test_relays_from_homekit_and_after_a_restart(tmp_path: Path) -> None:
    port = free_port()
    factory = MockFactory()
    app = relay_app(tmp_path, port, factory)
    await app.start()
    try:
        # restore: nothing saved yet → off; "on" → on; the Lamp is active low (off = high)
        assert [level(factory, p) for p in (17, 27, 22, 23)] == [False, True, False, True]
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, app.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            fan, lamp = view.aid_by_serial("gpio17"), view.aid_by_serial("gpio27")
            heater, pump = view.aid_by_serial("gpio22"), view.aid_by_serial("gpio23")
            assert view.info(fan)["Name"] == "Fan" and view.info(fan)["Model"] == "GPIO relay"
            assert "Switch" in view.service_names(fan)
            assert "Lightbulb" in view.service_names(lamp)
            assert "Outlet" in view.service_names(heater)
            assert view.char(pump, "Switch", "On")["value"] is True
            fan_on = (fan, view.iid(fan, "Switch", "On"))
            lamp_on = (lamp, view.iid(lamp, "Lightbulb", "On"))
            heater_on = (heater, view.iid(heater, "Outlet", "On"))
            await pairing.put_characteristics([(*fan_on, True)])
            await until(lambda: level(factory, 17), "pin 17 high")
            await pairing.put_characteristics([(*lamp_on, True), (*heater_on, True)])
            await until(lambda: not level(factory, 27) and level(factory, 22), "27 low, 22 high")
            expected = {"gpio17": True, "gpio27": True, "gpio22": True, "gpio23": True}
            await until(
                lambda: json.loads((tmp_path / STATE_FILE).read_text()) == expected, "the save"
            )
            # the dashboard's switch makes the same change (a pin, then HomeKit)
            log = EventLog()
            pairing.dispatcher_connect(log)
            await pairing.subscribe([fan_on])
            await app.registry.control("gpio17", {"power": False})
            assert not level(factory, 17)
            await log.wait_for(fan_on, False)
            await pairing.put_characteristics([(*fan_on, True)])
            await until(lambda: level(factory, 17), "pin 17 high again")
            pairing_data = dict(pairing.pairing_data)
            aids = {aid: view.info(aid)["SerialNumber"] for aid in view.aids() if aid != 1}
            await pairing.close()
    finally:
        await app.stop()

    # A restart (a new pin factory: the pins start as the bridge sets them)
    factory = MockFactory()
    app = relay_app(tmp_path, port, factory)
    await app.start()
    try:
        # last → as before; off → off; on → on
        assert [level(factory, p) for p in (17, 27, 22, 23)] == [True, False, False, True]
        async with controller_on_loopback() as controller:
            pairing = controller.load_pairing("test", pairing_data)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            assert {a: view.info(a)["SerialNumber"] for a in view.aids() if a != 1} == aids
            fan, lamp = view.aid_by_serial("gpio17"), view.aid_by_serial("gpio27")
            heater = view.aid_by_serial("gpio22")
            assert view.char(fan, "Switch", "On")["value"] is True
            assert view.char(lamp, "Lightbulb", "On")["value"] is True
            assert view.char(heater, "Outlet", "On")["value"] is False
            await pairing.close()
    finally:
        await app.stop()


async def test_a_pin_that_cannot_be_opened_is_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    factory = MockFactory()
    holder = OutputDevice(5, pin_factory=factory)  # something else holds GPIO 5
    relays = parse_settings(
        '[[relays]]\nname = "Busy"\npin = 5\n[[relays]]\nname = "Fan"\npin = 17\n'
    ).relays
    app = relay_app(tmp_path, free_port(), factory, relays)
    caplog.set_level(logging.INFO)
    await app.start()
    try:
        lines = [r for r in caplog.records if "GPIO 5" in r.getMessage()]
        assert len(lines) == 1 and lines[0].levelno == logging.ERROR
        assert "'Busy'" in lines[0].getMessage() and "in use" in lines[0].getMessage()
        assert not lines[0].exc_info
        # the other relay works, the busy one is refused with a reason
        await app.registry.control("gpio17", {"power": True})
        assert level(factory, 17)
        with pytest.raises(Exception, match="GPIO 5 is not open"):
            await app.registry.control("gpio5", {"power": True})
        busy = app.registry.get("gpio5")
        assert busy is not None and busy.liveness is not None and not busy.liveness()
        status = next(s for s in app.source_statuses() if s.kind == "gpio")
        assert "GPIO 5" in (status.last_error or "")
    finally:
        await app.stop()
        holder.close()


async def test_relays_from_mqtt_and_the_dashboard(tmp_path: Path, mosquitto: Mosquitto) -> None:
    factory = MockFactory()
    mqtt = MqttSettings(host=HOST, port=mosquitto.port, client_id="bridge", publish=True)
    web = web_output(port=0, password_hash=None)
    app = relay_app(
        tmp_path, free_port(), factory, RELAYS[:2], outputs=[mqtt_output, web], mqtt=mqtt
    )
    ha = connection(mosquitto, "ha")
    inbox = Inbox()
    ha.subscribe("homeassistant/#", inbox)
    ha.subscribe("mihomekit/#", inbox)
    await ha.start()
    await app.start()
    try:
        topic = "homeassistant/device/mihomekit_gpio17/config"
        await until(lambda: inbox.payloads(topic), "the discovery")
        switch = json.loads(inbox.payloads(topic)[-1])["components"]["mihomekit_gpio17_power"]
        assert switch["platform"] == "switch"
        assert switch["command_topic"] == "mihomekit/gpio17/set"

        def state(device: str) -> dict[str, Any]:
            payloads = [p for p in inbox.payloads(f"mihomekit/{device}") if p]
            return json.loads(payloads[-1]) if payloads else {}

        ha.publish(switch["command_topic"], switch["payload_on"])
        await until(lambda: level(factory, 17), "pin 17 high")
        await until(lambda: state("gpio17").get("power") is True, "the state")
        lamp = json.loads(inbox.payloads("homeassistant/device/mihomekit_gpio27/config")[-1])
        light = lamp["components"]["mihomekit_gpio27_light_on"]
        ha.publish(light["command_topic"], light["payload_on"])
        await until(lambda: not level(factory, 27), "pin 27 low (active low)")
        ha.publish(switch["command_topic"], '{"power": "yes"}')  # not a command: ignored
        await asyncio.sleep(0.2)
        assert level(factory, 17)

        # the dashboard: a button in the widget, posted with the page's token
        server = next(o for o in app.outputs if hasattr(o, "url"))
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            async with session.get(server.url) as response:
                page = await response.text()
            csrf = re.search(r'data-csrf="([^"]+)"', page)
            assert csrf is not None
            widget = page[page.index('id="w-gpio17"') :]
            assert 'action="/devices/switch"' in widget[: widget.index("</article>")]
            assert "Power: turn off" in widget
            form = {"csrf": csrf.group(1), "device": "gpio17", "reading": "power", "on": "0"}
            async with session.post(server.url + "devices/switch", data=form) as response:
                assert response.status == 200, await response.text()
                assert "Fan switched off" in await response.text()
            assert not level(factory, 17)
            form["csrf"] = ""  # a post without the token changes nothing
            form["on"] = "1"
            async with session.post(server.url + "devices/switch", data=form) as response:
                assert response.status == 403
            assert not level(factory, 17)
            form.update(csrf=csrf.group(1), reading="brightness")
            async with session.post(server.url + "devices/switch", data=form) as response:
                assert response.status == 400
    finally:
        await app.stop()
        await ha.stop()
