"""The README's "Supported products" tables, made from the device tables.

One row per kind of device: its products by name with their models, and the HomeKit
services they get. The Bluetooth table comes from :func:`mihomekit.catalog.all_models`,
the gateway table from :data:`mihomekit.sources.gateway.models.MODELS`; what HomeKit shows
is :func:`mihomekit.accessories.services.homekit_services`, the list ``mihomekit z2m list``
prints too.

    python tests/helpers/products_table.py           # print the block
    python tests/helpers/products_table.py --write   # replace it in README.md

``tests/test_readme.py`` fails while the README's block differs from this one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mihomekit.accessories.services import homekit_services
from mihomekit.catalog import DeviceModel, all_models
from mihomekit.sources.gateway.models import MODELS as GATEWAY_MODELS
from mihomekit.vocabulary import HOMEKIT_SENSORS

README = Path(__file__).resolve().parents[2] / "README.md"
START = "<!-- products: made by tests/helpers/products_table.py --write; do not edit by hand -->"
END = "<!-- end of products -->"

#: The kind of the models whose readings vary by product: they show what they report.
VARIES = "Varies by product"
#: Kinds of device, in the order of the tables: the first whose test a model passes.
KINDS: tuple[tuple[str, Callable[[DeviceModel], bool]], ...] = (
    ("Smoke and gas", lambda m: bool(m.measures & {"smoke", "gas"})),
    ("Water leak", lambda m: "leak" in m.measures),
    ("Doors and windows", lambda m: "opening" in m.measures),
    ("Motion", lambda m: "motion" in m.measures),
    ("Occupancy", lambda m: "occupancy" in m.measures),
    ("Plants and soil", lambda m: "moisture" in m.measures),
    ("Temperature and humidity", lambda m: {"temperature", "humidity"} <= m.measures),
    ("Temperature", lambda m: "temperature" in m.measures),
    ("Plugs, switches, lights", lambda m: bool(m.controls)),
    ("Buttons, remotes, cubes", lambda m: m.buttons > 0),
    ("Locks (state only)", lambda m: "locked" in m.measures),
    (VARIES, lambda m: m.reports_vary),
    ("Other", lambda m: True),
)
SWITCHES = "StatelessProgrammableSwitch"
#: After a model that encrypts its advertisements (escaped: a Markdown asterisk).
ENCRYPTED = "\\*"
NOTHING = "nothing (MQTT and the dashboard only)"


@dataclass
class Row:
    """One kind: product name → its models (in table order), and each model's services."""

    kind: str
    products: dict[str, list[str]] = field(default_factory=dict)
    services: list[list[str]] = field(default_factory=list)

    def add(self, name: str, model: str, services: list[str]) -> None:
        models = self.products.setdefault(name, [])
        if model not in models:
            models.append(model)
        self.services.append(services)


def _kind(model: DeviceModel) -> str:
    return next(kind for kind, test in KINDS if test(model))


def _services(model: DeviceModel) -> list[str]:
    """The services, a programmable switch counted once (the number varies by model)."""
    out: list[str] = []
    for service in homekit_services(model):
        name = SWITCHES if service.startswith(SWITCHES) else service
        if name not in out:
            out.append(name)
    return out


def _rows(models: Iterable[tuple[str, DeviceModel]]) -> list[Row]:
    rows: dict[str, Row] = {}
    for code, model in models:
        kind = _kind(model)
        row = rows.setdefault(kind, Row(kind))
        row.add(model.name, code, _services(model))
    order = [kind for kind, _ in KINDS]
    return sorted(rows.values(), key=lambda r: order.index(r.kind))


def _learnable() -> str:
    """What a device whose readings vary by product can show: every sensor service of the
    vocabulary, the battery, a switch per button (see :mod:`mihomekit.learning`)."""
    services: list[str] = []
    for reading in HOMEKIT_SENSORS:
        if reading.homekit is not None and reading.homekit.service not in services:
            services.append(reading.homekit.service)
    return (
        f"what the device reports, as it is heard: {', '.join(services)}, BatteryService, "
        f"{SWITCHES} (one per button)"
    )


def _shown(row: Row) -> str:
    """The services every product of the row gets, then those only some get."""
    if row.kind == VARIES:
        return _learnable()
    every = [s for s in row.services[0] if all(s in services for services in row.services)]
    some: list[str] = []
    for services in row.services:
        some.extend(s for s in services if s not in every and s not in some)
    text = ", ".join(_service_words(s) for s in every)
    if some:
        extra = ", ".join(_service_words(s) for s in some)
        text = f"{text}; some also {extra}" if text else f"by product: {extra}"
        if not all(row.services):
            text += f"; the rest {NOTHING}"
    return text or NOTHING


def _service_words(service: str) -> str:
    return f"{SWITCHES} (one per button or gesture)" if service == SWITCHES else service


def _marked(model: str, encrypted: set[str]) -> str:
    return model + ENCRYPTED if model in encrypted else model


def _table(rows: list[Row], encrypted: set[str]) -> list[str]:
    lines = ["| kind | product: models | HomeKit shows |", "| --- | --- | --- |"]
    for row in rows:
        products = "; ".join(
            f"{name}: {', '.join(_marked(m, encrypted) for m in models)}"
            for name, models in row.products.items()
        )
        lines.append(f"| {row.kind} | {products} | {_shown(row)} |")
    return lines


def block() -> str:
    """The whole generated block, markers included."""
    catalog = [m for m in all_models() if m.pid is not None]
    encrypted = {m.model for m in catalog if m.encrypted}
    ble = _rows((m.model, m) for m in catalog)
    gateway = _rows((code, entry.device) for code, entry in GATEWAY_MODELS.items())
    other = [m for m in all_models() if m.pid is None]
    lines = [
        START,
        "**Bluetooth** (listed in the mi32cfg by product id; \\* encrypted: needs a "
        "[bind key](#bind-keys)):",
        "",
        *_table(ble, encrypted),
        "",
        "Also decoded (`mihomekit scan`, `mihomekit decode`), without a product id of their "
        "own: " + "; ".join(f"{m.name}: {m.model}" for m in other) + ". `mihomekit scan "
        "--write` lists Qingping sensors under the CGD1's id and b-parasite under pvvx's, as "
        "Tasmota does ([docs/mi32cfg.md](docs/mi32cfg.md)).",
        "",
        "Any device also shows what it reports beyond its model when HomeKit can show it "
        "(a b-parasite listed under the pvvx id: its soil moisture and light), learned as "
        "it is heard ([docs/homekit.md](docs/homekit.md#what-a-device-reports)).",
        "",
        "**Zigbee through an Aqara or Xiaomi gateway** (by the model the gateway reports, "
        "without `lumi.`):",
        "",
        *_table(gateway, set()),
        "",
        "**Zigbee2MQTT**: any device it supports, mapped from its exposes "
        "([docs/sources.md](docs/sources.md#zigbee2mqtt)).",
        END,
    ]
    return "\n".join(lines) + "\n"


def replace_block(text: str, new: str) -> str:
    """``text`` with its block between the markers replaced by ``new``."""
    start = text.index(START)
    end = text.index(END, start) + len(END) + 1
    return text[:start] + new + text[end:]


def current_block(text: str) -> str:
    """The block between the markers of ``text``, markers included."""
    start = text.index(START)
    end = text.index(END, start) + len(END) + 1
    return text[start:end]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the block in README.md")
    args = parser.parse_args(argv)
    new = block()
    if not args.write:
        sys.stdout.write(new)
        return 0
    README.write_text(replace_block(README.read_text(encoding="utf-8"), new), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
