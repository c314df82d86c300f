"""A gateway simulator speaking the LAN protocol (v1 or v2) over real UDP sockets.

It answers ``whois`` (multicast on the group, or unicast to its discovery port) with
``iam``, the device list, ``read`` and keyed ``write`` (the key must match the password
and the *current* token), sends a gateway heartbeat with a fresh token every
``heartbeat_interval`` seconds, optional subdevice heartbeats, and a ``report`` after
every accepted write (after the ``write_ack``) or on demand (:meth:`report`).

Heartbeats and reports go to the multicast group on ``multicast_interface`` (with TTL 0 on
loopback) and/or unicast to ``report_to``. ``activity_interval`` makes the subdevices do
something now and then (doors, motion, temperature, clicks). Used by the tests and by
``mihomekit run --demo``, wired without multicast like this::

    sim = GatewaySimulator(host="127.0.0.2", port=0, discovery_port=0, activity_interval=5)
    await sim.start()
    adapter = GatewayAdapter(demo_settings(sim), sink)
    await adapter.start()
    sim.report_to = ("127.0.0.1", adapter.report_address[1])
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mihomekit.settings import GatewayNetworkSettings, GatewaySettings
from mihomekit.sources.gateway import codec
from mihomekit.sources.gateway.codec import (
    CodecError,
    DeviceRef,
    ListRequest,
    ReadRequest,
    Whois,
    WriteRequest,
)
from mihomekit.sources.gateway.keys import key_matches
from mihomekit.sources.gateway.net import (
    Address,
    bound_address,
    default_ttl,
    join_group,
    open_endpoint,
    set_multicast_sender,
    udp_socket,
)
from mihomekit.sources.gateway.properties import family_of

_LOGGER = logging.getLogger(__name__)

#: The vendor's example password, used by default.
DEMO_PASSWORD = "0987654321qwerty"
_TOKEN_CHARS = string.ascii_letters + string.digits


def new_token() -> str:
    """A random 16-character token like the gateway's."""
    return "".join(secrets.choice(_TOKEN_CHARS) for _ in range(16))


@dataclass(slots=True)
class SimDevice:
    """One simulated subdevice: ``properties`` are wire values for the protocol in use."""

    sid: str
    model: str
    properties: dict[str, Any] = field(default_factory=dict)
    short_id: int = 0


def demo_devices(proto: int = 1) -> list[SimDevice]:
    """A small set of subdevices with plausible values, named for protocol ``proto``."""
    if proto == 1:
        return [
            SimDevice("158d0001000001", "magnet", {"voltage": 3015, "status": "close"}, 30033),
            SimDevice("158d0001000002", "motion", {"voltage": 2995}, 43719),
            SimDevice(
                "158d0001000003",
                "weather.v1",
                {"voltage": 3005, "temperature": "2333", "humidity": "5521", "pressure": "100790"},
                1201,
            ),
            SimDevice(
                "158d0001000004",
                "plug",
                {"voltage": 3600, "status": "off", "inuse": "0", "load_power": "0.00"},
                38455,
            ),
            SimDevice(
                "158d0001000005", "ctrl_neutral2", {"channel_0": "off", "channel_1": "off"}, 4343
            ),
            SimDevice("158d0001000006", "switch", {"voltage": 3062}, 5001),
            SimDevice("158d0001000007", "sensor_wleak.aq1", {"voltage": 3100, "status": "no_leak"}),
        ]
    return [
        SimDevice(
            "158d0001000001",
            "sensor_magnet.aq2",
            {"battery_voltage": 3015, "window_status": "close"},
        ),
        SimDevice(
            "158d0001000002", "sensor_motion.aq2", {"battery_voltage": 2995, "illumination": 120}
        ),
        SimDevice(
            "158d0001000003",
            "weather",
            {"battery_voltage": 3005, "temperature": 2333, "humidity": 5521, "pressure": 100790},
        ),
        SimDevice("158d0001000004", "plug", {"channel_0": "off", "load_power": 0.0, "inuse": 0}),
        SimDevice("158d0001000005", "ctrl_neutral2", {"channel_0": "off", "channel_1": "off"}),
        SimDevice("158d0001000006", "sensor_switch.aq2", {"battery_voltage": 3062}),
        SimDevice(
            "158d0001000007",
            "sensor_wleak.aq1",
            {"battery_voltage": 3100, "wleak_status": "normal"},
        ),
    ]


