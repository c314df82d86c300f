"""The dashboard's HTML, rendered on the server: the page frame, widgets and the four pages.

Every text that comes from a device, a source or a user goes through :func:`html.escape`.
Bind keys are only ever shown masked (:func:`mask_key`). The style sheet and the one script
are static files next to this module (``static/``).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from mihomekit import setupcode
from mihomekit.homekit.window import WindowStatus
from mihomekit.readings import KeyStatus, Value
from mihomekit.registry import Device, UnknownDevice
from mihomekit.sources import SourceStatus

__all__ = [
    "PageContext",
    "mask_key",
    "page",
    "widget",
]

#: Value name → (label, unit, decimals); names not listed are shown as they come.
_UNITS: dict[str, tuple[str, str, int]] = {
    "temperature": ("Temperature", "°C", 1),
    "humidity": ("Humidity", "%", 1),
    "pressure": ("Pressure", "hPa", 1),
    "voltage": ("Voltage", "V", 2),
    "illuminance": ("Illuminance", "lx", 0),
    "moisture": ("Moisture", "%", 0),
    "conductivity": ("Conductivity", "µS/cm", 0),
    "formaldehyde": ("Formaldehyde", "mg/m³", 3),
    "no_motion_seconds": ("No motion for", "s", 0),
    "load_power": ("Power", "W", 1),
    "brightness": ("Brightness", "%", 0),
    "hue": ("Hue", "°", 0),
    "saturation": ("Saturation", "%", 0),
    "mass": ("Weight", "kg", 2),
}
#: Boolean value name → (label, text when true, text when false).
_STATES: dict[str, tuple[str, str, str]] = {
    "motion": ("Motion", "motion", "no motion"),
    "opening": ("Contact", "open", "closed"),
    "leak": ("Leak", "water!", "dry"),
    "smoke": ("Smoke", "SMOKE!", "clear"),
    "gas": ("Gas", "GAS!", "clear"),
    "occupancy": ("Occupancy", "occupied", "empty"),
    "presence": ("Presence", "home", "away"),
    "light": ("Light", "bright", "dark"),
    "low_battery": ("Battery", "low", "ok"),
    "power": ("Power", "on", "off"),
    "power_2": ("Power 2", "on", "off"),
    "in_use": ("In use", "yes", "no"),
    "light_on": ("Light", "on", "off"),
}
#: Shown elsewhere in the widget (battery, signal) or not a reading.
_NOT_LISTED = frozenset({"battery", "rssi"})
#: Readings the dashboard can switch (relays, plugs, lights) through ``/devices/switch``.
_SWITCHABLE = re.compile(r"^(power(_\d+)?|light_on)$")


def switch_readings(device: Device) -> list[str]:
    """The readings of ``device`` that its source can switch (none without a control)."""
    if device.control is None or device.model is None:
        return []
    return sorted(r for r in device.model.measures | set(device.values) if _SWITCHABLE.match(r))


def _switches(device: Device) -> str:
    """A button per switchable reading (the page's script adds the CSRF token)."""
    forms = []
    for reading in switch_readings(device):
        on = bool(device.values.get(reading))
        label = _STATES.get(reading, (reading, "", ""))[0]
        forms.append(
            '<form method="post" action="/devices/switch" class="switch">'
            '<input type="hidden" name="csrf" value="">'
            f'<input type="hidden" name="device" value="{escape(device.id)}">'
            f'<input type="hidden" name="reading" value="{escape(reading)}">'
            f'<input type="hidden" name="on" value="{"0" if on else "1"}">'
            f'<button type="submit">{escape(label)}: turn {"off" if on else "on"}</button></form>'
        )
    return "".join(forms)


@dataclass(frozen=True, slots=True)
class PageContext:
    """What every page frame needs to know."""

    title: str
    bridge_name: str
    csrf: str
    logged_in: bool
    has_password: bool
    may_change: bool


def mask_key(key: bytes | None) -> str:
    """``5A1F…08`` for a key (never the whole key), ``""`` for none."""
    if not key:
        return ""
    text = key.hex().upper()
    return f"{text[:4]}…{text[-2:]}"


def _number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def format_value(name: str, value: Value) -> tuple[str, str]:
    """``(label, text)`` of one reading, with its unit."""
    if isinstance(value, bool):
        label, yes, no = _STATES.get(name, (name.replace("_", " ").capitalize(), "yes", "no"))
        return label, yes if value else no
    if name in _UNITS and isinstance(value, int | float):
        label, unit, decimals = _UNITS[name]
        return label, f"{_number(float(value), decimals)} {unit}"
    if name in _STATES:
        return _STATES[name][0], str(value)
    return name.replace("_", " ").capitalize(), str(value)


def key_text(device: Device) -> tuple[str, str]:
    """``(css class, words)`` for the device's key status."""
    status = device.key_status
    needs_key = device.model is not None and device.model.encrypted
    if status is KeyStatus.WRONG:
        return "bad", "wrong key"
    if status is KeyStatus.MISSING or (needs_key and device.key is None):
        return "bad", "needs a bind key"
    if status is KeyStatus.OK:
        return "ok", f"key works ({mask_key(device.key)})"
    if device.key is not None:
        return "", f"key {mask_key(device.key)}, not yet confirmed"
    return "", "no key needed"


def wall_time(monotonic_seen: float | None) -> float | None:
    """A monotonic time of the registry as seconds since the epoch."""
    if monotonic_seen is None:
        return None
    return time.time() - (time.monotonic() - monotonic_seen)


def age_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{int(seconds)} s ago"
    if seconds < 5400:
        return f"{int(seconds // 60)} min ago"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


@functools.lru_cache(maxsize=512)
def _strip(cells: tuple[bool, ...]) -> str:
    spans = "".join('<i class="on"></i>' if cell else "<i></i>" for cell in cells)
    heard = sum(cells)
    return (
        f'<div class="strip" title="heard in {heard} of the last {len(cells)} hours '
        f'(oldest left, this hour right)">{spans}</div>'
    )


def widget(device: Device, strip: Sequence[bool], *, heard: bool, cue: bool = False) -> str:
    """One device's widget; ``heard``: heard since the bridge started; ``cue``: just updated."""
    key_class, key_words = key_text(device)
    dim = not heard or device.key_status in (KeyStatus.WRONG, KeyStatus.MISSING)
    classes = "widget dim" if dim else "widget"
    model = device.model.model if device.model else f"unknown PID {device.pid or 0:04x}"
    rows = []
    for name, value in device.values.items():
        if name in _NOT_LISTED:
            continue
        label, text = format_value(name, value)
        rows.append(f"<dt>{escape(label)}</dt><dd>{escape(text)}</dd>")
    values = "".join(rows) or "<dt>No values yet</dt><dd></dd>"
    meta = []
    battery = device.values.get("battery")
    if isinstance(battery, int | float) and not isinstance(battery, bool):
        meta.append(f'<span class="bat">battery {int(battery)} %</span>')
    if device.rssi is not None or device.best_receiver:
        rssi = f"{device.rssi} dBm" if device.rssi is not None else "? dBm"
        via = f" via {escape(device.best_receiver)}" if device.best_receiver else ""
        meta.append(f'<span class="rssi">{rssi}{via}</span>')
    seen = wall_time(device.last_seen)
    if seen is None:
        meta.append('<span class="age">never heard</span>')
    else:
        meta.append(
            f'<span class="age" data-seen="{seen:.0f}">{age_text(time.time() - seen)}</span>'
        )
    cue_html = '<svg class="cue" viewBox="0 0 24 24"><circle cx="12" cy="12" r="11"/></svg>'
    return (
        f'<article class="{classes}" id="w-{escape(device.id)}" data-device="{escape(device.id)}">'
        f"<header><h2>{escape(device.name)}</h2>{cue_html if cue else ''}</header>"
        f'<p class="sub">{escape(model)} · {escape(_display_id(device.id))}</p>'
        f'<dl class="values">{values}</dl>{_switches(device)}'
        f'<p class="meta">{" · ".join(meta)}</p>'
        f'<p class="key {key_class}">{escape(key_words)}</p>'
        f"{_strip(tuple(strip))}</article>"
    )


def _display_id(device_id: str) -> str:
    if len(device_id) == 12 and all(c in "0123456789ABCDEF" for c in device_id):
        return ":".join(device_id[i : i + 2] for i in range(0, 12, 2))
    return device_id


def page(ctx: PageContext, body: str, *, message: str | None = None, error: bool = False) -> str:
    """The page frame around ``body``: navigation, login state, an optional message."""
    nav = "".join(
        f'<a href="{href}"{" aria-current=page" if label == ctx.title else ""}>{label}</a>'
        for href, label in (
            ("/", "Overview"),
            ("/pairing", "Pairing"),
            ("/devices", "Devices"),
            ("/sources", "Sources"),
        )
    )
    if ctx.logged_in:
        account = (
            f'<form method="post" action="/logout" class="inline">{_csrf(ctx)}'
            '<button type="submit">Log out</button></form>'
        )
    elif ctx.has_password:
        account = '<a href="/login">Log in</a>'
    else:
        account = '<span class="hint">no password set</span>'
    banner = ""
    if message:
        kind = "error" if error else "done"
        banner = f'<p class="message {kind}" role="status">{escape(message)}</p>'
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(ctx.title)} · {escape(ctx.bridge_name)}</title>"
        '<link rel="stylesheet" href="/static/dashboard.css">'
        '<script src="/static/dashboard.js" defer></script></head>'
        f'<body data-csrf="{escape(ctx.csrf)}"><nav><strong>{escape(ctx.bridge_name)}</strong>'
        f'{nav}<span class="account">{account}</span></nav><main>{banner}{body}</main>'
        "</body></html>"
    )


