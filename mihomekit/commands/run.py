"""``mihomekit run``: start the bridge.

Failures are one line on stderr with their own exit status (:mod:`mihomekit.errors`):
configuration 2, unreadable state 3, state directory not writable or disk full 4, HomeKit
port in use 5, nothing to bridge 6.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mihomekit.app import COUNTERS_LOGGER, App, AppConfig, OutputFactory, SourceFactory
from mihomekit.commands.options import SETTINGS_HELP, listen_port, tcp_port
from mihomekit.errors import AdapterError, ConfigError, NothingToBridgeError, PortInUseError
from mihomekit.homekit.window import WindowStatus
from mihomekit.hubs import Hub
from mihomekit.mi32cfg import DeviceEntry, load_mi32cfg, normalize_mac
from mihomekit.network import default_address
from mihomekit.placement import BridgeRule
from mihomekit.settings import (
    EsphomeSettings,
    MqttReceiverSettings,
    PresenceSettings,
    RelaySettings,
    Settings,
    load_settings,
)
from mihomekit.state import state_write_error
from mihomekit.wording import counted, noun

if TYPE_CHECKING:
    from mihomekit.ble.upkeep import RadioFor

_LOGGER = logging.getLogger(__name__)

#: Where ``mihomekit run`` looks for the mi32cfg when neither --config nor the settings
#: name one (Tasmota's file name, in the working directory, then in /etc).
DEFAULT_MI32CFG_PATHS = ("mi32cfg", "mi32cfg.json", "/etc/mihomekit/mi32cfg")
DEFAULT_SETTINGS_PATH = "/etc/mihomekit/mihomekit.toml"
#: With no device configured or known: how long gateway discovery may look for one
#: before ``mihomekit run`` gives up (exit status 6) instead of offering an empty bridge.
DISCOVERY_WAIT = 10.0
#: The mi32cfg the dashboard writes in the state directory when no other one was read.
WEB_MI32CFG = "mi32cfg"
#: How often the demo prints its activity line.
DEMO_ACTIVITY_INTERVAL = 5.0


@dataclass
class RunPlan:
    """What ``mihomekit run`` starts: the bridge's config and what the messages need."""

    config: AppConfig
    #: The mi32cfg read, or ``None`` when none was found.
    mi32cfg: str | None
    demo: bool = False


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the HomeKit bridge",
        description="Run the bridge: BLE sensors from the mi32cfg, Zigbee sensors from gateways.",
    )
    parser.add_argument("--config", metavar="PATH", help="mi32cfg file (Tasmota format)")
    parser.add_argument("--settings", metavar="FILE", help=SETTINGS_HELP)
    parser.add_argument("--state-dir", metavar="DIR", help="pairings, accessory ids, last values")
    parser.add_argument("--address", metavar="IP", help="listen and advertise on this address")
    parser.add_argument("--port", type=tcp_port, metavar="N", help="HAP TCP port (default 51827)")
    parser.add_argument("--mac", metavar="MAC", help="host MAC the setup code is derived from")
    parser.add_argument(
        "--demo", action="store_true", help="bundled devices, recording and gateway; no radio"
    )
    parser.add_argument("--replay", metavar="FILE", help="feed a recording instead of the radio")
    parser.add_argument("--replay-speed", type=float, default=1.0, metavar="X")
    parser.add_argument("--loop", action="store_true", help="with --replay: repeat forever")
    parser.add_argument("--no-ble", action="store_true", help="do not scan for BLE devices")
    parser.add_argument("--no-gateway", action="store_true", help="do not talk to gateways")
    parser.add_argument(
        "--web-port",
        type=listen_port,
        metavar="N",
        help="Mi Dashboard port (default 8089, [web] port; 0: any free port)",
    )
    parser.add_argument("--no-web", action="store_true", help="do not serve the Mi Dashboard")
    parser.set_defaults(func=run_bridge)


def run_bridge(args: argparse.Namespace) -> int:
    """Entry point of ``mihomekit run``: serve until SIGINT/SIGTERM, then print "stopped"."""
    plan = plan_from_args(args)
    if not COUNTERS_LOGGER.level:
        COUNTERS_LOGGER.setLevel(logging.INFO)  # one line every 15 minutes, shown by default
    asyncio.run(_serve(plan))
    return 0


