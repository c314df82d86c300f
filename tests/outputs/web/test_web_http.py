"""The Mi Dashboard over HTTP (aiohttp's client on 127.0.0.1): metrics, reception strips
across a restart, hostile input on every form and endpoint, login limits, the password
command, and ``mihomekit run --demo`` serving the page.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from homekit_helpers import AccessoryView, controller_on_loopback, free_port, pair
from prometheus_client.parser import text_string_to_metric_families
from run_helpers import lines_until, popen, run_args, stop
from web_helpers import (
    LIVING,
    PASSWORD,
    SETUP_CODE,
    dashboard_config,
    display,
    th_frame,
    web_output,
)

from mihomekit.app import App
from mihomekit.cli import main
from mihomekit.decoders import build
from mihomekit.demo import demo_entries
from mihomekit.demo.sources import gateway_source
from mihomekit.errors import ConfigError
from mihomekit.mi32cfg import DeviceEntry, dump_mi32cfg, load_mi32cfg, parse_mi32cfg
from mihomekit.outputs.web.auth import ChangeGuard
from mihomekit.outputs.web.server import MAX_BODY
from mihomekit.passwords import hash_password, verify_password
from mihomekit.registry import RegistryEvent, Update
from mihomekit.settings import load_settings, parse_settings

pytestmark = pytest.mark.timeout(120)


class Client:
    """A browser-like client: keeps cookies, knows the page's CSRF token."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base.rstrip("/")
        self.csrf = ""

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.base + path) as response:
            text = await response.text()
        match = re.search(r'data-csrf="([^"]+)"', text)
        if match:
            self.csrf = match.group(1)
        return response.status, text

    async def post(self, path: str, data: Any = None, **kwargs: Any) -> tuple[int, str]:
        async with self.session.post(self.base + path, data=data, **kwargs) as response:
            return response.status, await response.text()

    async def form(self, path: str, fields: dict[str, str], csrf: bool = True) -> tuple[int, str]:
        body = dict(fields)
        if csrf:
            body["csrf"] = self.csrf
        return await self.post(path, body)


@asynccontextmanager
async def dashboard(
    base: Path, *, password: str | None = None, entries: list[DeviceEntry] | None = None
) -> AsyncIterator[tuple[App, Client]]:
    config = dashboard_config(
        base / "state",
        base / "mi32cfg",
        password_hash=hash_password(password) if password else None,
        entries=entries,
    )
    app = App(config)
    await app.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            client = Client(session, web_output(app).url)
            status, _ = await client.get("/")
            assert status == 200
            yield app, client
    finally:
        await app.stop()


def feed(app: App, mac: str, data: bytes) -> None:
    app.registry.handle_advertisement(mac, 0xFE95, data, -61)


def widget_html(page: str, device_id: str) -> str:
    start = page.rindex("<article", 0, page.index(f'id="w-{device_id}"'))
    return page[start : page.index("</article>", start)]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_parse_and_move_with_traffic(tmp_path: Path) -> None:
    async with dashboard(tmp_path) as (app, client):
        status, text = await client.get("/metrics")
        assert status == 200
        before = samples(text)
        local = ("mihomekit_advertisements_total", (("receiver", "local"),))
        unknown = ("mihomekit_dropped_total", (("reason", "unknown_device"),))
        feed(app, display(LIVING.mac), th_frame(LIVING, 40, 20.5))
        feed(app, display(LIVING.mac), th_frame(LIVING, 41, 20.75))
        feed(app, "A4:C1:38:99:99:99", th_frame(LIVING, 42, 20.0))
        status, text = await client.get("/metrics")
        after = samples(text)
        assert after[local] == before.get(local, 0) + 3
        assert after[unknown] == before.get(unknown, 0) + 1
        labels = (("device", LIVING.mac), ("model", "LYWSD03MMC"), ("name", "Living Room"))
        temperature = tuple(sorted({**dict(labels), "value": "temperature"}.items()))
        assert after[("mihomekit_device_value", temperature)] == 20.8
        assert ("mihomekit_device_last_seen_age_seconds", labels) in after
        assert after[("mihomekit_device_rssi_dbm", labels)] == -61


