"""``[[esphome]]`` settings, and ``mihomekit run`` with proxies as a user starts it."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from esphome_fake import FakeProxy
from homekit_helpers import free_port
from run_helpers import DEMO, ROOT, run_args

from mihomekit.commands.run import esphome_sources
from mihomekit.errors import ConfigError
from mihomekit.settings import EsphomeSettings, parse_settings

KEY = "px7tsbK3C7bpXHr2OevEV2ZMg/FrNBw2+O2pNPbedtA="
OTHER_KEY = "QRTIErOb/fcE9Ou/QG5O2EXCjVDqq0bP8l1ocs7CfYY="


def test_proxies_are_read() -> None:
    settings = parse_settings(
        f"""
[[esphome]]
host = "192.168.1.50"
encryption_key = "{KEY}"

[[esphome]]
host = "garage.local"
port = 6054
name = "garage-proxy"
encryption_key = ""
"""
    )
    assert settings.esphome == (
        EsphomeSettings(host="192.168.1.50", port=6053, encryption_key=KEY),
        EsphomeSettings(host="garage.local", port=6054, name="garage-proxy"),
    )
    assert len(esphome_sources(settings)) == 2
    assert parse_settings("").esphome == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[esphome]\nhost = "a"', "esphome: expected an array of tables ([[esphome]])"),
        ("[[esphome]]\nport = 6053", "esphome[0].host: missing"),
        ('[[esphome]]\nhost = ""', "esphome[0].host: must not be empty"),
        ('[[esphome]]\nhost = "a b"', "esphome[0].host: not an IP address or host name"),
        ('[[esphome]]\nhost = "a"\nport = 0', "esphome[0].port: must be between 1 and 65535"),
        ('[[esphome]]\nhost = "a"\nencryption_key = "abc"', "esphome[0].encryption_key: expected"),
        # 31 bytes, and text that is not base64 at all
        ('[[esphome]]\nhost = "a"\nencryption_key = "' + "A" * 40 + '="', "base64 of 32 bytes"),
        ('[[esphome]]\nhost = "a"\nencryption_key = "' + "!" * 44 + '"', "base64 of 32 bytes"),
        ('[[esphome]]\nhost = "a"\nencryption_key = 5', "esphome[0].encryption_key: expected a"),
        ('[[esphome]]\nhost = "a"\npassword = "x"', "esphome[0].password: unknown setting"),
        (
            '[[esphome]]\nhost = "a"\n[[esphome]]\nhost = "A"\nport = 6053',
            "esphome[1]: A:6053 is listed twice",
        ),
        (
            '[[esphome]]\nhost = "a"\nname = "n"\n[[esphome]]\nhost = "b"\nname = "n"',
            "esphome[1]: the name 'n' is given twice",
        ),
    ],
)
def test_bad_proxy_settings_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(text)
    assert message in str(info.value)


@pytest.mark.timeout(60)
async def test_run_with_proxies(tmp_path: Path) -> None:
    """``mihomekit run --settings``: a proxy subscribes, a wrong key is one warning line."""
    good = await FakeProxy(name="attic").start()
    locked = await FakeProxy.encrypted(KEY, name="shed").start()
    refused = free_port()
    settings = tmp_path / "mihomekit.toml"
    settings.write_text(
        f"""
[[esphome]]
host = "127.0.0.1"
port = {good.port}

[[esphome]]
host = "127.0.0.1"
port = {locked.port}
encryption_key = "{OTHER_KEY}"

[[esphome]]
host = "127.0.0.1"
port = {refused}
"""
    )
    args = run_args(tmp_path / "state", demo_config=False)
    args += ["--config", str(DEMO / "mi32cfg.json"), "--settings", str(settings)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mihomekit",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        await good.wait_subscribed(timeout=30)
        await asyncio.sleep(2.5)  # a few retries of the other two
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        await good.stop()
        await locked.stop()
    text = err.decode()
    assert proc.returncode == 0, text
    assert "stopped" in out.decode()
    assert "Traceback" not in text, text
    assert text.count("wrong encryption key") == 1, text
    assert text.count("refused") == 1, text
    assert locked.handshake_failures >= 2
