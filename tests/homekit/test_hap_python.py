"""Every HAP-python name mihomekit relies on (:mod:`mihomekit.homekit.hap_python`) exists in
the installed HAP-python, methods with parameters that fit: an upgrade that renames or
drops one fails here, not in a user's home."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from homekit_helpers import driver_args
from pyhap.accessory import Accessory, Bridge
from pyhap.accessory_driver import AccessoryDriver

from mihomekit.homekit import hap_python


def _members(protocol: type) -> Iterator[tuple[str, Any]]:
    """``(name, what)`` of every public member a Protocol (and its base Protocols) names:
    a function, a property, or ``None`` for an annotated attribute."""
    seen: set[str] = set()
    for cls in protocol.__mro__:
        if cls in (Protocol, object) or not getattr(cls, "_is_protocol", False):
            continue
        for name in [*vars(cls).get("__annotations__", {}), *vars(cls)]:
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            value = vars(cls).get(name)
            yield name, value if callable(value) or isinstance(value, property) else None


def _problems(protocol: type, real: object) -> list[str]:
    """What of ``protocol`` the real HAP-python object ``real`` lacks or takes otherwise."""
    problems = []
    for name, declared in _members(protocol):
        where = f"{protocol.__name__}.{name}"
        if not hasattr(real, name):
            problems.append(f"{where} is missing")
            continue
        if not callable(declared) or isinstance(declared, property):
            continue
        actual = getattr(real, name)
        if inspect.iscoroutinefunction(declared) != inspect.iscoroutinefunction(actual):
            problems.append(f"{where}: async in one, not in the other")
        want = inspect.signature(declared).parameters
        have = inspect.signature(actual).parameters  # bound: no self
        variadic = any(p.kind is p.VAR_POSITIONAL for p in have.values())
        for parameter in list(want.values())[1:]:  # the Protocol's own self
            got = have.get(parameter.name)
            if got is None and not (variadic and parameter.kind is parameter.VAR_POSITIONAL):
                problems.append(f"{where}: no parameter {parameter.name!r}")
            elif got is not None and (parameter.default is inspect.Parameter.empty) != (
                got.default is inspect.Parameter.empty
            ):
                problems.append(f"{where}: {parameter.name!r} optional in one only")
        for parameter in have.values():
            required = parameter.default is inspect.Parameter.empty and parameter.kind not in (
                parameter.VAR_POSITIONAL,
                parameter.VAR_KEYWORD,
            )
            if required and parameter.name not in want:
                problems.append(f"{where}: HAP-python needs {parameter.name!r}")
    return problems


@pytest.fixture
async def hap(tmp_path: Path) -> dict[type, object]:
    """Real HAP-python objects, one per Protocol."""
    driver = AccessoryDriver(loop=asyncio.get_running_loop(), **driver_args(tmp_path))
    bridge = Bridge(driver, "Bridge")
    accessory = Accessory(driver, "Sensor", aid=2)
    service = accessory.add_preload_service("TemperatureSensor")
    bridge.add_accessory(accessory)
    driver.add_accessory(bridge)
    return {
        hap_python.HapDriver: driver,
        hap_python.HapBridge: bridge,
        hap_python.HapAccessory: accessory,
        hap_python.HapService: service,
        hap_python.HapCharacteristic: service.get_characteristic("CurrentTemperature"),
        hap_python.HapState: driver.state,
        hap_python.HapEncoder: driver.encoder,
    }


def test_every_protocol_is_checked(hap: dict[type, object]) -> None:
    protocols = {
        value
        for value in vars(hap_python).values()
        if isinstance(value, type)
        and getattr(value, "_is_protocol", False)
        and value.__module__ == hap_python.__name__
    }
    assert protocols == set(hap)
    assert sum(1 for protocol in protocols for _ in _members(protocol)) > 60


def test_installed_hap_python_has_every_name(hap: dict[type, object]) -> None:
    problems = [p for protocol, real in hap.items() for p in _problems(protocol, real)]
    assert problems == []


def test_a_missing_or_changed_name_is_found(hap: dict[type, object]) -> None:
    """The check itself can fail: a name HAP-python lacks, a parameter it does not take."""

    class Renamed(Protocol):
        display_name: str | None

        def set_value(self, value: Any, notify: bool = True) -> None: ...

        def gone(self) -> None: ...

        async def to_valid_value(self, value: Any) -> Any: ...

    problems = _problems(Renamed, hap[hap_python.HapCharacteristic])
    assert problems == [
        "Renamed.set_value: no parameter 'notify'",
        "Renamed.gone is missing",
        "Renamed.to_valid_value: async in one, not in the other",
    ]
