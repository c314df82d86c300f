"""BlueZ's object tree: path → interface → property, and the signals BlueZ sends for it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dbus_fast import Message, Variant

OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"

Properties = dict[str, Variant]


class ObjectTree:
    """The objects of one bluetoothd. Every change is signalled through ``send``, like BlueZ:
    ``InterfacesAdded``/``InterfacesRemoved`` from ``/``, ``PropertiesChanged`` from the object.
    A property set to the value it has emits nothing unless ``force``."""

    def __init__(self, send: Callable[[Message], object]) -> None:
        self._send = send
        self.objects: dict[str, dict[str, Properties]] = {}

    def __contains__(self, path: object) -> bool:
        return path in self.objects

    def interfaces(self, path: str) -> dict[str, Properties]:
        return self.objects.get(path, {})

    def value(self, path: str, interface: str, name: str, default: Any = None) -> Any:
        prop = self.objects.get(path, {}).get(interface, {}).get(name)
        return default if prop is None else prop.value

    def add(self, path: str, interfaces: dict[str, Properties]) -> None:
        self.objects.setdefault(path, {}).update(interfaces)
        self._send(
            Message.new_signal(
                "/", OBJECT_MANAGER, "InterfacesAdded", "oa{sa{sv}}", [path, interfaces]
            )
        )

    def remove(self, path: str) -> None:
        interfaces = self.objects.pop(path, None)
        if interfaces is None:
            return
        self._send(
            Message.new_signal(
                "/", OBJECT_MANAGER, "InterfacesRemoved", "oas", [path, list(interfaces)]
            )
        )

    def remove_below(self, path: str, *, include_self: bool = True) -> None:
        """Remove ``path``'s descendants (deepest first), then ``path`` itself."""
        below = [p for p in self.objects if p.startswith(path + "/")]
        for child in sorted(below, key=lambda p: (-p.count("/"), p)):
            self.remove(child)
        if include_self:
            self.remove(path)

    def update(
        self,
        path: str,
        interface: str,
        changed: Properties,
        invalidated: Iterable[str] = (),
        *,
        force: bool = False,
    ) -> bool:
        """Apply and signal a change; False (no signal) if nothing differs."""
        props = self.objects.get(path, {}).get(interface)
        if props is None:
            return False
        diff = {k: v for k, v in changed.items() if force or props.get(k) != v}
        gone = [name for name in invalidated if name in props]
        if not diff and not gone:
            return False
        props.update(diff)
        for name in gone:
            del props[name]
        msg = Message.new_signal(
            path, PROPERTIES, "PropertiesChanged", "sa{sv}as", [interface, diff, gone]
        )
        self._send(msg)
        return True

    def managed_objects(self) -> dict[str, dict[str, Properties]]:
        return {path: dict(ifaces) for path, ifaces in self.objects.items()}

    def clear(self) -> None:
        self.objects.clear()
