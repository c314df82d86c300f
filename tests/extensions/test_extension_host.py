"""Extensions in a running bridge: found by file, module name or entry point; their values
reach HomeKit like any reading; one that raises (in setup, in a callback, in a job) or
cannot be loaded is logged once and disabled while the bridge keeps serving."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest
from bridge_helpers import bridge_config
from homekit_helpers import AccessoryView, controller_on_loopback, free_port, pair
from mqtt_helpers import until

from mihomekit.app import App
from mihomekit.mi32cfg import DeviceEntry
from mihomekit.settings import parse_settings
from mihomekit.tap import RawAdvertisement

pytestmark = pytest.mark.timeout(60)

THERMO = DeviceEntry(mac="A4C138123456", pid=0x055B, key=None)

GOOD = """
import asyncio
heard = []
stopped = []

async def setup(api):
    await asyncio.sleep(0)
    assert api.options["greeting"] == "hello"
    assert api.device("A4:C1:38:12:34:56").model == "LYWSD03MMC"
    def on_adv(adv):
        heard.append(adv.mac)
        api.set_values("A4:C1:38:12:34:56", {"temperature": 20.0 + len(heard)})
    api.on_advertisement(on_adv, addresses=["c8:fd:19:00:00:01"])
    api.every(0.05, lambda: None)
    api.on_stop(lambda: stopped.append(True))
"""
FLAKY = """
calls = []

def setup(api):
    def on_adv(adv):
        calls.append(adv.mac)
        if len(calls) >= 2:
            raise RuntimeError("flaky callback")
    api.on_advertisement(on_adv)
"""
BAD_JOB = """
runs = []

def setup(api):
    async def job():
        runs.append(1)
        raise ValueError("bad job")
    api.every(0.05, job, first=0)
"""
BOOM = """
def setup(api):
    raise RuntimeError("boom in setup")
"""
ENTRY = """
started = []

def setup(api):
    started.append(api.name)
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_extensions_run_and_a_failing_one_is_disabled_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    for name, text in (("good", GOOD), ("flaky", FLAKY), ("bad_job", BAD_JOB), ("boom", BOOM)):
        write(code, f"{name}.py", text)
    # an installed package with an entry point, and a module on the path
    write(code, "ext_by_entry.py", ENTRY)
    dist = code / "mihomekit_test_ext-1.0.dist-info"
    dist.mkdir()
    write(dist, "METADATA", "Metadata-Version: 2.1\nName: mihomekit-test-ext\nVersion: 1.0\n")
    write(dist, "entry_points.txt", "[mihomekit.extensions]\ntest-ext = ext_by_entry:setup\n")
    monkeypatch.syspath_prepend(str(code))
    settings = parse_settings(
        f"""
[[extensions]]
module = "{code / "good.py"}"
options = {{ greeting = "hello" }}
[[extensions]]
module = "flaky"
[[extensions]]
module = "{code / "bad_job.py"}"
[[extensions]]
module = "{code / "boom.py"}"
[[extensions]]
module = "no_such_extension_here"
[[extensions]]
entry_point = "test-ext"
"""
    )
    caplog.set_level(logging.INFO)
    app = App(
        bridge_config(tmp_path / "state", free_port(), [THERMO], extensions=settings.extensions)
    )
    await app.start()
    try:
        host = app.extensions
        assert host is not None
        import ext_by_entry  # type: ignore[import-not-found]
        import flaky  # type: ignore[import-not-found]

        assert ext_by_entry.started == ["test-ext"]
        good = sys.modules["mihomekit_extension_good"]
        bad_job = sys.modules["mihomekit_extension_bad_job"]
        await until(lambda: "bad_job" in host.disabled, "the bad job")
        for n in range(5):
            app.advertisements.feed(RawAdvertisement("C8:FD:19:00:00:01", -60 - n, time=n))
            app.advertisements.feed(RawAdvertisement("C8:FD:19:00:00:02", -70, time=n))
        # the good one heard what it watches; the flaky one was stopped at its failure
        assert good.heard == ["C8:FD:19:00:00:01"] * 5
        assert len(flaky.calls) == 2
        assert bad_job.runs == [1]
        assert set(host.disabled) == {"flaky", "bad_job", "boom", "no_such_extension_here"}
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        for name, words in (
            ("flaky", "an advertisement callback raised RuntimeError: flaky callback"),
            ("bad_job", "a job raised ValueError: bad job"),
            ("boom", "setup raised RuntimeError: boom in setup"),
        ):
            lines = [r for r in errors if f"extension {name} " in r.getMessage()]
            assert len(lines) == 1, (name, [r.getMessage() for r in errors])
            assert words in lines[0].getMessage() and lines[0].exc_info, name
        missing = [r for r in errors if "no_such_extension_here" in r.getMessage()]
        assert len(missing) == 1 and "could not be loaded" in missing[0].getMessage()
        assert len(errors) == 4

        # the bridge serves on; the value the good extension set is in HomeKit
        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, app.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            aid = view.aid_by_serial(THERMO.display_mac)
            assert view.char(aid, "TemperatureSensor", "CurrentTemperature")["value"] == 25.0
            await pairing.close()
        await asyncio.sleep(0.1)
    finally:
        await app.stop()
    assert good.stopped == [True]
