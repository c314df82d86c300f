"""Loading the real advertisement test vectors and the reference tables.

They live in ``tests/data`` (origin: ``tests/data/README.md``); ``$MIHOMEKIT_VECTORS``
may name another directory holding the two vector files. A missing file is an error (the
tests fail), never a reason to skip.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from repo import DATA


def vectors_dir() -> Path:
    """The directory holding ``mibeacon-real.json`` and ``custom-formats-real.json``."""
    path = Path(os.environ.get("MIHOMEKIT_VECTORS", DATA))
    if not (path / "mibeacon-real.json").is_file():
        raise FileNotFoundError(
            f"test vectors not found in {path} (MIHOMEKIT_VECTORS names their directory)"
        )
    return path


@functools.cache
def _read(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _load(name: str) -> dict[str, Any]:
    return _read(vectors_dir() / name)


def reference_objects() -> list[dict[str, Any]]:
    """MiBeacon object ids (``{"id": "0x1004", "meaning", "exposed"}``), classic and MIoT."""
    objects: list[dict[str, Any]] = _read(DATA / "reference-tables.json")["mibeacon_objects"][
        "objects"
    ]
    return objects


def reference_devices() -> list[dict[str, Any]]:
    """xiaomi-ble 1.21.2's product ids (``{"pid": "0x055B", "model", "name", "sleepy"}``)."""
    devices: list[dict[str, Any]] = _read(DATA / "reference-tables.json")["xiaomi_ble_devices"][
        "devices"
    ]
    return devices


def tasmota_types() -> list[dict[str, Any]]:
    """Tasmota MI32's device types (``{"type": 4, "name": "LYWSD03", "pid": "0x055B"}``)."""
    types: list[dict[str, Any]] = _read(DATA / "reference-tables.json")["tasmota_mi32_types"][
        "types"
    ]
    return types


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
