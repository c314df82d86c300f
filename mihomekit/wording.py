"""Counts in words, for every message and page: ``1 device``, ``2 devices``, ``0 devices``."""

from __future__ import annotations

__all__ = ["counted", "noun"]


def noun(count: int, singular: str, plural: str | None = None) -> str:
    """``singular`` for exactly one, else ``plural`` (default: ``singular`` + ``s``)."""
    return singular if count == 1 else plural or singular + "s"


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` and its noun: ``1 accessory``, ``3 accessories`` (give the plural)."""
    return f"{count} {noun(count, singular, plural)}"
