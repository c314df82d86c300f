"""The Mi Dashboard in a real headless Chromium, against a running bridge on 127.0.0.1.

One bridge (the demo devices, a dashboard password) and one browser for the whole module;
the tests run in file order: reading and live updates first, then refused and accepted
changes, pairing last. A real aiohomekit controller checks that a device added in the
browser appears in HomeKit without a restart while every other aid stays. Screenshots go
to the artifacts directory (:func:`browser.artifacts_dir`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser import chromium, screenshot, wait_until
from homekit_helpers import AccessoryView, controller_on_loopback, pair
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from web_helpers import (
    LIVING,
    PASSWORD,
    SETUP_CODE,
    BridgeThread,
    dashboard_config,
    display,
    th_frame,
)

from mihomekit.decoders import build
from mihomekit.demo import demo_entries
from mihomekit.mi32cfg import DeviceEntry, load_mi32cfg
from mihomekit.passwords import hash_password

# One bridge and one browser serve the whole module, in order: one xdist worker.
pytestmark = [pytest.mark.timeout(180), pytest.mark.xdist_group("web_browser")]

#: A thermometer heard but not configured (its frames are encrypted with NEW_KEY).
NEW = DeviceEntry(
    mac="A4C138ABCDEF", pid=0x055B, key=bytes.fromhex("00112233445566778899aabbccddeeff")
)
WRONG_KEY = "ffeeddccbbaa99887766554433221100"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeThread]:
    base = tmp_path_factory.mktemp("dashboard")
    runner = BridgeThread()
    config = dashboard_config(
        base / "state", base / "mi32cfg", password_hash=hash_password(PASSWORD)
    )
    runner.start(config)
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def controller(bridge: BridgeThread) -> Iterator[Any]:
    """A real aiohomekit controller paired with the bridge (in the bridge's loop)."""
    holder: dict[str, Any] = {}

    async def start() -> Any:
        context = controller_on_loopback()
        ctl = await context.__aenter__()
        holder["context"] = context
        assert bridge.app is not None
        return await pair(ctl, bridge.app.driver.state.mac, SETUP_CODE)

    pairing = bridge.run(start())
    try:
        yield pairing
    finally:
        bridge.run(pairing.close())
        bridge.run(holder["context"].__aexit__(None, None, None))


def _open(browser: WebDriver, bridge: BridgeThread, path: str) -> None:
    browser.get(bridge.url.rstrip("/") + path)


def _widget_text(browser: WebDriver, device_id: str) -> str:
    """The widget's text, read in one go (live updates replace the element)."""
    return str(
        browser.execute_script(
            "const w = document.getElementById(arguments[0]); return w ? w.innerText : '';",
            f"w-{device_id}",
        )
    )


def _classes(browser: WebDriver, device_id: str) -> list[str]:
    """The widget's classes, read in one go (live updates replace the element)."""
    found = browser.execute_script(
        "const w = document.getElementById(arguments[0]); return w ? w.className : '';",
        f"w-{device_id}",
    )
    return str(found).split()


def _widget_state(browser: WebDriver, device_id: str) -> dict[str, Any]:
    """The widget's mark and whether it shows the fading cue, read in one go."""
    found = browser.execute_script(
        "const w = document.getElementById(arguments[0]);"
        "return {mark: w ? (w.dataset.mark || null) : null,"
        " cue: w ? w.querySelector('svg.cue') !== null : false};",
        f"w-{device_id}",
    )
    return dict(found)


def _message(browser: WebDriver) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, "p.message").text)


def test_overview_lists_every_demo_device(bridge: BridgeThread, browser: WebDriver) -> None:
    _open(browser, bridge, "/")
    for entry in demo_entries():
        assert entry.name and entry.name in _widget_text(browser, entry.mac)
    screenshot(browser, "overview-start")


def test_never_heard_device_is_dimmed(bridge: BridgeThread, browser: WebDriver) -> None:
    bridge.feed(LIVING, th_frame(LIVING, 100, 21.0))
    _open(browser, bridge, "/")
    assert "dim" not in _classes(browser, LIVING.mac)
    silent = next(e for e in demo_entries() if e.name == "Front Door")
    assert "dim" in _classes(browser, silent.mac)
    assert "never heard" in _widget_text(browser, silent.mac)


