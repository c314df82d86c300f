"""The dashboard as an attacker on the LAN meets it (aiohttp's client on loopback
addresses): Host headers, who sees the setup code, opening pairing, login limits per
address, and live events that a name cannot split.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import hapraw
import pytest
from web_helpers import PASSWORD, SETUP_CODE, dashboard_config, web_output

from mihomekit.app import App
from mihomekit.outputs.web.auth import LoginLimiter, client_key, from_this_host
from mihomekit.outputs.web.hosts import HostCheck, host_name
from mihomekit.outputs.web.live import sse_text, widget_event
from mihomekit.passwords import hash_password

pytestmark = pytest.mark.timeout(120)

CODE_MARKS = (SETUP_CODE, SETUP_CODE.replace("-", ""), "X-HM://")


@asynccontextmanager
async def bridge(
    base: Path, *, password: str | None = None, pairing_window: float = 600.0
) -> AsyncIterator[App]:
    config = dashboard_config(
        base / "state",
        base / "mi32cfg",
        password_hash=hash_password(password) if password else None,
    )
    app = App(dataclasses.replace(config, pairing_window=pairing_window))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@asynccontextmanager
async def client(local: str | None = None) -> AsyncIterator[aiohttp.ClientSession]:
    """A browser-like session, connecting from the loopback address ``local``."""
    connector = aiohttp.TCPConnector(local_addr=(local, 0) if local else None, force_close=True)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as session:
        yield session


async def page(session: aiohttp.ClientSession, url: str, **kw: object) -> tuple[int, str, str]:
    """Status, text and the page's CSRF token."""
    async with session.get(url, **kw) as response:  # type: ignore[arg-type]
        text = await response.text()
    match = re.search(r'data-csrf="([^"]+)"', text)
    return response.status, text, match.group(1) if match else ""


async def login(session: aiohttp.ClientSession, base: str, password: str) -> int:
    _, _, csrf = await page(session, base + "login")
    async with session.post(
        base + "login", data={"password": password, "csrf": csrf}, allow_redirects=False
    ) as response:
        return response.status


# --------------------------------------------------------------------------- Host


def test_host_names() -> None:
    assert host_name("[::1]:8089") == "::1"
    assert host_name("Pi.Local.:8089") == "pi.local"
    assert host_name("192.168.1.20") == "192.168.1.20"
    check = HostCheck(["192.168.1.20"], names=["pi.fritz.box"])
    for good in ("192.168.1.20:8089", "localhost:8089", "127.0.0.5", "[::1]:80", "PI.fritz.box"):
        assert check.allows(good, "192.168.1.20"), good
    assert check.allows("10.1.2.3:8089", "10.1.2.3")  # the address the client reached
    assert check.allows(None, None)
    for bad in ("rebind.example", "192.168.1.21:8089", "pi.fritz.box.evil.example", ""):
        assert not check.allows(bad, "192.168.1.20"), bad


async def test_a_foreign_host_header_is_refused(tmp_path: Path) -> None:
    async with bridge(tmp_path) as app, client() as session:
        url = web_output(app).url
        for host in ("rebind.example", "rebind.example:8089", "192.0.2.7"):
            async with session.get(url + "pairing", headers={"Host": host}) as response:
                assert response.status == 421, host
                assert SETUP_CODE not in await response.text()
        status, text, _ = await page(session, url + "pairing", headers={"Host": "localhost"})
        assert status == 200 and SETUP_CODE in text  # this host, no password: the owner
        async with session.get(url + "metrics") as response:
            assert "mihomekit_web_refused_hosts_total 3" in await response.text()


# --------------------------------------------------------------------------- the code


async def test_the_code_only_for_a_logged_in_owner(tmp_path: Path) -> None:
    async with bridge(tmp_path, password=PASSWORD) as app, client() as session:
        base = web_output(app).url
        for path in ("", "pairing", "devices", "sources", "login", "metrics"):
            status, text, _ = await page(session, base + path)
            assert status == 200, path
            assert not any(mark in text for mark in CODE_MARKS), path
        _, text, _ = await page(session, base + "pairing")
        assert "mihomekit qr" in text and "log in" in text
        assert 'action="/pairing/open"' not in text
        assert await login(session, base, PASSWORD) == 303
        _, text, _ = await page(session, base + "pairing")
        assert f'setup-code">{SETUP_CODE}' in text and "X-HM://" in text