async def test_reception_strip_survives_a_restart(tmp_path: Path) -> None:
    async with dashboard(tmp_path) as (app, client):
        feed(app, display(LIVING.mac), th_frame(LIVING, 7, 21.0))
        _, page = await client.get("/")
        assert widget_html(page, LIVING.mac).count('<i class="on">') == 1
    assert (tmp_path / "state" / "reception.json").exists()
    async with dashboard(tmp_path) as (app, client):
        _, page = await client.get("/")
        html = widget_html(page, LIVING.mac)
        assert html.count('<i class="on">') == 1  # kept, though not heard since this start
        # Heard seconds ago (before the restart): HomeKit shows it as active, so no dimming.
        assert 'class="widget"' in html
        assert " s ago" in html
        other = next(e for e in demo_entries() if e.name == "Kitchen")
        assert widget_html(page, other.mac).count('<i class="on">') == 0


async def test_hostile_input_gets_a_clear_message_and_changes_nothing(tmp_path: Path) -> None:
    async with dashboard(tmp_path) as (app, client):
        mi32cfg = web_output(app).devices.path
        original = mi32cfg.read_bytes()
        devices = len(app.registry)
        _, _ = await client.get("/devices")

        async def refused(status: int, text: str, expected: int, words: str) -> None:
            assert status == expected, text[:300]
            assert words in text, text[:2000]
            assert mi32cfg.read_bytes() == original
            assert len(app.registry) == devices

        # Missing CSRF token; a cross-site Origin.
        status, text = await client.form("/devices/add", {"mac": "A4C138000001"}, csrf=False)
        await refused(status, text, 403, "missing CSRF token")
        status, text = await client.post(
            "/devices/remove",
            {"mac": LIVING.mac, "csrf": client.csrf},
            headers={"Origin": "http://evil.example"},
        )
        await refused(status, text, 403, "cross-site request refused")

        # Bad fields.
        for fields, words in (
            ({"mac": "not-a-mac", "pid": "055b"}, "a MAC address is 12 hex digits"),
            ({"mac": "A4C138000011", "pid": "55b"}, "a PID is 4 hex digits"),
            ({"mac": "A4C138000011", "pid": "055b", "key": "zz" * 16}, "32 hex digits"),
            ({"mac": "A4C138000011", "pid": "055b", "key": "ab" * 15}, "got 30"),
            ({"mac": "A4C138000011", "pid": "055b", "name": "x" * 65}, "at most 64"),
            ({"mac": "A4C138000011", "pid": "055b", "name": "a\x00b"}, "control characters"),
            ({"mac": LIVING.mac, "pid": "055b"}, "already configured"),
        ):
            status, text = await client.form("/devices/add", fields)
            await refused(status, text, 400, words)
        status, text = await client.form("/devices/rename", {"mac": "A4C138000077", "name": "x"})
        await refused(status, text, 400, "is not in the mi32cfg")
        status, text = await client.post(
            "/devices/add",
            "mac=A4C138000011&mac=A4C138000012&csrf=" + client.csrf,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        await refused(status, text, 400, "given twice")
        status, text = await client.post(
            "/devices/add",
            json.dumps({"mac": "A4C138000011"}),
            headers={"Content-Type": "application/json"},
        )
        await refused(status, text, 415, "application/x-www-form-urlencoded")

        # mi32cfg imports: not JSON, not an array, a bad entry, too many bytes.
        for paste, words in (
            ("[{", "invalid JSON at line 1"),
            ('{"MAC": "A4C138000001"}', "must be a JSON array"),
            (
                '[{"MAC":"A4C138000001","PID":"055b","key":""},'
                '{"MAC":"A4C13800","PID":"055b","key":""}]',
                "entry 1",
            ),
            ('[{"MAC":"A4C138000001","PID":"055b","key":"abc"}]', "key"),
            ("", "paste an mi32cfg"),
        ):
            status, text = await client.form("/devices/import", {"mi32cfg": paste})
            await refused(status, text, 400, words)
        status, text = await client.form("/devices/import", {"mi32cfg": "[" + " " * MAX_BODY})
        await refused(status, text, 413, "too large")

        # The JSON endpoint: no token, not JSON, wrong shapes.
        headers = {"X-CSRF-Token": client.csrf, "Content-Type": "application/json"}
        status, text = await client.post("/api/check-key", "{}")
        assert status == 403 and "CSRF" in json.loads(text)["message"]
        for body, words in (
            ("{not json", "not JSON"),
            ("[1, 2]", '{"mac"'),
            ('{"mac": 5, "key": []}', "must be strings"),
        ):
            status, text = await client.post("/api/check-key", body, headers=headers)
            assert status == 400 and words in json.loads(text)["message"], text
        status, text = await client.post(
            "/api/check-key",
            json.dumps({"mac": display(LIVING.mac), "key": "00" * 16}),
            headers=headers,
        )
        assert json.loads(text)["result"] == "no_frame"

        # The pairing reset needs its confirmation.
        status, text = await client.form("/pairing/reset", {"bridge": "1"})
        await refused(status, text, 400, "tick the box")


async def test_import_replaces_the_device_list_without_a_restart(tmp_path: Path) -> None:
    async with dashboard(tmp_path) as (app, client):
        kept, dropped = demo_entries()[:2]
        new = DeviceEntry(mac="A4C138000042", pid=0x0A1C, key=None, name="Attic")
        renamed = DeviceEntry(mac=kept.mac, pid=kept.pid, key=kept.key, name="Lounge")
        paste = dump_mi32cfg([renamed, new])
        await client.get("/devices")
        status, text = await client.form("/devices/import", {"mi32cfg": paste})
        assert status == 200, text[:500]
        assert "imported 2 devices: 1 added, 1 changed" in text
        expected = parse_mi32cfg(paste)
        assert load_mi32cfg(web_output(app).devices.path) == expected
        assert app.registry.get(dropped.mac) is None
        attic = app.registry.get(new.mac)
        assert attic is not None and attic.name == "Attic"
        lounge = app.registry.get(kept.mac)
        assert lounge is not None and lounge.name == "Lounge"
        # The export holds the whole keys (this host, no password: allowed).
        async with client.session.get(client.base + "/devices/export") as response:
            assert response.status == 200
            assert parse_mi32cfg(await response.text()) == expected


async def test_password_login_limit_and_keys_never_in_pages(tmp_path: Path) -> None:
    async with dashboard(tmp_path, password=PASSWORD) as (app, client):
        await client.get("/devices")
        status, text = await client.form("/devices/remove", {"mac": LIVING.mac})
        assert status == 403 and "log in with the dashboard password" in text
        async with client.session.get(client.base + "/devices/export") as response:
            assert response.status == 403
        for _ in range(5):
            status, text = await client.form("/login", {"password": "wrong password!"})
            assert status == 403 and "wrong password" in text
        status, text = await client.form("/login", {"password": PASSWORD})
        assert status == 429 and "too many failed logins" in text
        keys = [e.key.hex().upper() for e in demo_entries() if e.key]
        for path in ("/", "/devices", "/pairing", "/sources", "/metrics"):
            _, page = await client.get(path)
            assert not any(key in page.upper() for key in keys), path
        assert app.registry.get(LIVING.mac) is not None


async def test_login_then_change(tmp_path: Path) -> None:
    async with dashboard(tmp_path, password=PASSWORD) as (app, client):
        await client.get("/login")
        status, text = await client.form("/login", {"password": PASSWORD, "next": "//evil/"})
        assert status == 200 and "Log out" in text  # redirected to / (not elsewhere)
        await client.get("/devices")
        status, text = await client.form("/devices/rename", {"mac": LIVING.mac, "name": "Den"})
        assert status == 200 and "renamed A4:C1:38:DE:00:01 to Den" in text
        device = app.registry.get(LIVING.mac)
        assert device is not None and device.name == "Den"
        status, text = await client.form("/devices/remove", {"mac": LIVING.mac})
        assert status == 200 and "removed Den" in text
        assert app.registry.get(LIVING.mac) is None
        assert LIVING.mac not in web_output(app).devices.path.read_text()


def test_changes_without_a_password_only_from_this_host() -> None:
    guard = ChangeGuard(None)
    cookies = {"mihomekit_csrf": "t" * 20}
    common = {"cookies": cookies, "token": "t" * 20, "origin": None, "host": "h:8089"}
    for remote in ("127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"):
        assert guard.refusal(remote=remote, **common) is None, remote
    for remote in ("192.168.1.5", "10.0.0.2", "fe80::1", None):
        reason = guard.refusal(remote=remote, **common)
        assert reason is not None and "this host only" in reason, remote
    locked = ChangeGuard(hash_password(PASSWORD))
    reason = locked.refusal(remote="127.0.0.1", **common)
    assert reason is not None and "log in" in reason


def test_web_password_writes_the_hash_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "mihomekit.toml"
    settings.write_text('# mine\n[bridge]\nname = "Home"\n\n[web]\nport = 8090\n')
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["web-password", "--settings", str(settings)]) == 0
    text = settings.read_text()
    assert text.startswith('# mine\n[bridge]\nname = "Home"\n')
    loaded = load_settings(settings)
    assert loaded.web.port == 8090 and loaded.bridge.name == "Home"
    assert loaded.web.password_hash and verify_password(loaded.web.password_hash, PASSWORD)
    assert not verify_password(loaded.web.password_hash, PASSWORD + "x")

    # Too short: refused, the file stays as it was.
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["web-password", "--settings", str(settings)]) == 2
    assert settings.read_text() == text
    assert "8 to 1024 characters" in capsys.readouterr().err

    # --print only prints the line.
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["web-password", "--settings", str(settings), "--print"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith('password_hash = "scrypt$15$8$1$') and settings.read_text() == text

    with pytest.raises(ConfigError, match=r"web.password_hash: not a password hash"):
        parse_settings('[web]\npassword_hash = "plain text"\n')


def test_run_demo_serves_the_dashboard(tmp_path: Path) -> None:
    web_port = free_port()
    args = [*run_args(tmp_path / "state", demo_config=False), "--demo", "--web-port", str(web_port)]
    proc = popen(*args)
    try:
        lines = lines_until(proc, "Mi Dashboard:")
        assert lines[-1] == f"Mi Dashboard: http://127.0.0.1:{web_port}/"
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=10) as response:
            page = response.read().decode()
        for entry in demo_entries():
            assert f'id="w-{entry.mac}"' in page
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=10) as resp:
            assert any(
                f.name == "mihomekit_events"
                for f in text_string_to_metric_families(resp.read().decode())
            )
    finally:
        stop(proc)