def test_advertisement_updates_its_widget_without_reload(
    bridge: BridgeThread, browser: WebDriver
) -> None:
    _open(browser, bridge, "/")
    browser.execute_script("window.notReloaded = true;")
    wait_until(
        lambda: browser.execute_script("return document.body.dataset.live === 'open';"),
        what="the live connection",
    )
    other = next(e for e in demo_entries() if e.name == "Kitchen")
    mark = "document.getElementById(arguments[0]).dataset.mark = 'kept';"
    browser.execute_script(mark, f"w-{other.mac}")
    browser.execute_script(mark, f"w-{LIVING.mac}")
    bridge.feed(LIVING, th_frame(LIVING, 101, 23.4))
    wait_until(lambda: "23.4 °C" in _widget_text(browser, LIVING.mac), what="the new value")
    assert browser.execute_script("return window.notReloaded === true;")
    # Only the changed widget was redrawn, with the fading cue.
    assert _widget_state(browser, LIVING.mac) == {"mark": None, "cue": True}
    assert _widget_state(browser, other.mac)["mark"] == "kept"
    screenshot(browser, "overview-live-update")


def _summary_count(browser: WebDriver, key: str) -> str:
    """``"1 event"``: a live count in the header and its noun, read in one go."""
    found = browser.execute_script(
        "const b = document.getElementById(arguments[0]);"
        "return b ? b.textContent + ' ' + b.nextElementSibling.textContent : '';",
        f"s-{key}",
    )
    return str(found)


def test_live_counts_say_event_then_events(bridge: BridgeThread, browser: WebDriver) -> None:
    remote = next(e for e in demo_entries() if e.name == "Remote")
    _open(browser, bridge, "/")
    wait_until(
        lambda: browser.execute_script("return document.body.dataset.live === 'open';"),
        what="the live connection",
    )
    assert bridge.app is not None
    before = bridge.app.registry.stats.get("events", 0)
    assert _summary_count(browser, "events") == f"{before} events"  # none pressed yet
    press = [build.obj_button(2, 0)]
    bridge.feed(remote, build.mibeacon_frame(0x0153, 1, press, mac=display(remote.mac), version=3))
    wait_until(lambda: _summary_count(browser, "events") == "1 event", what="1 event")
    bridge.feed(remote, build.mibeacon_frame(0x0153, 2, press, mac=display(remote.mac), version=3))
    wait_until(lambda: _summary_count(browser, "events") == "2 events", what="2 events")
    assert "Power" not in _widget_text(browser, remote.mac)


def test_wrong_key_dims_its_widget_without_reload(bridge: BridgeThread, browser: WebDriver) -> None:
    bridge.feed(LIVING, th_frame(LIVING, 100, 22.0))  # heard, with a working key
    _open(browser, bridge, "/")
    browser.execute_script("window.notReloaded = true;")
    wait_until(
        lambda: browser.execute_script("return document.body.dataset.live === 'open';"),
        what="the live connection",
    )
    assert "dim" not in _classes(browser, LIVING.mac)
    # A frame under its address sealed with another key: no values, only a key status.
    wrong = DeviceEntry(mac=LIVING.mac, pid=LIVING.pid, key=bytes.fromhex(WRONG_KEY))
    bridge.feed(LIVING, th_frame(wrong, 102, 30.0))
    wait_until(lambda: "wrong key" in _widget_text(browser, LIVING.mac), what="the wrong key")
    assert "dim" in _classes(browser, LIVING.mac)
    assert "30.0 °C" not in _widget_text(browser, LIVING.mac)
    screenshot(browser, "overview-wrong-key")
    # The right key again: the widget is lit, still without a reload.
    bridge.feed(LIVING, th_frame(LIVING, 103, 22.5))
    wait_until(lambda: "key works" in _widget_text(browser, LIVING.mac), what="the key again")
    assert "dim" not in _classes(browser, LIVING.mac)
    assert browser.execute_script("return window.notReloaded === true;")


def test_change_without_the_password_is_refused(bridge: BridgeThread, browser: WebDriver) -> None:
    mi32cfg = bridge.web.devices.path
    before = mi32cfg.read_bytes()
    _open(browser, bridge, "/devices")
    form = browser.find_element(By.CSS_SELECTOR, "form.add.card")
    form.find_element(By.NAME, "mac").send_keys("A4:C1:38:00:00:99")
    form.find_element(By.NAME, "pid").send_keys("0a1c")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "p.message"), what="a message")
    assert "log in with the dashboard password" in _message(browser)
    assert mi32cfg.read_bytes() == before
    assert bridge.call(lambda: bridge.app and bridge.app.registry.get("A4C138000099")) is None
    screenshot(browser, "devices-refused")


def _login(browser: WebDriver, bridge: BridgeThread) -> None:
    _open(browser, bridge, "/login")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_until(lambda: browser.find_elements(By.XPATH, "//button[text()='Log out']"), what="login")


def _logged_in(browser: WebDriver, bridge: BridgeThread) -> None:
    """Logged in, whatever the tests before did."""
    _open(browser, bridge, "/")
    if not browser.find_elements(By.XPATH, "//button[text()='Log out']"):
        _login(browser, bridge)


