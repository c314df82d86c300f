"""The dashboard's web server: an aiohttp application run as one of the bridge's outputs.

Pages: ``/`` (overview), ``/pairing``, ``/devices`` (with ``/devices/bind``: a sensor's
bind key by Mi activation), ``/sources``, ``/login``; live updates at ``/events``;
``/metrics``; ``/api/check-key`` (JSON). Only requests whose ``Host`` names the dashboard
are answered (:mod:`.hosts`). Reading is open, except the setup code and the whole bind
keys, which only the owner sees: a login or, without a password, a request from this
host. Every ``POST`` that changes something passes :class:`~.auth.ChangeGuard` (CSRF
token, and the owner). Bodies larger than
:data:`MAX_BODY` bytes are refused with 413; every refusal is a page (or JSON) that says
why, and nothing is half-changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from mihomekit.errors import MihomekitError
from mihomekit.homekit.window import WindowStatus
from mihomekit.hubs import Hub, Hubs
from mihomekit.registry import (
    Device,
    DeviceAdded,
    DeviceChanged,
    DeviceRemoved,
    Registry,
    RegistryEvent,
    Update,
)
from mihomekit.sources import SourceStatus
from mihomekit.sources.device_list import DeviceList

from . import pages
from .auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    ChangeGuard,
    csrf_problem,
    new_csrf_token,
)
from .devices import DeviceChangeError, DeviceManager
from .hosts import HostCheck, local_address
from .live import LiveHub
from .metrics import CONTENT_TYPE, render_metrics
from .reception import RECEPTION_FILE, SAVE_INTERVAL, ReceptionLog

__all__ = ["MAX_BODY", "WebOutput"]

_LOGGER = logging.getLogger(__name__)

#: The largest request body accepted (a pasted mi32cfg fits many times over).
MAX_BODY = 256 * 1024
_STATIC = ("dashboard.css", "dashboard.js")
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebOutput:
    """The Mi Dashboard on ``host:port``: follows the registry, shows the HomeKit bridges.

    ``statuses`` gives the sources' statuses (the Sources page, ``/metrics``); changes
    to BLE devices go to ``device_list`` (the mi32cfg).
    """

    def __init__(
        self,
        registry: Registry,
        hubs: Hubs,
        device_list: DeviceList,
        *,
        statuses: Callable[[], list[SourceStatus]],
        name: str,
        state_dir: Path,
        host: str,
        port: int,
        password_hash: str | None,
        binder: Callable[[str], Awaitable[str]] | None = None,
        host_names: Sequence[str] = (),
    ) -> None:
        self.registry = registry
        #: Gives a sensor a new bind key (Mi activation); None: the bridge cannot.
        self.binder = binder
        self.hubs = hubs
        self.statuses = statuses
        self.name = name
        self.host = host
        self.port = port
        self.guard = ChangeGuard(password_hash)
        self.hosts = HostCheck(
            [host, hubs.options.address, hubs.options.listen_address], names=host_names
        )
        #: One password check at a time: scrypt takes 32 MiB and a tenth of a second each.
        self._password_check = asyncio.Lock()
        self.devices = DeviceManager(device_list, registry)
        self.reception = ReceptionLog(state_dir / RECEPTION_FILE)
        self.hub = LiveHub(self._render_widget, self._summary)
        self.started = time.monotonic()
        self._heard: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._static = {
            name: resources.files(__package__).joinpath("static", name).read_bytes()
            for name in _STATIC
        }

    @property
    def serving(self) -> bool:
        return self._runner is not None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0: a free one, then in :attr:`port`)."""
        application = web.Application(
            client_max_size=MAX_BODY,
            middlewares=[self.hosts.middleware, self._errors, self._headers],
        )
        routes = [
            web.get("/", self._overview),
            web.get("/pairing", self._pairing),
            web.post("/pairing/open", self._pairing_open),
            web.post("/pairing/reset", self._pairing_reset),
            web.get("/devices", self._devices_page),
            web.post("/devices/add", self._device_add),
            web.post("/devices/rename", self._device_rename),
            web.post("/devices/remove", self._device_remove),
            web.post("/devices/import", self._device_import),
            web.post("/devices/switch", self._device_switch),
            web.post("/devices/bind", self._device_bind),
            web.get("/devices/export", self._device_export),
            web.post("/api/check-key", self._check_key),
            web.get("/sources", self._sources),
            web.get("/login", self._login_page),
            web.post("/login", self._login),
            web.post("/logout", self._logout),
            web.get("/events", self.hub.stream),
            web.get("/metrics", self._metrics),
            web.get("/static/{name}", self._static_file),
        ]
        application.add_routes(routes)
        runner = web.AppRunner(
            application, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            # The bridge goes on without its dashboard: HomeKit matters more.
            _LOGGER.error(
                "Mi Dashboard not started: cannot listen on %s:%d (%s); choose another "
                "[web] port or --web-port",
                self.host,
                self.port,
                err.strerror or err,
            )
            return
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if self.port == 0 and sockets:
            self.port = int(sockets[0].getsockname()[1])
        self.hub.start()
        self._unsubscribe = self.registry.subscribe(self._on_event)
        self._task = asyncio.get_running_loop().create_task(self._save_reception_every())
        _LOGGER.info("Mi Dashboard at %s", self.url)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.hub.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.reception.save()

    async def _save_reception_every(self) -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL)
            await asyncio.get_running_loop().run_in_executor(None, self.reception.save)

    # -- the registry --------------------------------------------------------------------

    def _on_event(self, event: RegistryEvent) -> None:
        """Readings and key changes redraw one widget; a device added, removed or renamed
        reloads the live pages."""
        if isinstance(event, Update):
            device_id = event.device.id
            self._heard.add(device_id)
            self.reception.heard(device_id)
            self.hub.changed(device_id)
        elif isinstance(event, DeviceAdded | DeviceRemoved):
            if isinstance(event, DeviceRemoved):
                self.reception.forget(event.device.id)
            self.hub.devices_changed()
        elif isinstance(event, DeviceChanged):
            if event.what in ("name", "model"):
                self.hub.devices_changed()
            else:
                self.hub.changed(event.device.id)

    def _heard_since_start(self, device: Device) -> bool:
        return bool(device.receivers) or device.id in self._heard

    def _widget(self, device: Device, *, cue: bool = False) -> str:
        return pages.widget(
            device,
            self.reception.strip(device.id),
            heard=self._heard_since_start(device),
            cue=cue,
        )

    def _render_widget(self, device_id: str) -> str | None:
        device = self.registry.get(device_id)
        return None if device is None else self._widget(device, cue=True)

    def _summary(self) -> dict[str, Any]:
        return {
            "adv": self.registry.stats.get("advertisements", 0),
            "events": self.registry.stats.get("events", 0),
        }

    # -- middlewares ---------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return self._refusal(
                request, 413, f"the request is too large (at most {MAX_BODY // 1024} KiB)"
            )
        except web.HTTPException:
            raise
        except Exception:
            _LOGGER.exception("dashboard: %s %s failed", request.method, request.path)
            return self._refusal(request, 500, "internal error (see the bridge's log)")

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", _CSP)
        return response

    # -- helpers -------------------------------------------------------------------------

    def _csrf(self, request: web.Request) -> tuple[str, bool]:
        """The browser's CSRF token, and whether it is new (a cookie to set)."""
        token = request.cookies.get(CSRF_COOKIE, "")
        if 16 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum():
            return token, False
        return new_csrf_token(), True

    def _context(self, request: web.Request, title: str, csrf: str) -> pages.PageContext:
        return pages.PageContext(
            title=title,
            bridge_name=self.name,
            csrf=csrf,
            logged_in=self.guard.logged_in(request.cookies),
            has_password=self.guard.has_password,
            may_change=self.guard.may_change(
                request.remote, request.cookies, local_address(request)
            ),
        )

    def _html(
        self,
        request: web.Request,
        title: str,
        body: Callable[[pages.PageContext], str],
        *,
        status: int = 200,
        message: str | None = None,
        error: bool = False,
    ) -> web.Response:
        csrf, new = self._csrf(request)
        ctx = self._context(request, title, csrf)
        text = pages.page(ctx, body(ctx), message=message, error=error)
        response = web.Response(text=text, status=status, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        if new:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="Strict", path="/")
        return response

    def _refusal(self, request: web.Request, status: int, message: str) -> web.Response:
        if request.path.startswith("/api/"):
            return web.json_response({"result": "refused", "message": message}, status=status)
        return self._html(
            request, "Refused", lambda _ctx: "", status=status, message=message, error=True
        )

    async def _form(self, request: web.Request) -> dict[str, str]:
        """The posted form (strings only; files and repeated fields refused)."""
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise _Refused(415, "send the form as application/x-www-form-urlencoded")
        data = await request.post()
        form: dict[str, str] = {}
        for key, value in data.items():
            if not isinstance(value, str):
                raise _Refused(400, f"field {key!r} must be text")
            if key in form:
                raise _Refused(400, f"field {key!r} given twice")
            form[key] = value
        return form

    async def _change(
        self,
        request: web.Request,
        title: str,
        body: Callable[[pages.PageContext], str],
        action: Callable[[dict[str, str]], Awaitable[str]],
    ) -> web.Response:
        """Run one change requested by a form: checks first, then ``action``."""
        try:
            form = await self._form(request)
            refusal = self.guard.refusal(
                remote=request.remote,
                cookies=request.cookies,
                token=form.get("csrf") or request.headers.get("X-CSRF-Token"),
                origin=request.headers.get("Origin"),
                host=request.host,
                local=local_address(request),
            )
            if refusal is not None:
                raise _Refused(403, refusal)
            done = await action(form)
        except _Refused as err:
            return self._html(
                request, title, body, status=err.status, message=err.message, error=True
            )
        except DeviceChangeError as err:
            return self._html(request, title, body, status=400, message=str(err), error=True)
        return self._html(request, title, body, message=done)

    def _over_cap(self) -> dict[str, int]:
        """What was refused for a cap of the settings: the bridges' and the sources'."""
        caps = dict(self.hubs.over_cap)
        for status in self.statuses():
            caps.update(status.over_cap)
        return caps

    # -- pages ---------------------------------------------------------------------------

    async def _overview(self, request: web.Request) -> web.Response:
        return self._html(request, "Overview", self._overview_body)

    def _overview_body(self, _ctx: pages.PageContext) -> str:
        registry = self.registry
        summary = pages.Summary(
            devices=len(registry),
            advertisements=registry.stats.get("advertisements", 0),
            events=registry.stats.get("events", 0),
            paired_controllers=sum(hub.paired_controllers for hub in self.hubs),
            connections=sum(_connections(hub) for hub in self.hubs),
            uptime=time.monotonic() - self.started,
            over_cap=self._over_cap(),
        )
        widgets = [self._widget(device) for device in registry.devices()]
        return pages.overview(summary, widgets)

    async def _device_switch(self, request: web.Request) -> web.Response:
        """A widget's switch button: a relay, plug or light on or off."""

        async def action(form: dict[str, str]) -> str:
            device = self.registry.get(form.get("device", ""))
            reading = form.get("reading", "")
            if device is None or reading not in pages.switch_readings(device):
                raise _Refused(400, "there is no such switch")
            on = form.get("on") == "1"
            try:
                await self.registry.control(device.id, {reading: on})
            except Exception as err:
                raise _Refused(409, f"{device.name} could not be switched: {err}") from None
            return f"{device.name} switched {'on' if on else 'off'}"

        return await self._change(request, "Overview", self._overview_body, action)

    def _pairing_body(self, ctx: pages.PageContext) -> str:
        return "".join(
            pages.pairing_page(
                ctx,
                pages.PairingCard(
                    bridge=hub.number,
                    name=hub.name,
                    paired=hub.paired,
                    code=hub.setup_code,
                    uri=hub.setup_uri,
                    controllers=_controllers(hub),
                    window=_window(hub),
                ),
            )
            for hub in self.hubs
        )

    async def _pairing(self, request: web.Request) -> web.Response:
        return self._html(request, "Pairing", self._pairing_body)

    def _running_hub(self, form: dict[str, str]) -> Hub:
        number = form.get("bridge", "1")
        hub = next((h for h in self.hubs if str(h.number) == number), None)
        if hub is None or hub.driver is None:
            raise _Refused(400, f"there is no running bridge {number[:8]!r}")
        return hub

    async def _pairing_open(self, request: web.Request) -> web.Response:
        async def action(form: dict[str, str]) -> str:
            hub = self._running_hub(form)
            if hub.paired:
                raise _Refused(400, f"{hub.name} is paired: reset its pairing first")
            status = hub.driver.pairing_window.open("opened on the dashboard")
            return f"pairing of {hub.name} {status.describe()}"

        return await self._change(request, "Pairing", self._pairing_body, action)

    async def _pairing_reset(self, request: web.Request) -> web.Response:
        async def action(form: dict[str, str]) -> str:
            if form.get("confirm") != "yes":
                raise _Refused(400, "tick the box to confirm the reset first")
            hub = self._running_hub(form)
            try:
                removed = await _reset_pairing(hub)
            except OSError as err:
                raise _Refused(
                    500, f"the pairing state could not be saved ({err}); nothing changed"
                ) from None
            status = hub.driver.pairing_window.open("the pairing was reset on the dashboard")
            return (
                f"pairing of {hub.name} reset: {removed} controller(s) removed; add the bridge "
                f"in Apple Home again with the setup code (pairing {status.describe()})"
            )

        return await self._change(request, "Pairing", self._pairing_body, action)

    def _devices_body(self, ctx: pages.PageContext) -> str:
        registry = self.registry
        configured = []
        for device in registry.devices():
            editable = self.devices.configured(device.id) is not None
            configured.append(pages.ConfiguredRow(device, editable))
        unknown = sorted(registry.unknown.values(), key=lambda u: -u.seen)
        return pages.devices_page(
            ctx,
            configured=configured,
            unknown=unknown,
            mi32cfg_path=str(self.devices.path) if self.devices.path else None,
            export_text=self.devices.export_text(masked=True),
            can_bind=self.binder is not None and self.devices.path is not None,
        )

    async def _devices_page(self, request: web.Request) -> web.Response:
        return self._html(request, "Devices", self._devices_body)

    async def _device_change(
        self, request: web.Request, action: Callable[[dict[str, str]], Awaitable[str]]
    ) -> web.Response:
        async def run(form: dict[str, str]) -> str:
            return await action(form)

        return await self._change(request, "Devices", self._devices_body, run)

    async def _device_add(self, request: web.Request) -> web.Response:
        return await self._device_change(
            request,
            lambda f: self.devices.add(
                f.get("mac", ""), f.get("pid", ""), f.get("name", ""), f.get("key", "")
            ),
        )

    async def _device_rename(self, request: web.Request) -> web.Response:
        return await self._device_change(
            request, lambda f: self.devices.rename(f.get("mac", ""), f.get("name", ""))
        )

    async def _device_remove(self, request: web.Request) -> web.Response:
        async def action(form: dict[str, str]) -> str:
            return await self.devices.remove(form.get("mac", ""))

        return await self._device_change(request, action)

    async def _device_import(self, request: web.Request) -> web.Response:
        return await self._device_change(
            request, lambda f: self.devices.import_text(f.get("mi32cfg", ""))
        )

    async def _device_bind(self, request: web.Request) -> web.Response:
        async def action(form: dict[str, str]) -> str:
            if self.binder is None:
                raise _Refused(400, "this bridge cannot reach sensors over Bluetooth")
            if form.get("confirm") != "yes":
                raise _Refused(400, "tick the box first: the sensor stops working with Mi Home")
            try:
                return await self.binder(form.get("mac", ""))
            except MihomekitError as err:
                raise DeviceChangeError(str(err)) from None

        return await self._device_change(request, action)

    async def _device_export(self, request: web.Request) -> web.Response:
        if not self.guard.may_change(request.remote, request.cookies, local_address(request)):
            return self._refusal(request, 403, "the export holds the bind keys: log in first")
        return web.Response(
            text=self.devices.export_text(),
            content_type="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="mi32cfg"',
                "Cache-Control": "no-store",
            },
        )

    async def _check_key(self, request: web.Request) -> web.Response:
        # A key check changes nothing: only the CSRF checks apply.
        refusal = csrf_problem(
            request.cookies,
            request.headers.get("X-CSRF-Token"),
            request.headers.get("Origin"),
            request.host,
        )
        if refusal is not None:
            return self._refusal(request, 403, refusal)
        try:
            data = json.loads(await request.text())
        except (ValueError, UnicodeDecodeError) as err:
            return self._refusal(request, 400, f"the body is not JSON: {err}")
        if not isinstance(data, dict):
            return self._refusal(request, 400, 'send {"mac": "...", "key": "..."}')
        mac, key = data.get("mac"), data.get("key")
        if not isinstance(mac, str) or not isinstance(key, str):
            return self._refusal(request, 400, '"mac" and "key" must be strings')
        check = self.devices.check_key(mac, key)
        return web.json_response({"result": check.result, "message": check.message})

    async def _sources(self, request: web.Request) -> web.Response:
        statuses = self.statuses()
        return self._html(request, "Sources", lambda _ctx: pages.sources_page(statuses))

    async def _login_page(self, request: web.Request) -> web.Response:
        next_url = _local_path(request.query.get("next", "/"))
        return self._html(request, "Log in", lambda ctx: pages.login_page(ctx, next_url))

    async def _login(self, request: web.Request) -> web.Response:
        def body(ctx: pages.PageContext) -> str:
            return pages.login_page(ctx, "/")

        try:
            form = await self._form(request)
        except _Refused as err:
            return self._html(
                request, "Log in", body, status=err.status, message=err.message, error=True
            )
        csrf_refusal = csrf_problem(
            request.cookies, form.get("csrf"), request.headers.get("Origin"), request.host
        )
        if csrf_refusal is not None:
            return self._html(request, "Log in", body, status=403, message=csrf_refusal, error=True)
        client = request.remote or "?"
        password = form.get("password", "")
        refusal = self.guard.begin_login(client)  # counted before the check
        if refusal is not None:
            status = 429 if self.guard.has_password else 403
            return self._html(request, "Log in", body, status=status, message=refusal, error=True)
        loop = asyncio.get_running_loop()
        async with self._password_check:
            right = await loop.run_in_executor(None, self.guard.check_password, password)
        token = self.guard.end_login(client, right)
        if token is None:
            return self._html(
                request, "Log in", body, status=403, message="wrong password", error=True
            )
        response = web.HTTPSeeOther(_local_path(form.get("next", "/")))
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            path="/",
            max_age=int(SESSION_SECONDS),
        )
        raise response

    async def _logout(self, request: web.Request) -> web.Response:
        try:
            form = await self._form(request)
        except _Refused as err:
            return self._refusal(request, err.status, err.message)
        refusal = csrf_problem(
            request.cookies, form.get("csrf"), request.headers.get("Origin"), request.host
        )
        if refusal is not None:
            return self._refusal(request, 403, refusal)
        self.guard.sessions.end(request.cookies.get(SESSION_COOKIE))
        response = web.HTTPSeeOther("/")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    async def _metrics(self, request: web.Request) -> web.Response:
        text = render_metrics(
            self.registry,
            self.statuses(),
            events=self.registry.stats.get("events", 0),
            paired_controllers=sum(hub.paired_controllers for hub in self.hubs),
            web_clients=self.hub.clients,
            over_cap=self._over_cap(),
            refused_hosts=self.hosts.refused,
        )
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    async def _static_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        data = self._static.get(name)
        if data is None:
            raise web.HTTPNotFound(text="no such file")
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return web.Response(body=data, content_type=kind, headers={"Cache-Control": "max-age=300"})


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _local_path(target: str) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirects)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _controllers(hub: Hub) -> list[tuple[str, bool]]:
    if hub.driver is None:
        return []
    state = hub.driver.state
    return [(str(c), bool(state.is_admin(c))) for c in list(state.paired_clients)]


def _window(hub: Hub) -> WindowStatus:
    if hub.driver is None:
        return WindowStatus(open=False)
    status: WindowStatus = hub.driver.pairing_window.status()
    return status


def _connections(hub: Hub) -> int:
    server = getattr(hub.driver, "http_server", None)
    return len(getattr(server, "connections", {}) or {})


async def _reset_pairing(hub: Hub) -> int:
    """Remove every controller of ``hub``, save, close their sessions; returns how many."""
    driver = hub.driver
    state = driver.state
    names = ("paired_clients", "client_properties", "uuid_to_bytes")
    snapshot = {name: dict(getattr(state, name)) for name in names}
    controllers = list(state.paired_clients)
    for controller in controllers:
        state.remove_paired_client(controller)
    try:
        await driver.async_save()
    except OSError:
        for name, saved in snapshot.items():
            getattr(state, name).clear()
            getattr(state, name).update(saved)
        raise
    if driver.accessory is not None:
        driver.accessory.reset_accessory_state()
    server = driver.http_server
    for conn in list(server.connections.values()):
        if conn.pairing.controller is not None:
            conn.close()
    driver.async_update_advertisement()
    _LOGGER.warning("pairing of %s reset from the dashboard", hub.name)
    return len(controllers)