def settings_file(given: str | None) -> str | None:
    """The settings file a command reads: ``given`` (``--settings``), else
    :data:`DEFAULT_SETTINGS_PATH` if it exists (as ``mihomekit run`` does), else none."""
    if given is None and os.path.exists(DEFAULT_SETTINGS_PATH):
        return DEFAULT_SETTINGS_PATH
    return given


def _settings(args: argparse.Namespace) -> Settings:
    # The demo never reads a real bridge's settings file by itself.
    return load_settings(args.settings if args.demo else settings_file(args.settings))


def _entries(
    args: argparse.Namespace, settings: Settings, state_dir: Path
) -> tuple[list[DeviceEntry], str | None]:
    """The mi32cfg's devices and its path (``None``: no mi32cfg found).

    The dashboard writes its device changes to the mi32cfg read here; when there was none
    (and for the demo) it writes ``<state_dir>/mi32cfg``, which is read next time.
    """
    saved = state_dir / WEB_MI32CFG
    if args.demo:
        if saved.exists():
            return load_mi32cfg(saved), str(saved)
        from mihomekit.demo import demo_entries

        return demo_entries(), "<demo>"
    path = find_mi32cfg(args.config, settings, state_dir)
    if path is None:
        return [], None
    return load_mi32cfg(path), path


def find_mi32cfg(config: str | None, settings: Settings, state_dir: Path) -> str | None:
    """The mi32cfg ``mihomekit run`` reads: ``--config``, the settings' ``mi32cfg``, the
    first of :data:`DEFAULT_MI32CFG_PATHS` that exists, or the one the dashboard wrote in
    the state directory; ``None`` when there is none."""
    path = config or settings.bridge.mi32cfg
    if path is None:
        path = next((p for p in DEFAULT_MI32CFG_PATHS if os.path.exists(p)), None)
    saved = state_dir / WEB_MI32CFG
    if path is None and saved.exists():
        path = str(saved)
    return path


def plan_from_args(args: argparse.Namespace) -> RunPlan:
    """Turn command-line options and settings into what ``mihomekit run`` starts."""
    settings = _settings(args)
    bridge = settings.bridge
    address = args.address or bridge.address or default_address()
    state_dir = args.state_dir or bridge.state_dir
    if args.demo and not args.state_dir:
        from mihomekit.demo import demo_state_dir

        state_dir = str(demo_state_dir(bridge.state_dir))
    entries, mi32cfg = _entries(args, settings, Path(state_dir).expanduser())
    mac = args.mac or bridge.mac
    if mac is not None:
        try:
            normalize_mac(mac)
        except ValueError as err:
            raise ConfigError(f"--mac: {err}") from err
    sources: list[SourceFactory] = []
    if args.demo:
        from mihomekit.demo import demo_sources

        sources.extend(demo_sources(speed=args.replay_speed, activity=DEMO_ACTIVITY_INTERVAL))
    elif args.replay:
        sources.append(_replay_source(args.replay, args.replay_speed, args.loop))
    elif settings.ble.enabled and not args.no_ble:
        sources.append(_ble_source(settings))
    if not args.demo:
        sources.extend(esphome_sources(settings))
    ble = settings.ble
    ble_on = ble.enabled and not args.no_ble
    if not (args.demo or args.replay) and (ble.set_clocks or ble.battery_poll_hours > 0):
        sources.append(_upkeep_source(settings, _radios(settings, local=ble_on)))
    gateways = settings.gateway
    gateway_on = bool(
        gateways.enabled
        and not args.no_gateway
        and not args.demo
        and (gateways.gateways or gateways.discover)
    )
    if gateway_on:
        sources.append(_gateway_source(settings))
    if settings.mqtt_receivers and settings.mqtt is None:
        raise ConfigError(
            "[[mqtt_receivers]] needs an [mqtt] broker: add an [mqtt] table with its host",
            path=args.settings,
        )
    if not args.demo:
        sources.extend(_mqtt_receiver_source(entry) for entry in settings.mqtt_receivers)
    zigbee2mqtt = settings.zigbee2mqtt
    z2m_on = zigbee2mqtt is not None and zigbee2mqtt.enabled and not args.demo
    if z2m_on:
        sources.append(_zigbee2mqtt_source(settings))
    configured: list[SourceFactory] = []
    if settings.relays:
        configured.append(relay_source(settings.relays))
    if settings.presence:
        configured.append(presence_source(settings.presence))
    outputs: list[OutputFactory] = []
    if settings.mqtt is not None and settings.mqtt.publish:
        outputs.append(mqtt_output)
    saved_list = Path(state_dir).expanduser() / WEB_MI32CFG
    config = AppConfig(
        state_dir=Path(state_dir).expanduser(),
        address=address,
        port=args.port or bridge.port,
        setup_code=bridge.setup_code,
        setup_code_mac=mac,
        name=bridge.name,
        entries=entries,
        mi32cfg=Path(mi32cfg) if mi32cfg not in (None, "<demo>") else saved_list,
        battery_low_threshold=settings.battery_low_threshold,
        motion_timeout=settings.motion_timeout,
        staleness=settings.staleness.as_dict(),
        sources=sources,
        configured_sources=configured,
        extensions=settings.extensions,
        radios=(
            _radios(settings, local=ble_on)
            if settings.extensions and not (args.demo or args.replay)
            else None
        ),
        outputs=outputs,
        child_bridges=bridge.child_bridges,
        max_bridges=bridge.max_bridges,
        pairing_window=bridge.pairing_window,
        bridges=[
            BridgeRule.of(b.name, sources=b.sources, devices=b.devices, models=b.models)
            for b in settings.bridges
        ],
        require_devices=True,
        discovery_wait=DISCOVERY_WAIT if gateway_on or z2m_on else 0.0,
        # The demo reads nothing from the broker, but may publish to it.
        mqtt=settings.mqtt if outputs or not args.demo else None,
    )
    if settings.web.enabled and not args.no_web:
        port = settings.web.port if args.web_port is None else args.web_port
        radios = None if args.demo or args.replay else _radios(settings, local=ble_on)
        config.outputs.append(
            web_output(
                port=port,
                password_hash=settings.web.password_hash,
                radios=radios,
                host_names=settings.web.host_names,
            )
        )
    return RunPlan(config=config, mi32cfg=mi32cfg, demo=args.demo)