def _csrf(ctx: PageContext) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(ctx.csrf)}">'


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True, slots=True)
class Summary:
    """The overview's header line."""

    devices: int
    advertisements: int
    events: int
    paired_controllers: int
    connections: int
    uptime: float
    #: What was refused for a cap, by setting (``zigbee2mqtt.max_devices``: count).
    over_cap: Mapping[str, int] = field(default_factory=dict)


#: Words for :attr:`Summary.over_cap`'s settings.
_CAPS = {
    "bridge.max_bridges": "devices are on no bridge: no more bridges may be made",
    "zigbee2mqtt.max_devices": "Zigbee2MQTT devices were left out",
}


def _over_cap(over_cap: Mapping[str, int]) -> str:
    items = [
        f"<li><b>{count}</b> {escape(_CAPS.get(cap, 'refused'))} (<code>{escape(cap)}</code>)</li>"
        for cap, count in sorted(over_cap.items())
        if count
    ]
    if not items:
        return ""
    return (
        '<section class="card over-cap"><p>Over a cap of the settings (each named once in '
        f"the bridge's log):</p><ul>{''.join(items)}</ul></section>"
    )


def overview(summary: Summary, widgets: Iterable[str]) -> str:
    pairing = (
        f"paired with {summary.paired_controllers} controller"
        f"{'' if summary.paired_controllers == 1 else 's'}"
        if summary.paired_controllers
        else '<a href="/pairing">not paired: add it in Apple Home</a>'
    )
    return (
        '<section class="summary" id="summary">'
        f"<span>Observing <b>{summary.devices}</b> devices</span>"
        f'<span><b id="s-adv">{summary.advertisements}</b> advertisements</span>'
        f'<span><b id="s-events">{summary.events}</b> events</span>'
        f"<span>HomeKit: {pairing}, {summary.connections} connections</span>"
        f'<span>up <b class="uptime" data-start="{time.time() - summary.uptime:.0f}">'
        f"{int(summary.uptime)} s</b></span></section>{_over_cap(summary.over_cap)}"
        f'<section class="widgets" id="widgets">{"".join(widgets)}</section>'
    )


