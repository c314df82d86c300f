"""A replay far above radio rates yields to the event loop, so the rest of the bridge
(HomeKit output above all) keeps running while it catches up."""

from __future__ import annotations

import asyncio

import pytest

from mihomekit.sources import Advertisement
from mihomekit.sources.recording import RecordedAdvertisement, ReplaySource

COUNT = 20_000


def _records(rate: float) -> list[RecordedAdvertisement]:
    """``COUNT`` advertisements recorded at ``rate`` a second (0: all at once)."""
    step = 1.0 / rate if rate else 0.0
    return [
        RecordedAdvertisement(t=i * step, mac="A4:C1:38:00:00:01", uuid=0xFE95, data=b"\x01")
        for i in range(COUNT)
    ]


@pytest.mark.parametrize(("rate", "speed"), [(1_000_000.0, 1.0), (0.0, 0.0)])
async def test_fast_replay_does_not_starve_other_tasks(rate: float, speed: float) -> None:
    ticks = 0
    seen_at: list[int] = []  # the tick count at each delivered advertisement

    def sink(_adv: Advertisement) -> None:
        seen_at.append(ticks)

    replay = ReplaySource(_records(rate), sink, speed=speed)
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker runs before the replay starts
    try:
        await replay.run()
    finally:
        done.set()
        await task
    assert len(seen_at) == COUNT
    # The other task kept running between batches all through the replay, not just
    # before and after it: it ticked at least once per 64 advertisements.
    during = set(seen_at)
    assert len(during) >= COUNT // 64 - 1, len(during)
    assert seen_at[-1] - seen_at[0] >= COUNT // 64 - 1
