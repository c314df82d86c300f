"""Presence over MQTT: a tag heard by two Theengs gateways (``[[mqtt_receivers]]``) is a
Home Assistant ``binary_sensor`` of class presence, with ``room`` the gateway that hears it
best (hysteresis: a gateway must be clearly louder to take over); away empties the room.
The dashboard's widget says never heard, home (and the room), away."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from bridge_helpers import planned_app
from mosquitto import HOST, Mosquitto
from mqtt_helpers import Inbox, connection, until
from run_helpers import settings_args

pytestmark = pytest.mark.timeout(60)

TAG = "C8:FD:19:12:34:56"
DEVICE = "presence-C8FD19123456"


async def test_presence_and_rooms_on_mqtt(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(
        f"""
[ble]
enabled = false
[mqtt]
host = "{HOST}"
port = {mosquitto.port}
publish = true
[[mqtt_receivers]]
topic = "home/+/BTtoMQTT/#"
[[presence]]
name = "Keys"
mac = "{TAG}"
away_after = 3.0
rooms = true
""",
        encoding="utf-8",
    )
    app = planned_app([*settings_args(settings, tmp_path / "state"), "--web-port", "0"])
    ha = connection(mosquitto, "ha")
    inbox = Inbox()
    ha.subscribe("homeassistant/#", inbox)
    ha.subscribe(f"mihomekit/{DEVICE}", inbox)
    await ha.start()
    await app.start()
    try:
        topic = f"homeassistant/device/mihomekit_{DEVICE}/config"
        await until(lambda: inbox.payloads(topic), "the discovery")
        components = json.loads(inbox.payloads(topic)[-1])["components"]
        kinds = {c["platform"]: c for c in components.values()}
        assert kinds["binary_sensor"]["device_class"] == "presence"
        assert "value_json.presence" in kinds["binary_sensor"]["value_template"]
        assert "value_json.room" in kinds["sensor"]["value_template"]

        def state() -> dict[str, object]:
            payloads = [p for p in inbox.payloads(f"mihomekit/{DEVICE}") if p]
            return json.loads(payloads[-1]) if payloads else {}

        def hear(gateway: str, rssi: int) -> None:
            body = {"id": TAG, "rssi": rssi, "name": "Tile"}
            ha.publish(f"home/{gateway}/BTtoMQTT/{TAG.replace(':', '')}", json.dumps(body))

        web = next(o for o in app.outputs if hasattr(o, "url"))

        async def widget() -> str:
            async with aiohttp.ClientSession() as session, session.get(web.url) as response:
                page = await response.text()
            start = page.index(f'id="w-{DEVICE}"')
            return page[start : page.index("</article>", start)]

        assert not state()  # never seen: nothing published (Home Assistant: unknown)
        assert "never heard" in await widget() and "<dt>Presence</dt>" not in await widget()
        # A gateway repeats itself; the first messages may come before the bridge's
        # subscription for the receivers has reached the broker.
        deadline = asyncio.get_running_loop().time() + 10
        while state().get("presence") is not True:
            assert asyncio.get_running_loop().time() < deadline, "never present"
            hear("kitchen", -70)
            await asyncio.sleep(0.3)
        assert state()["room"] == "kitchen"
        shown = await widget()
        assert "<dt>Presence</dt><dd>home</dd>" in shown and "<dd>kitchen</dd>" in shown
        # the hall is a little louder: the room stays
        fed = app.advertisements.fed
        for _ in range(5):
            hear("hall", -67)
            hear("kitchen", -70)
        await until(lambda: app.advertisements.fed >= fed + 10, "the gateways' messages")
        assert state()["room"] == "kitchen"
        # the hall is clearly louder: it takes over
        for _ in range(8):
            hear("hall", -50)
        await until(lambda: state().get("room") == "hall", "the hall")
        # silence: away, and no room
        await until(lambda: state().get("presence") is False, "away", timeout=10)
        assert state()["room"] == ""
        assert "<dt>Presence</dt><dd>away</dd>" in await widget()
    finally:
        await app.stop()
        await ha.stop()