def _replay_source(path: str, speed: float, loop: bool) -> SourceFactory:
    from mihomekit.sources.recording import read_recording

    records = read_recording(path)

    def factory(app: App) -> Any:
        from mihomekit.sources.recording import ReplaySource

        return ReplaySource(records, app.registry.handle, speed=speed, loop=loop, name=path)

    return factory


def _ble_source(settings: Settings) -> SourceFactory:
    def factory(app: App) -> Any:
        from mihomekit.sources.ble import BleAdapter

        return BleAdapter(
            app.registry.handle,
            adapter=settings.ble.adapter,
            scan_mode=settings.ble.scan_mode,
            watchdog_seconds=settings.ble.watchdog_seconds,
            wait_for_adapter=True,  # an adapter that appears later is picked up
            tap=app.advertisements.for_sources(),
        )

    return factory


def _radios(settings: Settings, *, local: bool) -> RadioFor:
    """How the bridge reaches a sensor over GATT: the proxy of the settings that hears it
    best, else this host's adapter (``local``; without it, sensors only proxies hear)."""
    from mihomekit.ble.esphome import EsphomeRadio
    from mihomekit.ble.local import LocalRadio
    from mihomekit.ble.upkeep import radio_chooser

    ble = settings.ble
    proxies: dict[str, Any] = {p.name or p.host: EsphomeRadio(p) for p in settings.esphome}
    return radio_chooser(
        LocalRadio(ble.adapter, scan_mode=ble.scan_mode) if local else None, proxies
    )


def _upkeep_source(settings: Settings, radios: RadioFor) -> SourceFactory:
    """Sensor clocks and batteries over GATT (``[ble] set_clocks``, ``battery_poll_hours``)."""

    def factory(app: App) -> Any:
        from mihomekit.ble.queue import shared_queue
        from mihomekit.ble.upkeep import SensorUpkeep

        ble = settings.ble
        return SensorUpkeep(
            app.registry,
            radios,
            set_clocks=ble.set_clocks,
            battery_poll_hours=ble.battery_poll_hours,
            queue=shared_queue(),
        )

    return factory