def qr_svg(uri: str) -> str:
    """The setup URI as an inline SVG QR code (black on white, quiet zone of 4)."""
    return setupcode.qr_svg(uri, scale=6)


@dataclass(frozen=True, slots=True)
class PairingCard:
    """What the pairing page shows of one bridge."""

    bridge: int
    name: str
    paired: bool
    code: str
    uri: str
    controllers: Sequence[tuple[str, bool]]
    window: WindowStatus


def _how_to_see_the_code(ctx: PageContext, bridge: int) -> str:
    qr = "mihomekit qr" + ("" if bridge == 1 else f" --bridge {bridge}")
    if ctx.has_password:
        other = '<a href="/login?next=/pairing">log in</a> to see it here'
    else:
        other = (
            "open this page on the bridge's own host (<code>http://localhost</code>), or set a "
            "password (<code>mihomekit web-password</code>) and log in"
        )
    return (
        '<p class="hint code-hidden">The setup code is shown only to the owner: run '
        f"<code>{escape(qr)}</code> on the bridge's host, or {other}.</p>"
    )


def _window_card(ctx: PageContext, card: PairingCard) -> str:
    window = card.window
    if window.always:
        return (
            '<p class="window open">Pairing is always open '
            "(<code>[bridge] pairing_window = 0</code>).</p>"
        )
    if window.open:
        state = f'<p class="window open">Pairing is {escape(window.describe())}.</p>'
    else:
        state = (
            '<p class="window closed">Pairing is closed: Apple Home cannot add this bridge '
            "until you open it.</p>"
        )
    command = "mihomekit pairing open" + ("" if card.bridge == 1 else f" --bridge {card.bridge}")
    if not ctx.may_change:
        here = "log in" if ctx.has_password else "open this page on the bridge's own host"
        return (
            f'{state}<p class="hint">Open it with <code>{escape(command)}</code> on the '
            f"bridge's host, or {here} to open it here.</p>"
        )
    button = "Open pairing again" if window.open else "Open pairing"
    return (
        f'{state}<form method="post" action="/pairing/open" class="inline">{_csrf(ctx)}'
        f'<input type="hidden" name="bridge" value="{card.bridge}">'
        f'<button type="submit">{button}</button></form>'
    )


