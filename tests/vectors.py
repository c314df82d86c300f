"""Loading the real advertisement test vectors.

The vectors live outside the repository: ``$MIHOMEKIT_VECTORS`` or, by default,
``<repo>/../shared/vectors``. A missing directory is an error (the tests fail), never a
reason to skip.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def vectors_dir() -> Path:
    """The directory holding ``mibeacon-real.json`` and ``custom-formats-real.json``."""
    path = Path(os.environ.get("MIHOMEKIT_VECTORS", REPO.parent / "shared" / "vectors"))
    if not (path / "mibeacon-real.json").is_file():
        raise FileNotFoundError(
            f"test vectors not found in {path} (set MIHOMEKIT_VECTORS to their directory)"
        )
    return path


def reference_dir() -> Path:
    """The reference documents next to the vectors (``../reference``)."""
    path = vectors_dir().parent / "reference"
    if not (path / "mibeacon.md").is_file():
        raise FileNotFoundError(f"reference documents not found in {path}")
    return path


@functools.cache
def _load(name: str) -> dict[str, Any]:
    with open(vectors_dir() / name, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def mibeacon_vectors() -> list[dict[str, Any]]:
    """The 152 real packets of ``mibeacon-real.json``."""
    vectors: list[dict[str, Any]] = _load("mibeacon-real.json")["vectors"]
    return vectors


def derived_negatives() -> list[dict[str, Any]]:
    """The 687 mutated packets of ``mibeacon-real.json``."""
    negatives: list[dict[str, Any]] = _load("mibeacon-real.json")["derived_negative"]
    return negatives


def custom_vectors() -> list[dict[str, Any]]:
    """The 87 ATC/pvvx, Qingping and BTHome packets of ``custom-formats-real.json``."""
    vectors: list[dict[str, Any]] = _load("custom-formats-real.json")["vectors"]
    return vectors


def vector_by_id(vector_id: str) -> dict[str, Any]:
    """One vector (real or custom) by its id."""
    for v in mibeacon_vectors() + custom_vectors():
        if v["id"] == vector_id:
            return v
    raise KeyError(vector_id)


def args(vector: dict[str, Any]) -> tuple[str, int, bytes, bytes | None]:
    """``decode_advertisement`` arguments for a vector."""
    key = vector.get("bindkey_hex")
    return (
        vector["mac"],
        int(vector["service_uuid"], 16),
        bytes.fromhex(vector["data_hex"]),
        bytes.fromhex(key) if key else None,
    )
