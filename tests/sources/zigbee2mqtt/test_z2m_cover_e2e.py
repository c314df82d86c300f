"""End to end: a Zigbee2MQTT curtain motor (Aqara ZNCLDJ12LM, simulated) → mosquitto → the
bridge → a paired HomeKit controller.

The controller sets TargetPosition 40 on a curtain at 100: ``{"position": 40}`` goes to
``<base>/<ieee>/set``; Zigbee2MQTT's optimistic echo of 40 is not shown as reached;
PositionState is decreasing while the motor moves, then CurrentPosition 40 and stopped. A
stop mid-way shows stopped at the reported position; a stalled motor stops showing
movement after the quiet time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from homekit_helpers import AccessoryView, EventLog, controller_on_loopback, pair
from mosquitto import HOST, Mosquitto
from z2m_helpers import CURTAIN, SourceSlot, make_app, until
from z2m_simulator import Z2mSimulator

from mihomekit.accessories import controls

pytestmark = pytest.mark.timeout(120)

DECREASING, INCREASING, STOPPED = 0, 1, 2


@pytest.fixture
async def z2m(mosquitto: Mosquitto) -> AsyncIterator[Z2mSimulator]:
    # Steps slower than HAP's 0.5 s event coalescing, so every reported position is seen.
    sim = Z2mSimulator(HOST, mosquitto.port, cover_step_time=0.6)
    await sim.start()
    yield sim
    await sim.stop()


async def test_cover_moves_stops_and_stalls(
    tmp_path: Path, mosquitto: Mosquitto, z2m: Z2mSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(controls, "COVER_QUIET_TIME", 3.0)
    app = make_app(tmp_path, mosquitto, SourceSlot())
    await app.start()
    try:
        await until(lambda: app.registry.get(CURTAIN) is not None, "the curtain")
        await z2m.state(CURTAIN, position=100, state="OPEN", motor_state="stopped", running=False)
        await until(lambda: app.registry.get(CURTAIN).values.get("position") == 100, "open")

        def reported(reading: str) -> object:
            return app.registry.get(CURTAIN).values.get(reading)

        async with controller_on_loopback() as controller:
            pairing = await pair(controller, app.driver.state.mac, app.setup_code)
            view = AccessoryView(await pairing.list_accessories_and_characteristics())
            aid = view.aid_by_serial(CURTAIN)
            assert view.info(aid)["Model"] == "ZNCLDJ12LM"
            current = (aid, view.iid(aid, "WindowCovering", "CurrentPosition"))
            target = (aid, view.iid(aid, "WindowCovering", "TargetPosition"))
            state = (aid, view.iid(aid, "WindowCovering", "PositionState"))
            assert view.char(aid, "WindowCovering", "CurrentPosition")["value"] == 100
            assert view.char(aid, "WindowCovering", "PositionState")["value"] == STOPPED
            log = EventLog()
            pairing.dispatcher_connect(log)
            await pairing.subscribe([current, target, state])

            async def shown() -> tuple[int, int, int]:
                got = await pairing.get_characteristics([current, target, state])
                return got[current]["value"], got[target]["value"], got[state]["value"]

            # 100 → 40: the /set, the echo ignored, decreasing, then 40 and stopped.
            await pairing.put_characteristics([(*target, 40)])
            await until(lambda: z2m.sets, "the /set")
            assert z2m.sets[-1] == (CURTAIN, {"position": 40})
            moving = await log.wait_for(state, DECREASING)
            reached = await log.wait_for(current, 40)
            stopped = await log.wait_for(state, STOPPED)
            assert moving <= reached <= stopped
            # The echo (40 at once) is not shown: the first position seen is one on the way.
            assert log.values(current)[0] != 40
            assert log.values(current)[-1] == 40
            assert await shown() == (40, 40, STOPPED)

            # 40 → 100, stopped from the wall switch on the way.
            seen = len(log.values(current))
            await pairing.put_characteristics([(*target, 100)])
            await log.wait_for(state, INCREASING)
            await until(lambda: 60 in log.values(current)[seen:], "60 on the way up")
            await z2m.raw(f"{CURTAIN}/set", '{"state": "STOP"}')
            await until(lambda: reported("cover_motion") == "stopped", "the stop")
            where = reported("position")
            assert where in (60, 80)
            assert await shown() == (where, where, STOPPED)

            # A stalled motor: only the echo comes; nothing is shown as moving for long.
            z2m.stalled.add(z2m.name_of(CURTAIN))
            await pairing.put_characteristics([(*target, 0)])
            await until(lambda: reported("position") == 0, "the optimistic echo")
            assert await shown() == (where, 0, STOPPED)
            # After the quiet time the target falls back to the position: Home shows no
            # movement any more.
            for _ in range(100):
                if await shown() == (where, where, STOPPED):
                    break
                await asyncio.sleep(0.1)
            assert await shown() == (where, where, STOPPED)
    finally:
        await app.stop()