def esphome_sources(settings: Settings) -> list[SourceFactory]:
    """One source per ``[[esphome]]`` proxy, feeding the registry like the local radio."""
    return [_esphome_source(proxy) for proxy in settings.esphome]


def _esphome_source(proxy: EsphomeSettings) -> SourceFactory:
    def factory(app: App) -> Any:
        from mihomekit.sources.esphome.proxy import EsphomeProxy

        return EsphomeProxy.from_settings(
            proxy, app.registry.handle, tap=app.advertisements.for_sources()
        )

    return factory


def relay_source(relays: Sequence[RelaySettings]) -> SourceFactory:
    """The ``[[relays]]`` on this host's GPIO pins (gpiozero chooses the pin factory:
    ``GPIOZERO_PIN_FACTORY=mock`` tries them without a Raspberry Pi)."""

    def factory(app: App) -> Any:
        from mihomekit.sources.relays import RelayBoard

        return RelayBoard(app.registry, relays, state_dir=app.config.state_dir)

    return factory


def presence_source(entries: Sequence[PresenceSettings]) -> SourceFactory:
    """The ``[[presence]]`` entries, heard through every radio (the advertisement tap)."""

    def factory(app: App) -> Any:
        from mihomekit.presence.tracker import PresenceTracker

        return PresenceTracker(app.registry, entries, app.advertisements)

    return factory


def web_output(
    *,
    port: int,
    password_hash: str | None,
    radios: RadioFor | None = None,
    host_names: Sequence[str] = (),
) -> OutputFactory:
    """The Mi Dashboard on the bridge's address (``port`` 0: a free one); with ``radios``
    (how to reach a sensor), its "Get the key from the sensor" button; ``host_names``:
    more names it answers to (``[web] host_names``)."""

    def factory(app: App) -> Any:
        from mihomekit.ble.bind import BridgeBinder
        from mihomekit.outputs.web.server import WebOutput

        binder = None if radios is None else BridgeBinder(app.registry, app.device_list, radios)
        return WebOutput(
            app.registry,
            app.hubs,
            app.device_list,
            statuses=app.source_statuses,
            name=app.config.name,
            state_dir=app.config.state_dir,
            host=app.config.listen_address or app.config.address,
            port=port,
            password_hash=password_hash,
            binder=binder,
            host_names=host_names,
        )

    return factory


def _gateway_source(settings: Settings) -> SourceFactory:
    def factory(app: App) -> Any:
        from mihomekit.sources.gateway.source import GatewaySource

        return GatewaySource(app.registry, settings.gateway)

    return factory


def _mqtt_receiver_source(entry: MqttReceiverSettings) -> SourceFactory:
    def factory(app: App) -> Any:
        from mihomekit.mqtt import require_connection
        from mihomekit.sources.mqtt_receivers import MqttReceiverSource

        connection = require_connection(app.mqtt, "[[mqtt_receivers]]")
        return MqttReceiverSource(
            connection, app.registry.handle, entry, tap=app.advertisements.for_sources()
        )

    return factory


def _zigbee2mqtt_source(settings: Settings) -> SourceFactory:
    z2m = settings.zigbee2mqtt
    assert z2m is not None

    def factory(app: App) -> Any:
        from mihomekit.mqtt import require_connection
        from mihomekit.sources.zigbee2mqtt.source import Zigbee2mqttSource

        return Zigbee2mqttSource(app.registry, require_connection(app.mqtt, "[zigbee2mqtt]"), z2m)

    return factory


def mqtt_output(app: App) -> Any:
    """MQTT out on the app's broker connection."""
    from mihomekit.mqtt import require_connection
    from mihomekit.outputs.mqtt import MqttOutput

    return MqttOutput(app.registry, require_connection(app.mqtt, "[mqtt] publish = true"))


