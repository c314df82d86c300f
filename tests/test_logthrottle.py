"""Rate-limited warnings: the first of a key is logged, the rest counted and summed up."""

from __future__ import annotations

import logging

import pytest

from mihomekit.logthrottle import LogThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_first_logged_rest_counted_and_summed_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="test.throttle")
    clock = Clock()
    throttle = LogThrottle(logging.getLogger("test.throttle"), interval=60.0, clock=clock)
    assert throttle.warning("a", "command failed: %s", "offline")
    for _ in range(499):
        assert not throttle.warning("a", "command failed: %s", "offline")
    assert throttle.warning("b", "other trouble")  # another key is logged at once
    assert _lines(caplog) == ["command failed: offline", "other trouble"]
    assert len(_lines(caplog, logging.DEBUG)) == 499
    clock.now = 60.0
    assert throttle.warning("a", "command failed: %s", "offline")
    assert _lines(caplog)[-1] == (
        "command failed: offline (499 more like it since the last such line)"
    )
    assert throttle.count("a") == 501
    clock.now = 200.0
    throttle.warning("a", "command failed: %s", "offline")
    assert _lines(caplog)[-1] == "command failed: offline"  # nothing held back meanwhile


def test_once_only_forget_and_bounded_keys(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.throttle")
    clock = Clock()
    throttle = LogThrottle(
        logging.getLogger("test.throttle"), interval=None, max_keys=3, clock=clock
    )
    throttle.warning("closed", "window closed")
    clock.now = 10**6
    throttle.warning("closed", "window closed")
    assert _lines(caplog) == ["window closed"]
    throttle.forget("closed")
    throttle.warning("closed", "window closed")
    assert _lines(caplog) == ["window closed"] * 2
    for n in range(10):
        throttle.info(f"peer{n}", "peer %d", n)
    assert len(throttle._keys) == 3
