"""The demo's bundled files (``mi32cfg.json``, ``recording.jsonl``), read from the package."""

from __future__ import annotations

from importlib import resources

__all__ = ["bundled_text"]


def bundled_text(name: str) -> str:
    """The text of the bundled file ``name``."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
