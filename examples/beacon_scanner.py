"""An iBeacon and tag scanner: a mihomekit extension (Tasmota's BEACON example, in Python).

It listens to every advertisement every radio hears (this host's, the ESPHome proxies',
the MQTT gateways') and logs each iBeacon and each tag once, when it is first heard, with
the ``[[presence]]`` line that follows it. Every ``report_every`` seconds it logs how many
it hears now. Phones and watches (rotating private addresses) are counted, not listed:
they are followed with their IRK instead.

    [[extensions]]
    module = "/etc/mihomekit/extensions/beacon_scanner.py"
    [extensions.options]
    report_every = 300    # seconds between two summaries (0: none)
    min_rssi = -90        # ignore what is heard weaker than this (dBm)

A "tag" here is any device with a fixed address that sends no sensor data the bridge
already reads, such as a key finder. The list is bounded (:data:`MAX_SEEN`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mihomekit.extensions import ExtensionApi, RawAdvertisement
from mihomekit.presence.ibeacon import parse_ibeacon

#: At most this many beacons and tags are remembered (the first ones heard).
MAX_SEEN = 500
#: Service UUIDs of sensor data the bridge decodes itself (not tags).
SENSOR_UUIDS = frozenset(
    f"0000{short:04x}-0000-1000-8000-00805f9b34fb"
    for short in (0xFE95, 0x181A, 0xFDCD, 0xFFF9, 0xFCD2, 0x181C, 0x181E, 0xFD50)
)


@dataclass
class Seen:
    """One beacon or tag: what it is, and how it was last heard."""

    kind: str  # "ibeacon" or "tag"
    key: str  # UUID:MAJOR:MINOR, or the MAC
    name: str | None
    rssi: int | None
    receiver: str
    last: float
    count: int = 1


class Scanner:
    """What the extension keeps: the beacons and tags heard, and the phones counted."""

    def __init__(self, api: ExtensionApi) -> None:
        self.api = api
        self.min_rssi = int(api.options.get("min_rssi", -127))
        self.seen: dict[str, Seen] = {}
        self.private: set[str] = set()

    def heard(self, adv: RawAdvertisement) -> None:
        if adv.rssi is not None and adv.rssi < self.min_rssi:
            return
        beacon = parse_ibeacon(adv.manufacturer_data)
        if beacon is not None:
            self._note("ibeacon", beacon.id, adv, f'ibeacon = "{beacon.id}"')
        elif adv.mac[:1] in "4567":  # a resolvable private address: a phone or a watch
            if len(self.private) < MAX_SEEN:
                self.private.add(adv.mac)
        elif SENSOR_UUIDS.isdisjoint(adv.service_data):
            self._note("tag", adv.mac, adv, f'mac = "{adv.mac}"')

    def _note(self, kind: str, key: str, adv: RawAdvertisement, presence: str) -> None:
        seen = self.seen.get(key)
        if seen is not None:
            seen.rssi, seen.receiver, seen.last = adv.rssi, adv.receiver, adv.time
            seen.count += 1
            return
        if len(self.seen) >= MAX_SEEN:
            return
        self.seen[key] = Seen(kind, key, adv.name, adv.rssi, adv.receiver, adv.time)
        label = f" {adv.name!r}" if adv.name else ""
        self.api.log.info(
            "new %s %s%s at %s dBm via %s; follow it with [[presence]] %s",
            kind,
            key,
            label,
            adv.rssi,
            adv.receiver,
            presence,
        )

    def report(self) -> None:
        beacons = sum(1 for s in self.seen.values() if s.kind == "ibeacon")
        tags = len(self.seen) - beacons
        self.api.log.info(
            "heard %d iBeacons, %d tags and %d private addresses so far",
            beacons,
            tags,
            len(self.private),
        )


def setup(api: ExtensionApi) -> Scanner:
    scanner = Scanner(api)
    api.on_advertisement(scanner.heard)
    every = float(api.options.get("report_every", 300))
    if every > 0:
        api.every(every, scanner.report)
    return scanner