def _activity(device: SimDevice, proto: int, round_: int) -> dict[str, Any]:
    """The next demo change of one device (by model family), or nothing."""
    family = family_of(device.model)
    props = device.properties
    if family == "magnet":
        name = "status" if proto == 1 else "window_status"
        return {name: "open" if props.get(name) != "open" else "close"}
    if family in ("motion", "motion_lux"):
        if proto == 1:
            return {"status": "motion"} if round_ % 2 == 0 else {"no_motion": "120"}
        return {"motion_status": "motion"}
    if family in ("ht", "weather"):
        raw = props.get("temperature", 2100)
        celsius = int(raw) + (25 if round_ % 4 < 2 else -25)
        return {"temperature": str(celsius) if proto == 1 else celsius}
    if family in ("switch", "switch_aq2", "switch_aq3"):
        return {"status" if proto == 1 else "button_0": "click"}
    return {}


def demo_settings(sim: GatewaySimulator, interface: str = "127.0.0.1") -> GatewayNetworkSettings:
    """Adapter settings that reach ``sim`` by unicast only (no discovery, ephemeral ports)."""
    return GatewayNetworkSettings(
        discover=False,
        interface=interface,
        report_port=0,
        gateways=(GatewaySettings(host=sim.host, port=sim.port, password=sim.password),),
    )