def pairing_page(ctx: PageContext, card: PairingCard) -> str:
    """One bridge's pairing card: while unpaired, the pairing window and (to the owner) the
    QR code; else its controllers."""
    title = f"<h1>Pairing: {escape(card.name)}</h1>"
    bridge = card.bridge
    if not card.paired:
        if ctx.may_change:
            code = (
                f'<div class="qr">{qr_svg(card.uri)}</div>'
                f'<p class="code">Setup code <b class="setup-code">{escape(card.code)}</b></p>'
                f'<p class="hint">{escape(card.uri)}</p>'
            )
        else:
            code = _how_to_see_the_code(ctx, bridge)
        return (
            f'{title}<section class="card" id="pairing-{bridge}"><p>In the Home app: '
            "<b>Add Accessory</b>, then scan this bridge's QR code, or choose <i>More "
            f"options…</i> and type its setup code.</p>{_window_card(ctx, card)}{code}"
            "</section>"
        )
    rows = "".join(
        f"<tr><td><code>{escape(controller)}</code></td><td>{'admin' if admin else 'user'}</td>"
        "</tr>"
        for controller, admin in card.controllers
    )
    reset = (
        f'<form method="post" action="/pairing/reset" class="danger">{_csrf(ctx)}'
        f'<input type="hidden" name="bridge" value="{bridge}"><h2>Reset pairing</h2>'
        "<p>This removes every paired controller. Apple Home then shows the bridge and all "
        "its sensors as <b>No Response</b> until you remove the bridge from Home and add it "
        "again with the setup code; rooms, names and automations of its accessories are "
        "lost.</p>"
        '<label><input type="checkbox" name="confirm" value="yes" required> I understand: '
        "remove all pairings</label> "
        '<button type="submit">Reset pairing</button></form>'
    )
    if not ctx.may_change:
        reset = '<p class="hint">Log in to reset the pairing.</p>'
    return (
        f'{title}<section class="card" id="pairing-{bridge}"><p>Paired. Controllers:</p>'
        f"<table><tr><th>Controller</th><th>Role</th></tr>{rows}</table></section>"
        f'<section class="card">{reset}</section>'
    )


