"""A BlueZ stand-in on a private D-Bus: unmodified bleak (or ``mihomekit`` in a subprocess)
talks to it as to bluetoothd on a Raspberry Pi.

Usage (or the ``bluez`` fixture: one adapter, hci0, passive scanning supported)::

    from bluez_fake import FakeBluez, Peripheral, GattService, GattCharacteristic

    async with FakeBluez.running(tmp_path, monitor="supported", adapters=("hci0",)) as bluez:
        ...

``running`` starts a private ``dbus-daemon`` (Debian package ``dbus``; ``.ci/run`` installs
it) listening on a unix socket in ``tmp_path`` and allowing everything, then the fake
bluetoothd: its own dbus-fast connection in the test's event loop that owns ``org.bluez``.
Inside the block ``DBUS_SYSTEM_BUS_ADDRESS`` is ``bluez.address`` (restored after), so bleak
connects to it; give subprocesses ``env=bluez.environ()``.

``monitor``: how ``org.bluez.AdvertisementMonitorManager1`` answers — ``"supported"``
(RegisterMonitor, then Activate and DeviceFound on the client's monitors), ``"unknown-method"``
(a bluetoothd without ``--experimental``: the interface is missing, the call is answered
``org.freedesktop.DBus.Error.UnknownMethod``) or ``"not-supported"``
(``org.bluez.Error.NotSupported``). ``bluez.monitor = ...`` changes it for the next start.

On air:
    ``bluez.advertise(mac, service_data={0xFE95: b"..."}, manufacturer_data={0x0157: b"..."},
    rssi=-60, name=None, adapter="hci0")`` — one advertisement. BlueZ reports it (Device1
    object added, or its properties changed) only while a discovery session accepts it or an
    active monitor's or_pattern matches (passive scanning); returns True if it did.
    ServiceData is merged per UUID and ManufacturerData per company; a byte-identical repeat
    (same RSSI too) emits no signal. RSSI/TxPower are invalidated when the last discovery
    session stops.

Connections:
    ``p = bluez.add_peripheral(mac, services=[GattService(uuid, [GattCharacteristic(uuid,
    flags=["read", "write", "notify"], value=b"...")])], handler=obj)``; advertise it too so
    that BlueZ has its Device1 object. ``handler`` may have ``on_read(uuid) -> bytes``,
    ``on_write(uuid, data, with_response)``, ``on_connect()``, ``on_disconnect()`` (sync or
    async; ``on_read``/``on_write`` may raise :class:`AttError`). Without ``on_read`` a read
    returns the characteristic's value, without ``on_write`` a write stores it; every write
    is also kept in ``p.writes``. ``Device1.Connect``: Connected, GATT objects added
    (``serviceXXXX/charYYYY/descZZZZ``, a CCCD for notify characteristics), ServicesResolved;
    ``Disconnect`` (or ``p.disconnect()`` from the device side): ServicesResolved off, GATT
    objects removed, Connected off. ``p.notify(uuid, data)`` sends a notification (a
    PropertiesChanged of ``Value``) only while a client has StartNotify'd it; it returns True
    if sent. WriteValue honours ``type`` (``request`` needs the ``write`` flag, ``command``
    ``write-without-response``; else NotPermitted).

bluetoothd and controllers:
    ``await bluez.stop_daemon()`` / ``await bluez.start_daemon()`` (or ``restart_daemon()``):
    a clean restart — devices and adapters removed (InterfacesRemoved), the name released,
    then taken again by a new connection (a new unique name) that adds the adapters again;
    discovery sessions, monitors and notifications are gone. ``await bluez.crash()``: the
    name disappears without a signal; calls fail with ``ServiceUnknown`` until
    ``start_daemon()``. ``await bluez.remove_adapter("hci0")``, ``await
    bluez.add_adapter("hci0")`` (powered, as with AutoEnable), ``await
    bluez.set_powered("hci0", False, blocked=False)`` (``blocked``: rfkill, PowerState
    ``off-blocked``); powering off ends discovery sessions and connections.

Looking at what happened:
    ``bluez.calls`` — every method call clients made on ``org.bluez`` (:class:`Call`: sender,
    path, interface, member, args without variants); ``bluez.called("StartDiscovery")``;
    ``bluez.active_monitors("hci0")`` — the or_patterns of the monitors BlueZ activated;
    ``bluez.discovering("hci0")``; ``await bluez.wait_for(condition)``.

Before a connection: ``device = await bluez.discover(mac, service_data=...)`` scans with bleak
while the device advertises once and returns the ``BLEDevice`` to give ``BleakClient``.

Per client, as BlueZ does: SetDiscoveryFilter/StartDiscovery/StopDiscovery (a second start is
``InProgress``, a stop without a start ``Failed "No discovery started"``, powered off
``NotReady``); a client leaving the bus loses its sessions, monitors and notifications.
"""

from __future__ import annotations

from .air import Advertisement, full_uuid
from .bluez import Controller, FakeBluez, MonitorSupport, bluez_fixture
from .daemon import Call
from .gatt import AttError, GattCharacteristic, GattService, Peripheral, Write

__all__ = [
    "Advertisement",
    "AttError",
    "Call",
    "Controller",
    "FakeBluez",
    "GattCharacteristic",
    "GattService",
    "MonitorSupport",
    "Peripheral",
    "Write",
    "bluez_fixture",
    "full_uuid",
]