class GatewaySimulator:
    """A simulated gateway; see the module docstring.

    ``port``/``discovery_port`` 0 pick ephemeral ports (see :attr:`address`,
    :attr:`discovery_address`). ``multicast_interface`` None: no multicast at all.
    ``password`` None: writes need no key. ``answer_proto_mismatch``: answer a list request
    of the other generation too.
    """

    def __init__(
        self,
        *,
        proto: int = 1,
        sid: str = "7811dcb78b2f",
        model: str | None = None,
        password: str | None = DEMO_PASSWORD,
        devices: Sequence[SimDevice] | None = None,
        host: str = "127.0.0.2",
        port: int = 9898,
        discovery_port: int = 4321,
        group: str = "224.0.0.50",
        multicast_interface: str | None = None,
        multicast_ttl: int | None = None,
        report_port: int = 9898,
        report_to: Address | None = None,
        heartbeat_interval: float | None = 10.0,
        device_heartbeat_interval: float | None = None,
        activity_interval: float | None = None,
        illumination: int = 352,
        rgb: int = 0,
    ) -> None:
        self.proto = proto
        self.sid = sid
        self.model = model or ("gateway" if proto == 1 else "gateway.aq1")
        self.proto_version = "1.1.2" if proto == 1 else "2.0.1"
        self.password = password
        self.devices: dict[str, SimDevice] = {
            d.sid: d for d in (demo_devices(proto) if devices is None else devices)
        }
        self.host = host
        self.port = port
        self.discovery_port = discovery_port
        self.group = group
        self.multicast_interface = multicast_interface
        self.multicast_ttl = (
            default_ttl(multicast_interface) if multicast_ttl is None else multicast_ttl
        )
        self.report_port = report_port
        self.report_to = report_to
        self.heartbeat_interval = heartbeat_interval
        self.device_heartbeat_interval = device_heartbeat_interval
        self.activity_interval = activity_interval
        self.state: dict[str, Any] = {"rgb": rgb, "illumination": illumination}
        if proto == 1:
            self.state["proto_version"] = self.proto_version
        self.token = new_token()
        #: Every request received (parsed), for tests.
        self.received: list[codec.Message] = []
        #: Accepted writes and the number of writes refused for a bad key.
        self.writes: list[WriteRequest] = []
        self.rejected_writes = 0
        self._command: asyncio.DatagramTransport | None = None
        self._discovery: list[asyncio.DatagramTransport] = []
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind the sockets and start the heartbeat loops."""
        sock = udp_socket(self.host, self.port)
        try:
            set_multicast_sender(sock, self.multicast_interface, self.multicast_ttl)
            self._command = await open_endpoint(sock, self._command_datagram)
        except BaseException:
            sock.close()
            raise
        self.port = self.address[1]
        unicast = udp_socket(self.host, self.discovery_port)
        self._discovery.append(await open_endpoint(unicast, self._discovery_datagram))
        self.discovery_port = unicast.getsockname()[1]
        if self.multicast_interface is not None:
            group = udp_socket(self.group, self.discovery_port)
            try:
                join_group(group, self.group, self.multicast_interface)
            except BaseException:
                group.close()
                raise
            self._discovery.append(await open_endpoint(group, self._discovery_datagram))
        if self.heartbeat_interval:
            self._tasks.append(asyncio.create_task(self._heartbeats(self.heartbeat_interval)))
        if self.device_heartbeat_interval:
            self._tasks.append(
                asyncio.create_task(self._device_heartbeats(self.device_heartbeat_interval))
            )
        if self.activity_interval:
            self._tasks.append(asyncio.create_task(self._activity(self.activity_interval)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for transport in self._discovery:
            transport.close()
        self._discovery.clear()
        if self._command is not None:
            self._command.close()
            self._command = None

    async def __aenter__(self) -> GatewaySimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def address(self) -> Address:
        """Where the simulator takes commands."""
        return bound_address(self._command, (self.host, self.port))

    @property
    def discovery_address(self) -> Address:
        """Where the simulator takes unicast ``whois``."""
        return self.host, self.discovery_port

    # ------------------------------------------------------------------ sending

    def _send(self, payload: bytes, addr: Address) -> None:
        if self._command is not None:
            self._command.sendto(payload, addr)

    def _publish(self, payload: bytes) -> None:
        """A heartbeat or report: multicast and/or unicast to ``report_to``."""
        if self.multicast_interface is not None:
            self._send(payload, (self.group, self.report_port))
        if self.report_to is not None:
            self._send(payload, self.report_to)

    def _device_message(self, kind: codec.DeviceKind, sid: str, props: Mapping[str, Any]) -> bytes:
        if sid == self.sid:
            return codec.build_device_message(kind, self.proto, sid, self.model, props, short_id=0)
        device = self.devices[sid]
        return codec.build_device_message(
            kind, self.proto, sid, device.model, props, short_id=device.short_id
        )

    def rotate_token(self) -> str:
        """Make a new token without telling anyone (as if a heartbeat was missed)."""
        self.token = new_token()
        return self.token

    def heartbeat(self) -> None:
        """Rotate the token and send the gateway heartbeat now."""
        self.rotate_token()
        payload = codec.build_device_message(
            "heartbeat",
            self.proto,
            self.sid,
            self.model,
            {"ip": self.host},
            short_id="0",
            token=self.token,
        )
        self._publish(payload)

    def device_heartbeat(self, sid: str) -> None:
        """Send a subdevice's heartbeat with all its properties."""
        self._publish(self._device_message("heartbeat", sid, self.devices[sid].properties))

    def report(self, sid: str, props: Mapping[str, Any]) -> None:
        """Change properties of ``sid`` (a subdevice or the gateway) and report them."""
        target = self.state if sid == self.sid else self.devices[sid].properties
        target.update(props)
        self._publish(self._device_message("report", sid, props))

    def send_raw(self, payload: bytes) -> None:
        """Publish any datagram as if it were a report (for hostile-input tests)."""
        self._publish(payload)

    async def _heartbeats(self, interval: float) -> None:
        while True:
            self.heartbeat()
            await asyncio.sleep(interval)

    async def _device_heartbeats(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            for sid in list(self.devices):
                self.device_heartbeat(sid)

    def step_activity(self, tick: int) -> str | None:
        """Make one subdevice do something plausible (demo); returns its sid."""
        devices = list(self.devices.values())
        if not devices:
            return None
        device = devices[tick % len(devices)]
        change = _activity(device, self.proto, tick // len(devices))
        if change:
            self.report(device.sid, change)
            return device.sid
        return None

    async def _activity(self, interval: float) -> None:
        tick = 0
        while True:
            await asyncio.sleep(interval)
            self.step_activity(tick)
            tick += 1

    # ------------------------------------------------------------------ receiving

    def _iam(self) -> bytes:
        return codec.build_iam(self.sid, self.model, self.host, self.port, self.proto_version)

    def _discovery_datagram(self, data: bytes, addr: Address) -> None:
        # Real gateways answer iam even to odd requests on the discovery port.
        self._send(self._iam(), addr)

    def _command_datagram(self, data: bytes, addr: Address) -> None:
        try:
            message = codec.parse_message(data)
        except CodecError as err:
            _LOGGER.debug("simulator: dropped datagram from %s: %s", addr, err)
            return
        self.received.append(message)
        if isinstance(message, Whois):
            self._send(self._iam(), addr)
        elif isinstance(message, ListRequest):
            if message.proto == self.proto:
                refs = [DeviceRef(d.sid, d.model) for d in self.devices.values()]
                self._send(codec.build_list_answer(self.proto, self.sid, self.token, refs), addr)
        elif isinstance(message, ReadRequest):
            self._read(message.sid, addr)
        elif isinstance(message, WriteRequest):
            self._write(message, addr)

    def _read(self, sid: str, addr: Address) -> None:
        if sid == self.sid:
            self._send(self._device_message("read", sid, self.state), addr)
        elif sid in self.devices:
            self._send(self._device_message("read", sid, self.devices[sid].properties), addr)
        else:
            self._send(codec.build_error("read", self.proto, sid, "Invalid device"), addr)

    def _write(self, request: WriteRequest, addr: Address) -> None:
        sid = request.sid
        if sid != self.sid and sid not in self.devices:
            self._send(codec.build_error("write", self.proto, sid, "Invalid device"), addr)
            return
        if self.password is not None and not key_matches(request.key, self.password, self.token):
            self.rejected_writes += 1
            self._send(codec.build_error("write", self.proto, sid, "Invalid key"), addr)
            return
        self.writes.append(request)
        before = dict(self.state if sid == self.sid else self.devices[sid].properties)
        self._send(self._device_message("write", sid, before), addr)
        self.report(sid, request.properties)