@dataclass(frozen=True, slots=True)
class ConfiguredRow:
    """One bridged device on the devices page; ``editable``: in the mi32cfg (BLE), so it
    can be removed here too; the others can only be renamed."""

    device: Device
    editable: bool


def devices_page(
    ctx: PageContext,
    *,
    configured: Sequence[ConfiguredRow],
    unknown: Sequence[UnknownDevice],
    mi32cfg_path: str | None,
    export_text: str,
    can_bind: bool = False,
) -> str:
    csrf = _csrf(ctx)

    def bind(mac: str) -> str:
        """The "Get the key from the sensor" button (Mi activation), when the bridge can."""
        if not can_bind:
            return ""
        return (
            f'<form method="post" action="/devices/bind" class="inline bind">{csrf}'
            f'<input type="hidden" name="mac" value="{escape(mac)}">'
            '<label class="hint"><input type="checkbox" name="confirm" value="yes" required> '
            "it stops working with Mi Home</label> "
            '<button type="submit">Get the key from the sensor</button></form>'
        )

    rows = []
    for row in configured:
        device = row.device
        key_class, key_words = key_text(device)
        model = device.model.model if device.model else f"PID {device.pid or 0:04x}"
        required = " required" if row.editable else ""  # empty: back to the source's name
        rename = (
            f'<form method="post" action="/devices/rename" class="inline">{csrf}'
            f'<input type="hidden" name="mac" value="{escape(device.id)}">'
            f'<input name="name" value="{escape(device.name)}" maxlength="64" '
            f'aria-label="new name"{required}><button type="submit">Rename</button></form> '
        )
        if row.editable and device.source == "ble" and key_class == "bad":
            rename += bind(device.id)
        if row.editable:
            actions = rename + (
                f'<form method="post" action="/devices/remove" class="inline">{csrf}'
                f'<input type="hidden" name="mac" value="{escape(device.id)}">'
                '<button type="submit" class="warn">Remove</button></form>'
            )
        else:
            actions = rename + (
                f'<span class="hint">{escape(device.source)}: an empty name brings back its '
                "own name; remove it in its own system</span>"
            )
        rows.append(
            f'<tr id="d-{escape(device.id)}"><td>{escape(device.name)}</td>'
            f"<td>{escape(model)}</td><td><code>{escape(_display_id(device.id))}</code></td>"
            f'<td class="key {key_class}">{escape(key_words)}</td><td>{actions}</td></tr>'
        )
    configured_html = (
        "<table class=list><tr><th>Name</th><th>Model</th><th>Address</th><th>Key</th>"
        f"<th></th></tr>{''.join(rows)}</table>"
    )
    found = []
    for item in unknown:
        model = item.model or (f"PID {item.pid:04x}" if item.pid is not None else "?")
        needs = " · encrypted" if item.encrypted else ""
        via = f"{item.rssi} dBm via {item.receiver}" if item.rssi is not None else item.receiver
        found.append(
            f'<li class="card found" data-mac="{escape(item.mac)}">'
            f"<p><b>{escape(model)}</b> <code>{escape(item.mac)}</code>"
            f" · {escape(item.format or '?')}{needs} · {escape(via)} · "
            f'<span class="age" data-seen="{wall_time(item.seen) or 0:.0f}"></span></p>'
            f'<form method="post" action="/devices/add" class="add">{csrf}'
            f'<input type="hidden" name="mac" value="{escape(item.mac)}">'
            f'<input type="hidden" name="pid" value="{item.pid or 0:04x}">'
            '<input name="name" placeholder="name (optional)" maxlength="64" aria-label="name">'
            '<input name="key" class="bindkey" placeholder="bind key, 32 hex digits" '
            'maxlength="48" autocomplete="off" spellcheck="false" aria-label="bind key">'
            '<span class="keycheck" aria-live="polite"></span>'
            '<button type="submit">Add</button></form>'
            f"{bind(item.mac) if item.encrypted and item.pid is not None else ''}</li>"
        )
    found_html = (
        f'<ul class="found-list">{"".join(found)}</ul>'
        if found
        else "<p class=hint>No unconfigured sensor heard yet.</p>"
    )
    manual = (
        f'<form method="post" action="/devices/add" class="add card">{csrf}'
        "<h3>Add by address</h3>"
        '<input name="mac" placeholder="MAC A4:C1:38:12:34:56" required aria-label="MAC">'
        '<input name="pid" placeholder="PID, 4 hex digits (055b)" required aria-label="PID">'
        '<input name="name" placeholder="name (optional)" maxlength="64" aria-label="name">'
        '<input name="key" class="bindkey" placeholder="bind key (optional)" maxlength="48" '
        'autocomplete="off" spellcheck="false" aria-label="bind key">'
        '<span class="keycheck" aria-live="polite"></span>'
        '<button type="submit">Add</button></form>'
    )
    where = escape(mi32cfg_path) if mi32cfg_path else "(no file)"
    transfer = (
        f'<form method="post" action="/devices/import" class="card">{csrf}'
        "<h3>Import a whole mi32cfg</h3><p class=hint>Paste a Tasmota mi32cfg (a JSON array). "
        "It replaces the device list; devices not in it are removed. Nothing changes if any "
        "entry is invalid.</p>"
        '<textarea name="mi32cfg" rows="6" spellcheck="false" aria-label="mi32cfg"></textarea>'
        '<button type="submit">Import</button></form>'
        '<section class="card"><h3>Export</h3><p class=hint>The device list as Tasmota '
        f'writes it (keys masked here; <a href="/devices/export">download</a> it whole, '
        f"logged in). File: <code>{where}</code></p>"
        f'<textarea readonly rows="4" aria-label="export">{escape(export_text)}</textarea>'
        "</section>"
    )
    login_hint = (
        ""
        if ctx.may_change
        else '<p class="message error">Changes need the password: <a href="/login">log in</a>.</p>'
        if ctx.has_password
        else '<p class="message error">Changes are accepted from the bridge\'s own host '
        "only until a password is set (<code>mihomekit web-password</code>).</p>"
    )
    return (
        f"<h1>Devices</h1>{login_hint}<h2>Configured</h2>"
        "<p class=hint>Every bridged device can be renamed here; the name is the one Apple "
        "Home shows. BLE devices are removed here (from the mi32cfg); a Zigbee device (Aqara "
        "gateway, Zigbee2MQTT) is removed in its own system. A name given here to a Zigbee "
        "device wins over its name there until you clear it (rename to an empty name).</p>"
        + (
            "<p class=hint>\u201cGet the key from the sensor\u201d gives an encrypted sensor a "
            "new bind key over Bluetooth (as <code>mihomekit bind</code> does) and saves it. "
            "The sensor no longer works with Mi Home until it is added there again.</p>"
            if can_bind
            else ""
        )
        + f"{configured_html}"
        f"<h2>Heard, not configured</h2>{found_html}{manual}<h2>mi32cfg</h2>{transfer}"
    )


def sources_page(statuses: Sequence[SourceStatus]) -> str:
    rows = []
    now = time.time()
    for status in statuses:
        state = "connected" if status.connected else "not connected"
        since = f" for {age_text(now - status.since)[:-4]}" if status.since else ""
        rows.append(
            f'<tr class="{"ok" if status.connected else "bad"}">'
            f"<td>{escape(status.kind)}</td><td>{escape(status.name)}</td>"
            f"<td>{state}{escape(since)}</td><td>{status.advertisements}</td>"
            f"<td>{status.errors}</td><td>{escape(status.last_error or '')}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="6">No source is running.</td></tr>'
    return (
        "<h1>Sources</h1><table class=list><tr><th>Kind</th><th>Name</th><th>State</th>"
        f"<th>Received</th><th>Errors</th><th>Last error</th></tr>{body}</table>"
    )


def login_page(ctx: PageContext, next_url: str) -> str:
    return (
        '<h1>Log in</h1><form method="post" action="/login" class="card">'
        f'{_csrf(ctx)}<input type="hidden" name="next" value="{escape(next_url)}">'
        '<label>Password <input type="password" name="password" required '
        'autocomplete="current-password"></label> <button type="submit">Log in</button></form>'
    )