async def _until(condition: Any, what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_renaming_a_zigbee_device_reaches_homekit_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    config = dashboard_config(
        tmp_path / "state",
        tmp_path / "mi32cfg",
        password_hash=None,
        sources=[gateway_source(activity_interval=3600.0)],
    )

    def zigbee(app: App) -> list[str]:
        return sorted(
            d.id for d in app.registry.devices() if d.source == "zigbee" and d.id in app.state.aids
        )

    app = App(config)
    await app.start()
    try:
        await _until(lambda: zigbee(app), "the simulated gateway's devices")
        device_id = zigbee(app)[0]
        aid = app.state.aids[device_id]
        async with (
            controller_on_loopback() as controller,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
        ):
            pairing = await pair(controller, app.driver.state.mac, SETUP_CODE)
            client = Client(session, web_output(app).url)
            _, page = await client.get("/devices")
            row = page[page.index(f'id="d-{device_id}"') :]
            row = row[: row.index("</tr>")]
            assert 'action="/devices/rename"' in row and "/devices/remove" not in row
            assert "remove it in its own system" in row
            status, text = await client.form(
                "/devices/rename", {"mac": device_id, "name": "Hallway Motion"}
            )
            assert status == 200 and f"renamed {device_id} to Hallway Motion" in text, text[:400]
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            assert view.char(aid, "AccessoryInformation", "Name")["value"] == "Hallway Motion"
            # The source naming it again (a Zigbee2MQTT friendly_name) does not win.
            app.registry.source_renamed(device_id, "Name From The Gateway")
            assert app.registry.get(device_id).name == "Hallway Motion"  # type: ignore[union-attr]
            await pairing.close()
            # Unpaired from the dashboard, so that a controller can pair after the restart.
            status, text = await client.form("/pairing/reset", {"bridge": "1", "confirm": "yes"})
            assert status == 200 and "reset" in text, text[:400]
    finally:
        await app.stop()

    app = App(config)
    await app.start()
    try:
        assert app.registry.get(device_id).name == "Hallway Motion"  # type: ignore[union-attr]
        await _until(lambda: device_id in zigbee(app), "the gateway again")
        async with (
            controller_on_loopback() as controller,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
        ):
            pairing = await pair(controller, app.driver.state.mac, SETUP_CODE)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            assert view.char(aid, "AccessoryInformation", "Name")["value"] == "Hallway Motion"
            # An empty name clears it: the device's own name is back, in HomeKit too.
            client = Client(session, web_output(app).url)
            await client.get("/devices")
            status, text = await client.form("/devices/rename", {"mac": device_id, "name": ""})
            assert status == 200 and "name again" in text, text[:400]
            name = app.registry.get(device_id).name  # type: ignore[union-attr]
            assert name != "Hallway Motion"
            assert re.fullmatch(r"[A-Za-z' ]+ " + device_id[-4:].upper(), name), name
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            assert view.char(aid, "AccessoryInformation", "Name")["value"] == name
            await pairing.close()
    finally:
        await app.stop()
    assert "Hallway Motion" not in (tmp_path / "state" / "bridge.json").read_text()


# -- what the widgets say: one test per thing that once read wrong ------------------------


def _rows(html: str) -> list[tuple[str, str]]:
    """A widget's ``(label, text)`` rows."""
    return re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", html)


def _demo(name: str) -> DeviceEntry:
    return next(e for e in demo_entries() if e.name == name)


async def test_motion_sensor_says_motion_once(tmp_path: Path) -> None:
    """Not "Motion motion" next to "No motion for 60 s": while motion is detected, the time
    since the last motion is not shown."""
    hallway = _demo("Hallway")
    async with dashboard(tmp_path) as (app, client):
        app.registry.ingest(hallway.mac, {"motion": True, "no_motion_seconds": 60})
        _, page = await client.get("/")
        rows = _rows(widget_html(page, hallway.mac))
        assert ("Motion", "detected") in rows
        assert not [label for label, _ in rows if label == "No motion for"]
        app.registry.ingest(hallway.mac, {"motion": False, "no_motion_seconds": 120})
        _, page = await client.get("/")
        rows = _rows(widget_html(page, hallway.mac))
        assert ("Motion", "clear") in rows and ("No motion for", "120 s") in rows


async def test_plug_rows_have_one_name_each_and_zigbee_needs_no_key(tmp_path: Path) -> None:
    """A plug shows "Switch off" and "Power 0.0 W" (not two rows named "Power"); a Zigbee
    device says nothing about bind keys (it has none)."""
    from mihomekit.sources.gateway.models import device_model

    async with dashboard(tmp_path) as (app, client):
        plug = app.registry.add_device(
            "158d0001000004", device_model("plug"), None, source="zigbee"
        )
        app.registry.ingest(plug.id, {"power": False, "in_use": False, "load_power": 0.0})
        _, page = await client.get("/")
        html = widget_html(page, plug.id)
        rows = _rows(html)
        assert rows == [("Switch", "off"), ("In use", "no"), ("Power", "0.0 W")]
        assert "key" not in html.lower()
        _, devices = await client.get("/devices")
        row = devices[devices.index(f'id="d-{plug.id}"') :]
        assert "no key needed" not in row[: row.index("</tr>")]
        # A BLE sensor without encryption still says so.
        assert "no key needed" in widget_html(page, _demo("Kitchen").mac)


async def test_remote_does_not_show_a_switch(tmp_path: Path) -> None:
    """The YLYK01YL's "on" button sets ``power`` (kept, and sent over MQTT), but a remote
    has nothing switched on: its widget does not say "Power on"."""
    remote = _demo("Remote")
    async with dashboard(tmp_path) as (app, client):
        frame = build.mibeacon_frame(
            0x0153, 5, [build.obj_button(0, 0)], mac=display(remote.mac), version=3
        )
        feed(app, display(remote.mac), frame)
        device = app.registry.get(remote.mac)
        assert device is not None and device.values.get("power") is True
        _, page = await client.get("/")
        html = widget_html(page, remote.mac)
        assert _rows(html) == [("No values yet", "")]
        assert "Power" not in html and "Switch" not in html


async def test_values_are_shown_with_the_vocabulary_label_unit_and_precision(
    tmp_path: Path,
) -> None:
    bedroom = _demo("Bedroom")  # pvvx: temperature, humidity, voltage
    async with dashboard(tmp_path) as (app, client):
        frame = build.pvvx_frame(display(bedroom.mac), 21.87, 0.1 * 569, 2.9512, 80, 1)
        app.registry.handle_advertisement(display(bedroom.mac), 0x181A, frame, -60)
        _, page = await client.get("/")
        rows = dict(_rows(widget_html(page, bedroom.mac)))
        assert rows["Temperature"] == "21.9 °C"
        assert rows["Humidity"] == "56.9 %"
        assert rows["Voltage"] == "2.951 V"


async def test_sources_page_shows_when_the_source_connected(tmp_path: Path) -> None:
    """ "connected for" counts from the connection, not from the first look at the page."""
    config = dashboard_config(
        tmp_path / "state",
        tmp_path / "mi32cfg",
        password_hash=None,
        sources=[gateway_source(activity_interval=3600.0)],
    )
    app = App(config)
    heard: list[float] = []  # when the first reading of a gateway device arrived

    def on_event(event: RegistryEvent) -> None:
        if isinstance(event, Update) and event.device.source == "zigbee" and not heard:
            heard.append(time.time())

    app.registry.subscribe(on_event)
    await app.start()
    try:
        await _until(lambda: heard, "the simulated gateway's first reading")
        async with aiohttp.ClientSession() as session:
            client = Client(session, web_output(app).url)
            status, page = await client.get("/sources")
        assert status == 200 and "connected for" in page
        gateway = next(s for s in app.source_statuses() if s.kind == "gateway")
        assert gateway.connected and gateway.since is not None
        assert gateway.since <= heard[0]  # not the time of the page view
    finally:
        await app.stop()


async def test_sensor_heard_minutes_ago_is_not_dimmed_after_a_restart(tmp_path: Path) -> None:
    """A leak sensor that spoke 2 minutes ago (before the restart) is within its staleness
    window: HomeKit shows it active, so the widget is not dimmed as "not heard"."""
    leak = _demo("Bathroom Floor")
    async with dashboard(tmp_path) as (app, client):
        app.registry.ingest(leak.mac, {"leak": False, "battery": 100})
    bridge = tmp_path / "state" / "bridge.json"
    state = json.loads(bridge.read_text())
    state["last_values"][leak.mac]["seen"] = time.time() - 130
    bridge.write_text(json.dumps(state))
    async with dashboard(tmp_path) as (app, client):
        _, page = await client.get("/")
        html = widget_html(page, leak.mac)
        assert 'class="widget"' in html and "2 min ago" in html
        assert ("Leak", "dry") in _rows(html)
        never = widget_html(page, _demo("Front Door").mac)
        assert 'class="widget dim"' in never and "never heard" in never


async def test_counts_are_in_the_singular_for_one(tmp_path: Path) -> None:
    remote = DeviceEntry(mac="F82441DE0007", pid=0x0153, key=None, name="Remote")
    async with dashboard(tmp_path, entries=[remote]) as (app, client):
        frame = build.mibeacon_frame(
            0x0153, 9, [build.obj_button(3, 0)], mac=display(remote.mac), version=3
        )
        feed(app, display(remote.mac), frame)
        _, page = await client.get("/")
        summary = re.sub(
            r"<[^>]+>", "", page[page.index('id="summary"') : page.index("</section>")]
        )
        assert "Observing 1 device" in summary and "1 advertisement" in summary
        assert "1 event" in summary and "1 events" not in summary
        assert "0 connections" in summary
        from mihomekit.commands.run import ready_lines

        assert ", 1 accessory, setup code" in ready_lines(app)[0]