def _found_form(browser: WebDriver, mac: str) -> Any:
    return browser.find_element(By.CSS_SELECTOR, f'li.found[data-mac="{display(mac)}"] form')


def _check_text(form: Any) -> str:
    return str(form.find_element(By.CSS_SELECTOR, ".keycheck").text)


def test_wrong_key_is_reported_as_wrong(bridge: BridgeThread, browser: WebDriver) -> None:
    bridge.feed(NEW, th_frame(NEW, 5, 19.5))
    _open(browser, bridge, "/devices")
    form = _found_form(browser, NEW.mac)
    assert "LYWSD03MMC" in browser.find_element(By.CSS_SELECTOR, "li.found").text
    key = form.find_element(By.NAME, "key")
    key.send_keys(WRONG_KEY)
    wait_until(lambda: "wrong key" in _check_text(form), what="the key check")
    key.clear()
    key.send_keys(NEW.key.hex() if NEW.key else "")
    wait_until(lambda: "key works" in _check_text(form), what="the key check")
    screenshot(browser, "devices-key-check")


def test_adding_a_device_shows_a_new_accessory_in_homekit(
    bridge: BridgeThread, browser: WebDriver, controller: Any
) -> None:
    before = AccessoryView(bridge.run(controller.list_accessories_and_characteristics()))
    aids_before = {before.info(aid)["SerialNumber"]: aid for aid in before.aids() if aid != 1}
    bridge.feed(NEW, th_frame(NEW, 6, 19.5))  # heard, not configured
    _logged_in(browser, bridge)
    _open(browser, bridge, "/devices")
    form = _found_form(browser, NEW.mac)
    form.find_element(By.NAME, "name").send_keys("Guest Room")
    form.find_element(By.NAME, "key").send_keys(NEW.key.hex() if NEW.key else "")
    wait_until(lambda: "key works" in _check_text(form), what="the key check")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "p.message"), what="a message")
    assert "added Guest Room" in _message(browser)
    screenshot(browser, "devices-added")

    saved = {e.mac: e for e in load_mi32cfg(bridge.web.devices.path)}
    assert saved[NEW.mac].key == NEW.key and saved[NEW.mac].name == "Guest Room"
    after = AccessoryView(bridge.run(controller.list_accessories_and_characteristics()))
    aids_after = {after.info(aid)["SerialNumber"]: aid for aid in after.aids() if aid != 1}
    assert display(NEW.mac) in aids_after
    assert aids_after[display(NEW.mac)] not in aids_before.values()
    assert {k: v for k, v in aids_after.items() if k != display(NEW.mac)} == aids_before
    _open(browser, bridge, "/")
    assert "Guest Room" in _widget_text(browser, NEW.mac)


def test_phone_viewport_has_no_horizontal_scrolling(
    bridge: BridgeThread, browser: WebDriver
) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 740, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        for path in ("/", "/devices", "/pairing", "/sources"):
            _open(browser, bridge, path)
            scroll, client = browser.execute_script(
                "return [document.documentElement.scrollWidth,"
                " document.documentElement.clientWidth];"
            )
            assert client <= 375 and scroll <= client, (path, scroll, client)
            screenshot(browser, f"phone{path.replace('/', '-') or '-overview'}")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_pairing_page_lists_controllers_and_resets(
    bridge: BridgeThread, browser: WebDriver, controller: Any
) -> None:
    _logged_in(browser, bridge)
    _open(browser, bridge, "/pairing")
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "admin" in text and "No Response" in text
    form = browser.find_element(By.CSS_SELECTOR, "form.danger")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The confirmation box is required: the browser does not send the form without it.
    assert bridge.call(lambda: bridge.app is not None and bridge.app.paired)
    form = browser.find_element(By.CSS_SELECTOR, "form.danger")
    form.find_element(By.NAME, "confirm").click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "p.message"), what="a message")
    assert "pairing of" in _message(browser) and "reset" in _message(browser)
    assert bridge.call(lambda: bridge.app is not None and not bridge.app.paired)
    assert browser.find_elements(By.CSS_SELECTOR, ".qr svg")
    assert SETUP_CODE in browser.find_element(By.CSS_SELECTOR, ".setup-code").text
    screenshot(browser, "pairing-unpaired")


def test_no_page_shows_a_whole_bind_key(bridge: BridgeThread, browser: WebDriver) -> None:
    keys = [e.key.hex().upper() for e in demo_entries() if e.key]
    for path in ("/", "/devices", "/pairing", "/sources", "/metrics"):
        _open(browser, bridge, path)
        source = browser.page_source.upper()
        assert not any(key in source for key in keys), path
