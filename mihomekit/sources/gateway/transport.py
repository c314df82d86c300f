"""The gateway adapter: gateways' subdevices as readings for the bridge.

:class:`GatewayAdapter` finds gateways (multicast discovery and/or configured hosts),
lists and reads every subdevice at start, then listens for heartbeats and reports on the
multicast group (unicast reports to the same port work too). It keeps the newest token of
each gateway for writes.

Liveness (:meth:`GatewayAdapter.is_alive`): a gateway is alive while its last message is
at most ``heartbeat_timeout`` seconds old (65 s by the v2 doc; heartbeats come every
10 s). A subdevice is alive while its gateway is and its last message (heartbeat, report
or read answer) is at most 2.5 heartbeat periods old: battery (sleepy) devices heartbeat
about every 60 min → 150 min (Home Assistant's limit too); mains devices every 10 min →
25 min.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mihomekit.catalog import DeviceModel
from mihomekit.errors import GatewayError
from mihomekit.readings import Value
from mihomekit.settings import GatewayNetworkSettings, GatewaySettings
from mihomekit.sources.gateway import codec
from mihomekit.sources.gateway.client import GatewayClient, GatewayInfo, WarnOnce, new_stats
from mihomekit.sources.gateway.codec import CodecError, DeviceMessage, family_of, normalize_sid
from mihomekit.sources.gateway.models import device_model, is_gateway_model
from mihomekit.sources.gateway.net import (
    Address,
    interface_address,
    join_group,
    open_endpoint,
    udp_socket,
)
from mihomekit.sources.gateway.sink import ReadingSink

__all__ = ["GatewayAdapter", "GatewayClient", "GatewayInfo"]

_LOGGER = logging.getLogger(__name__)

#: Liveness windows in seconds for subdevices (see the module docstring).
SLEEPY_WINDOW = 150 * 60.0
MAINS_WINDOW = 25 * 60.0
#: v2 motion sensors send no ``no_motion``: motion is cleared locally after this.
MOTION_CLEAR_SECONDS = 120.0
#: Configured gateways that did not answer at start are tried again this often.
RETRY_SECONDS = 30.0
#: A gateway heartbeat from an unknown address (a gateway that came up later, or changed
#: address) leads to a probe of that address at most this often.
LATE_PROBE_SECONDS = 60.0


@dataclass(slots=True)
class _Device:
    id: str
    wire_sid: str
    model: str
    device: DeviceModel
    gateway: GatewayInfo
    values: dict[str, Value] = field(default_factory=dict)


class GatewayAdapter:
    """Gateways' subdevices for the bridge; see the module docstring."""

    def __init__(
        self,
        settings: GatewayNetworkSettings,
        sink: ReadingSink,
        *,
        loop_time: Callable[[], float] | None = None,
        discovery_timeout: float = 2.0,
        request_timeout: float = 2.0,
        multicast_ttl: int | None = None,
        motion_clear_seconds: float = MOTION_CLEAR_SECONDS,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.stats: dict[str, int] = new_stats()
        self._time = loop_time or time.monotonic
        self._discovery_timeout = discovery_timeout
        self._request_timeout = request_timeout
        self._ttl = multicast_ttl
        self._motion_clear = motion_clear_seconds
        self._client: GatewayClient | None = None
        self._listener: asyncio.DatagramTransport | None = None
        self._gateways: dict[str, GatewayInfo] = {}
        self._by_host: dict[str, GatewayInfo] = {}
        self._devices: dict[str, _Device] = {}
        self._seen: dict[str, float] = {}
        self._motion_timers: dict[str, asyncio.TimerHandle] = {}
        self._missing: list[GatewaySettings] = []
        self._retry_task: asyncio.Task[None] | None = None
        self._late_checked: dict[str, float] = {}
        self._late_tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._warn = WarnOnce(_LOGGER)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind sockets, find gateways, list and read all their subdevices.

        Gateways that do not answer are logged and tried again later; errors binding the
        sockets raise :class:`GatewayError`.
        """
        if not self.settings.enabled:
            return
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        iface = interface_address(settings.interface)
        self._client = GatewayClient(
            iface,
            group=settings.group,
            discovery_port=settings.discovery_port,
            ttl=self._ttl,
            timeout=self._request_timeout,
            stats=self.stats,
        )
        await self._client.open()
        sock = udp_socket("0.0.0.0", settings.report_port)
        try:
            join_group(sock, settings.group, iface)
            self._listener = await open_endpoint(sock, self._report_datagram)
        except BaseException:
            sock.close()
            raise
        found = await self._client.discover(self._discovery_timeout) if settings.discover else []
        for info in found:
            self._use_gateway(info)
        for conf in settings.gateways:
            if not await self._configure(conf):
                self._missing.append(conf)
        for gateway in list(self._gateways.values()):
            await self._setup(gateway)
        if self._missing:
            self._retry_task = asyncio.create_task(self._retry_missing())
        self._started = True

    async def stop(self) -> None:
        self._started = False
        for task in list(self._late_tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._retry_task is not None:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry_task
            self._retry_task = None
        for timer in self._motion_timers.values():
            timer.cancel()
        self._motion_timers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def report_address(self) -> Address:
        """The local address the report listener is bound to (its port may be ephemeral)."""
        if self._listener is None:
            raise GatewayError("gateway adapter is not started")
        host, port = self._listener.get_extra_info("sockname")[:2]
        return str(host), int(port)

    @property
    def gateways(self) -> Mapping[str, GatewayInfo]:
        """The gateways in use, by sid."""
        return self._gateways

    # ------------------------------------------------------------------ gateways

    def _use_gateway(self, info: GatewayInfo) -> GatewayInfo:
        known = self._gateways.get(info.sid)
        if known is not None:
            if known.host != info.host:  # the gateway got a new address
                _LOGGER.info("gateway %s moved from %s to %s", known.sid, known.host, info.host)
                self._by_host.pop(known.host, None)
                known.host, known.port = info.host, info.port
                self._by_host[known.host] = known
            return known
        for conf in self.settings.gateways:
            if conf.password and (
                (conf.sid and normalize_sid(conf.sid) == info.sid) or conf.host == info.host
            ):
                info.password = conf.password
        self._gateways[info.sid] = info
        self._by_host[info.host] = info
        _LOGGER.info(
            "gateway %s (%s, protocol %d) at %s", info.sid, info.model, info.proto, info.host
        )
        return info

    async def _configure(self, conf: GatewaySettings) -> bool:
        """Apply one configured gateway; False if it could not be found (yet)."""
        assert self._client is not None
        info: GatewayInfo | None = None
        wanted = normalize_sid(conf.sid) if conf.sid else None
        for gateway in self._gateways.values():
            if gateway.sid == wanted or (conf.host and gateway.host == conf.host):
                info = gateway
        if info is None and conf.host:
            try:
                info = self._use_gateway(await self._client.probe(conf.host, conf.port))
            except GatewayError as err:
                self._warn(f"probe:{conf.host}", "gateway %s: %s", conf.host, err)
                return False
        if info is None:
            self._warn(f"missing:{wanted}", "gateway %s not found by discovery", conf.sid)
            return False
        if wanted and info.sid != wanted:
            _LOGGER.warning("gateway at %s has sid %s, not %s", info.host, info.sid, conf.sid)
        if conf.password:
            info.password = conf.password
        return True

    async def _retry_missing(self) -> None:
        assert self._client is not None
        while self._missing:
            await asyncio.sleep(RETRY_SECONDS)
            if self.settings.discover:
                for info in await self._client.discover(self._discovery_timeout):
                    if info.sid not in self._gateways:
                        await self._setup(self._use_gateway(info))
            for conf in list(self._missing):
                if await self._configure(conf):
                    self._missing.remove(conf)
                    for gateway in list(self._gateways.values()):
                        if gateway.sid not in self._seen:
                            await self._setup(gateway)

    def _maybe_late_gateway(self, data: bytes, host: str) -> None:
        """Probe ``host`` if it sent a gateway heartbeat (rate-limited per host)."""
        now = self._now()
        last = self._late_checked.get(host)
        if last is not None and now - last < LATE_PROBE_SECONDS:
            return
        self._late_checked[host] = now
        try:
            message = codec.parse_message(data)
        except CodecError:
            return
        if not (
            isinstance(message, DeviceMessage)
            and message.kind == "heartbeat"
            and is_gateway_model(message.model)
        ):
            return
        task = asyncio.create_task(self._late_gateway(host))
        self._late_tasks.add(task)
        task.add_done_callback(self._late_tasks.discard)

    async def _late_gateway(self, host: str) -> None:
        assert self._client is not None
        port = next((g.port for g in self.settings.gateways if g.host == host), 9898)
        try:
            info = await self._client.probe(host, port)
        except GatewayError as err:
            self._warn(f"late:{host}", "gateway heartbeat from %s, but: %s", host, err)
            return
        await self._setup(self._use_gateway(info))

    async def _setup(self, gateway: GatewayInfo) -> None:
        """List and read the gateway and all its subdevices."""
        assert self._client is not None
        try:
            refs = await self._client.list_devices(gateway)
            own = await self._client.read(gateway, gateway.wire_sid)
        except GatewayError as err:
            self._warn(f"setup:{gateway.sid}", "gateway %s: %s", gateway.sid, err)
            return
        self._mark_seen(gateway.sid)
        if not gateway.model and own.model:
            gateway.model = own.model
        self._handle(gateway, own, from_read=True)
        for ref in refs:
            try:
                answer = await self._client.read(gateway, ref.sid)
            except GatewayError as err:
                self._warn(f"read:{ref.sid}", "gateway %s: %s", gateway.sid, err)
                continue
            if not answer.model and ref.model:
                answer = DeviceMessage(
                    answer.kind, answer.sid, ref.model, answer.properties, answer.proto
                )
            self._handle(gateway, answer, from_read=True)

    # ------------------------------------------------------------------ liveness

    def _now(self) -> float:
        return self._time()

    def _mark_seen(self, device_id: str) -> None:
        self._seen[device_id] = self._now()

    def is_alive(self, device_id: str) -> bool:
        """Whether ``device_id`` was heard from recently (see the module docstring)."""
        device_id = normalize_sid(device_id)
        seen = self._seen.get(device_id)
        if seen is None:
            return False
        age = self._now() - seen
        gateway = self._gateways.get(device_id)
        if gateway is not None:
            return age <= self.settings.heartbeat_timeout
        device = self._devices.get(device_id)
        if device is None or not self.is_alive(device.gateway.sid):
            return False
        return age <= (SLEEPY_WINDOW if device.device.sleepy else MAINS_WINDOW)

    # ------------------------------------------------------------------ reports

    def _count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1

    def _report_datagram(self, data: bytes, addr: Address) -> None:
        if len(data) > codec.MAX_DATAGRAM:
            self._count("dropped_oversize")
            self._warn("oversize", "dropped a %d-byte datagram from %s", len(data), addr[0])
            return
        gateway = self._by_host.get(addr[0])
        if gateway is None:
            self._count("dropped_foreign_sender")
            self._warn(f"foreign:{addr[0]}", "ignoring datagrams from %s (not a gateway)", addr[0])
            if self._started and self.settings.discover:
                self._maybe_late_gateway(data, addr[0])
            return
        try:
            message = codec.parse_message(data)
        except CodecError as err:
            self._count(f"dropped_{err.kind}")
            self._warn(f"report:{err.kind}", "dropped datagram from %s: %s", addr[0], err)
            return
        if not isinstance(message, DeviceMessage) or message.kind not in ("heartbeat", "report"):
            self._count("dropped_unexpected_cmd")
            self._warn("unexpected", "unexpected %s on the report port", type(message).__name__)
            return
        self._count("heartbeats" if message.kind == "heartbeat" else "reports")
        self._mark_seen(gateway.sid)  # any message through the gateway shows it is up
        try:
            self._handle(gateway, message)
        except Exception as err:  # a sink failure must not stop the listener
            self._count("handler_errors")
            self._warn(
                "handler",
                "error handling a gateway message from %s: %s: %s",
                addr[0],
                type(err).__name__,
                err,
            )
            _LOGGER.debug("gateway message handler failed", exc_info=True)

    def _handle(
        self, gateway: GatewayInfo, message: DeviceMessage, *, from_read: bool = False
    ) -> None:
        """Turn one device message into sink calls."""
        device_id = normalize_sid(message.sid)
        heartbeat = from_read or message.kind == "heartbeat"
        if device_id == gateway.sid:
            if message.token:
                gateway.token = message.token
            device = self._gateway_device(gateway, message)
        else:
            device = self._devices.get(device_id) or self._new_device(gateway, message)
        if device is None:
            return
        self._mark_seen(device_id)
        reading = codec.decode_properties(device.model, message.properties, heartbeat=heartbeat)
        for name in reading.invalid:
            self._count("dropped_invalid_value")
            self._warn(
                f"invalid:{device.model}:{name}",
                "%s %s: unusable %s=%r",
                device.model,
                device_id,
                name,
                message.properties.get(name),
            )
        device.values.update(reading.values)
        self._motion_timer(device, gateway, reading.values)
        if reading.values or reading.events or heartbeat:
            self.sink.on_reading(device_id, reading.values, reading.events, heartbeat=heartbeat)

    def _gateway_device(self, gateway: GatewayInfo, message: DeviceMessage) -> _Device | None:
        device = self._devices.get(gateway.sid)
        if device is not None:
            return device
        model = gateway.model or message.model or ""
        if not is_gateway_model(model):
            model = "gateway"
        dm = device_model(model)
        assert dm is not None
        device = _Device(gateway.sid, gateway.wire_sid, model, dm, gateway)
        self._devices[gateway.sid] = device
        self.sink.on_device(gateway.sid, dm, None)
        return device

    def _new_device(self, gateway: GatewayInfo, message: DeviceMessage) -> _Device | None:
        if not message.model:
            self._count("dropped_unknown_device")
            self._warn(f"nomodel:{message.sid}", "device %s has no model: ignored", message.sid)
            return None
        dm = device_model(message.model)
        if dm is None or is_gateway_model(message.model):
            self._count("dropped_unknown_model")
            return None
        device_id = normalize_sid(message.sid)
        device = _Device(device_id, message.sid, message.model, dm, gateway)
        self._devices[device_id] = device
        self.sink.on_device(device_id, dm, None)
        return device

    def _motion_timer(
        self, device: _Device, gateway: GatewayInfo, values: Mapping[str, Value]
    ) -> None:
        """v2 motion sensors never report the end of motion: clear it after a while."""
        if gateway.proto != 2 or "motion" not in values:
            return
        if family_of(device.model) not in ("motion", "motion_lux"):
            return
        timer = self._motion_timers.pop(device.id, None)
        if timer is not None:
            timer.cancel()
        if values["motion"] is True:
            loop = asyncio.get_running_loop()
            self._motion_timers[device.id] = loop.call_later(
                self._motion_clear, self._clear_motion, device
            )

    def _clear_motion(self, device: _Device) -> None:
        self._motion_timers.pop(device.id, None)
        device.values["motion"] = False
        self.sink.on_reading(device.id, {"motion": False}, ())

    # ------------------------------------------------------------------ commands

    def devices(self) -> Mapping[str, DeviceModel]:
        """Every known device (subdevices and gateways) and its model."""
        return {device_id: device.device for device_id, device in self._devices.items()}

    def values(self, device_id: str) -> Mapping[str, Value]:
        """The last known values of a device."""
        device = self._devices.get(normalize_sid(device_id))
        return dict(device.values) if device else {}

    async def send_command(self, device_id: str, values: Mapping[str, Value]) -> None:
        """Write ``values`` (``power``, ``power_2``, light values) to a device.

        The new state arrives as a report from the gateway. Raises :class:`GatewayError`.
        """
        device = self._devices.get(normalize_sid(device_id))
        if device is None:
            raise GatewayError(f"unknown gateway device {device_id}")
        if self._client is None:
            raise GatewayError("gateway adapter is not started")
        gateway = device.gateway
        props = codec.encode_command(device.model, gateway.proto, values, device.values)
        await self._client.write(gateway, device.wire_sid, props, model=device.model)
