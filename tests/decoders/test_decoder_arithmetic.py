"""Shortcuts the decoders take for speed give exactly the values of the plain formula."""

from __future__ import annotations

from mihomekit.decoders.bparasite import _percent


def test_bparasite_percent_equals_the_rounded_quotient_for_every_u16() -> None:
    differ = [raw for raw in range(65536) if _percent(raw) != round(raw * 100 / 65536, 2)]
    assert differ == []