def test_this_host_is_loopback_or_the_address_reached() -> None:
    assert from_this_host("127.0.0.1") and from_this_host("::ffff:127.0.0.2")
    assert from_this_host("192.168.1.20", "192.168.1.20")
    assert not from_this_host("192.168.1.21", "192.168.1.20")
    assert not from_this_host(None, "192.168.1.20")


async def test_open_pairing_on_the_dashboard(tmp_path: Path) -> None:
    """A closed window: refused pair-setup, the page says so, the owner's button opens it."""
    async with bridge(tmp_path, pairing_window=0.5) as app, client() as session:
        base = web_output(app).url
        await asyncio.sleep(0.6)
        with pytest.raises(hapraw.PairingError) as refused:
            await hapraw.pair_setup("127.0.0.1", app.hubs.first.port, SETUP_CODE)
        assert refused.value.error == hapraw.TlvError.UNAVAILABLE
        _, text, csrf = await page(session, base + "pairing")
        assert "Pairing is closed" in text and 'action="/pairing/open"' in text
        async with session.post(
            base + "pairing/open", data={"bridge": "1", "csrf": csrf}
        ) as response:
            text = await response.text()
        assert response.status == 200, text[:500]
        assert "pairing of Mi-Home-Bridge open until" in text
        pairing = await hapraw.pair_setup("127.0.0.1", app.hubs.first.port, SETUP_CODE)
        assert pairing.accessory_id == app.driver.state.mac
        _, text, csrf = await page(session, base + "pairing")
        async with session.post(
            base + "pairing/open", data={"bridge": "1", "csrf": csrf}
        ) as response:
            assert response.status == 400 and "is paired" in await response.text()


# --------------------------------------------------------------------------- logins


def test_login_limits_count_per_client() -> None:
    now = [0.0]
    limiter = LoginLimiter(per_client=5, window=300, clock=lambda: now[0])
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"):
        for _ in range(5):
            assert limiter.begin(address) == 0
        assert limiter.begin(address) > 0
    assert limiter.begin("10.0.0.7") == 0  # the owner's address is not locked out
    assert client_key("2001:db8::1") == client_key("2001:db8::2") == "2001:db8::/64"
    now[0] = 300.0
    assert limiter.begin("10.0.0.1") == 0


async def test_failures_from_six_addresses_leave_the_owner_able_to_log_in(
    tmp_path: Path,
) -> None:
    async with bridge(tmp_path, password=PASSWORD) as app:
        base = web_output(app).url
        for n in range(2, 8):  # six other hosts, five wrong passwords each
            async with client(f"127.0.0.{n}") as session:
                for _ in range(5):
                    assert await login(session, base, "not the password") == 403
                assert await login(session, base, PASSWORD) == 429  # this one is locked
        async with client("127.0.0.1") as session:
            assert await login(session, base, PASSWORD) == 303
            _, text, _ = await page(session, base + "pairing")
            assert f'setup-code">{SETUP_CODE}' in text


async def test_parallel_tries_are_counted_before_checking(tmp_path: Path) -> None:
    """40 tries at once from one address: 5 password checks, 35 refused unchecked."""
    async with bridge(tmp_path, password=PASSWORD) as app, client("127.0.0.9") as session:
        base = web_output(app).url
        _, _, csrf = await page(session, base + "login")

        async def attempt() -> int:
            async with session.post(
                base + "login", data={"password": "wrong guess!", "csrf": csrf}
            ) as response:
                return response.status

        statuses = await asyncio.gather(*(attempt() for _ in range(40)))
        assert statuses.count(403) == 5, statuses
        assert statuses.count(429) == 35, statuses


# --------------------------------------------------------------------------- live events


def test_no_control_character_reaches_an_event_field() -> None:
    event = widget_event("dev\r1", "<h2>Kitchen\revent: devices\ndata: x</h2>\x00\x1b")
    lines = event.split("\n")
    assert lines[0] == "event: widget"
    assert [line.split(":", 1)[0] for line in lines[1:3]] == ["data", "data"]
    assert lines[3:] == ["", ""]
    assert "\r" not in event and "\x00" not in event and "\x1b" not in event
    assert sse_text("a\tb\x7fc") == "a b c"