async def _serve(plan: RunPlan) -> None:
    config = plan.config
    app = App(config)
    if plan.demo:
        print(f"demo: state in {config.state_dir} (delete it to start over)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
    except Exception as err:
        await app.stop()
        if isinstance(err, NothingToBridgeError):
            raise NothingToBridgeError(_nothing_to_bridge(plan)) from err
        if isinstance(err, OSError):
            raise _start_error(config, err, getattr(app, "starting_port", config.port)) from err
        raise
    if plan.mi32cfg is None:
        _LOGGER.warning(
            "no mi32cfg found (looked for %s); no BLE devices are bridged. "
            "Write one with `mihomekit scan --write mi32cfg`.",
            ", ".join(DEFAULT_MI32CFG_PATHS),
        )
    # What the start built (accessories, characteristics) lives as long as the bridge:
    # the collector's full passes need not walk it again and again.
    gc.freeze()
    for line in ready_lines(app):
        print(line, flush=True)
    for output in app.outputs:
        url = getattr(output, "url", None)
        if url and getattr(output, "serving", False):
            print(f"Mi Dashboard: {url}", flush=True)
    try:
        await stop.wait()
    finally:
        await app.stop()
    print(f"mihomekit bridge {config.name!r} stopped", flush=True)


def ready_lines(app: App) -> list[str]:
    """One line per bridge: where it serves, how many devices it really shows, pairing.

    Bridge 1's line comes first and keeps its form; then the child bridges', and the
    number of devices no bridge could take (each is named in the log).
    """
    config = app.config
    lines = []
    for hub in app.hubs:
        which = "" if hub.number == 1 else f" (bridge {hub.number})"
        if hub.paired:
            pairing = (
                f"paired with {counted(hub.paired_controllers, 'controller')} "
                "(setup code not shown)"
            )
        else:
            pairing = f"setup code {hub.setup_code}, pairing {_window(hub)}"
        lines.append(
            f"mihomekit bridge {hub.name!r}{which} on {config.address}:{hub.port}, "
            f"{counted(hub.served, 'accessory', 'accessories')}, {pairing}"
        )
    if app.hubs.unplaced:
        lines.append(
            f"{counted(len(app.hubs.unplaced), 'device')} "
            f"{noun(len(app.hubs.unplaced), 'is', 'are')} on no bridge (named in the log): "
            + ("every bridge is full" if config.child_bridges else "child bridges are off")
        )
    return lines


def _window(hub: Hub) -> str:
    """``open until 14:35:00`` or ``closed (mihomekit pairing open opens it)``."""
    if hub.driver is None:
        return "closed"
    status: WindowStatus = hub.driver.pairing_window.status()
    if status.open:
        return status.describe()
    which = "" if hub.number == 1 else f" --bridge {hub.number}"
    return f"closed (`mihomekit pairing open{which}` opens it)"


def _start_error(config: AppConfig, err: OSError, port: int) -> Exception:
    """The one-line error for an OSError while starting the HAP server on ``port``."""
    where = f"{config.address}:{port}"
    if err.errno == errno.EADDRINUSE:
        fix = (
            "choose another port with --port"
            if port == config.port
            else "it is a child bridge's port, kept in its bridge.json (bridge-N/ of the "
            "state directory) so that controllers find it again"
        )
        return PortInUseError(
            f"cannot serve HomeKit on {where}: the port is in use (another mihomekit or "
            f"HomeKit bridge?); stop it or {fix}"
        )
    state_dir = os.path.abspath(config.state_dir)
    in_state = isinstance(err.filename, str) and os.path.abspath(err.filename).startswith(
        state_dir + os.sep
    )
    if err.errno in (errno.ENOSPC, errno.EDQUOT) or in_state:
        return state_write_error(Path(state_dir), err)
    return AdapterError(f"cannot serve HomeKit on {where}: {err.strerror or err}")


def _nothing_to_bridge(plan: RunPlan) -> str:
    """Why the bridge has no device, and what to do: one line."""
    if plan.mi32cfg is None:
        ble = f"no mi32cfg found (looked for {', '.join(DEFAULT_MI32CFG_PATHS)})"
    else:
        ble = f"{plan.mi32cfg} lists no device mihomekit can bridge"
    wait = plan.config.discovery_wait
    zigbee = f"no gateway reported a device within {wait:g} s" if wait > 0 else "gateways are off"
    return (
        f"nothing to bridge: {ble}, and {zigbee}. Write a device list with "
        f"`mihomekit scan --write mi32cfg` (or pass --config PATH), name a gateway in the "
        f"settings ([[gateway.gateways]]), or try `mihomekit run --demo`"
    )
