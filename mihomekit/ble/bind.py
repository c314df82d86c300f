"""Getting a sensor's bind key: Mi activation over a connection, then the key into the
mi32cfg, then a check that the sensor's next encrypted advertisement decrypts with it.

Used by ``mihomekit bind`` and the dashboard's "Get the key from the sensor". The mi32cfg
is written atomically and only after the sensor accepted the activation; a running bridge
picks the new key up from the file.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from mihomekit.decoders import decode_advertisement
from mihomekit.errors import ConfigError
from mihomekit.mi32cfg import DeviceEntry, load_mi32cfg, normalize_mac, set_key
from mihomekit.readings import DecodeResult, KeyStatus
from mihomekit.registry import Registry
from mihomekit.sources import Advertisement
from mihomekit.sources.device_list import DeviceList
from mihomekit.wording import counted

from .activation import CONTROL, PARCELS, SERVICE, Activation, ActivationError, ActivationResult
from .link import GattLink, NotAdvertisingError, Radio, display_mac, listen_for
from .queue import GattQueue, shared_queue

__all__ = [
    "WARNING",
    "BindOutcome",
    "BridgeBinder",
    "activate",
    "activate_and_save",
    "bind_sensor",
    "warning_for",
]

_LOGGER = logging.getLogger(__name__)

MIBEACON = 0xFE95

#: Said before an activation starts.
WARNING = (
    "Activation gives {mac} a new bind key and unbinds it from Mi Home: it stops working "
    "in the Mi Home app until it is added there again (which changes the key once more)."
)


def warning_for(mac: str) -> str:
    return WARNING.format(mac=display_mac(mac))


@dataclass(frozen=True, slots=True)
class BindOutcome:
    """A successful bind: the key, where it went, and whether the sensor's beacon proved it.

    ``previous`` is the mi32cfg entry the sensor had before (None: it was added);
    ``confirmation`` the first advertisement decrypted with the new key (None: none came).
    """

    mac: str
    pid: int
    key: bytes
    mi32cfg: str
    previous: DeviceEntry | None
    activation: ActivationResult
    confirmation: DecodeResult | None


async def activate(
    link: GattLink, *, timeout: float, activation: Activation | None = None
) -> ActivationResult:
    """Run Mi activation over ``link``; the result, or :class:`ActivationError`."""
    machine = activation or Activation()
    inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    await link.start_notify(SERVICE, CONTROL, lambda data: inbox.put_nowait((CONTROL, data)))
    await link.start_notify(SERVICE, PARCELS, lambda data: inbox.put_nowait((PARCELS, data)))

    async def run() -> ActivationResult:
        writes = machine.start()
        while True:
            for write in writes:
                await link.write(SERVICE, write.char, write.data)
            if machine.result is not None:
                return machine.result
            char, data = await inbox.get()
            writes = machine.feed(char, data)

    try:
        return await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        raise ActivationError(
            f"the sensor stopped answering while we waited to {machine.step.value} "
            f"(no answer in {timeout:g} s)"
        ) from None


def _product_id(mac: str, adv: Advertisement) -> int | None:
    data = adv.service_data.get(MIBEACON)
    if data is None:
        return None
    return decode_advertisement(mac, MIBEACON, bytes(data), None).pid


def decrypts_with(mac: str, key: bytes, adv: Advertisement) -> DecodeResult | None:
    """The decoded frame if ``adv`` is an encrypted MiBeacon that ``key`` opens, else None."""
    data = adv.service_data.get(MIBEACON)
    if data is None:
        return None
    result = decode_advertisement(mac, MIBEACON, bytes(data), key)
    if result.ok and result.encrypted and result.key_status is KeyStatus.OK:
        return result
    return None


def _not_heard(mac: str, radio: Radio, timeout: float, others: int) -> NotAdvertisingError:
    if others:
        return NotAdvertisingError(
            f"{mac} is not advertising (not heard through {radio.name} in {timeout:g} s, "
            f"though {counted(others, 'advertisement')} of other devices were): bring it "
            "closer, or "
            "check that no phone or app is connected to it"
        )
    hint = (
        " (is Home Assistant or a running bridge holding its advertisement subscription?)"
        if radio.name.startswith("proxy")
        else ""
    )
    return NotAdvertisingError(
        f"{mac} is not advertising: nothing at all was heard through {radio.name} in "
        f"{timeout:g} s{hint}"
    )


async def activate_and_save(
    radio: Radio,
    mac: str,
    pid: int,
    mi32cfg: str | os.PathLike[str],
    *,
    timeout: float,
    queue: GattQueue | None = None,
) -> tuple[ActivationResult, DeviceEntry | None]:
    """Activate ``mac`` and write its key (and the device, with ``pid``, if not listed)
    into ``mi32cfg``; the result and the entry it had before (None: added)."""
    if os.path.exists(mi32cfg):  # a broken file fails before the sensor loses Mi Home
        await asyncio.to_thread(load_mi32cfg, mi32cfg)
    async with (queue or shared_queue()).session(radio, mac, timeout=timeout) as link:
        result = await activate(link, timeout=timeout)
    try:
        previous = await asyncio.to_thread(set_key, mi32cfg, mac, result.bind_key, pid)
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"the sensor took the bind key {result.bind_key.hex().upper()}, but it could not "
            f"be saved: {err}",
            path=os.fspath(mi32cfg),
        ) from err
    return result, previous


async def bind_sensor(
    radio: Radio,
    mac: str,
    mi32cfg: str | os.PathLike[str],
    *,
    timeout: float = 30.0,
    confirm_timeout: float | None = None,
    queue: GattQueue | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> BindOutcome:
    """Activate ``mac`` through ``radio`` and save its new bind key in ``mi32cfg``.

    ``timeout`` bounds each stage (hearing the sensor, the connection, the exchange);
    ``confirm_timeout`` (default ``timeout``) the wait for its first encrypted
    advertisement afterwards. Raises :class:`NotAdvertisingError`, :class:`~.link.GattError`,
    :class:`ActivationError` or :class:`ConfigError`; the mi32cfg is unchanged then.
    """
    mac = display_mac(normalize_mac(mac))
    path = os.fspath(mi32cfg)
    # A broken device list must fail before the sensor loses its Mi Home binding.
    entries = load_mi32cfg(path) if os.path.exists(path) else []
    known = next((e for e in entries if e.mac == mac.replace(":", "")), None)
    say(f"listening for {mac} through {radio.name} ...")

    def usable(adv: Advertisement) -> bool:
        return known is not None or _product_id(mac, adv) is not None

    heard, others = await listen_for(radio, mac, timeout, usable)
    if heard is None:
        raise _not_heard(mac, radio, timeout, others)
    pid = known.pid if known is not None else _product_id(mac, heard)
    assert pid is not None
    say(f"heard {mac} (RSSI {heard.rssi} dBm); connecting and activating ...")
    result, previous = await activate_and_save(radio, mac, pid, path, timeout=timeout, queue=queue)
    say(f"bind key {result.bind_key.hex().upper()} saved in {path}")
    if previous is None:
        say(f"added {mac} (product id {pid:04x}) to {path}")
    elif previous.key and previous.key != result.bind_key:
        say(f"it replaces the key {previous.key.hex().upper()}")
    wait = timeout if confirm_timeout is None else confirm_timeout
    say(f"waiting up to {wait:g} s for an encrypted advertisement from {mac} ...")
    confirmation: DecodeResult | None = None

    def opens(adv: Advertisement) -> bool:
        nonlocal confirmation
        confirmation = decrypts_with(mac, result.bind_key, adv)
        return confirmation is not None

    await listen_for(radio, mac, wait, opens)
    return BindOutcome(
        mac=mac,
        pid=pid,
        key=result.bind_key,
        mi32cfg=path,
        previous=previous,
        activation=result,
        confirmation=confirmation,
    )


class BridgeBinder:
    """The dashboard's "Get the key from the sensor": the same activation, from inside the
    running bridge. The sensor must have been heard (its product id and the radio that
    hears it best come from the registry); the key goes into the bridge's mi32cfg, which
    is applied at once. Whether it works shows with the sensor's next advertisement.
    """

    def __init__(
        self,
        registry: Registry,
        device_list: DeviceList,
        radio_for: Callable[[str | None], Radio | None],
        *,
        timeout: float = 30.0,
        queue: GattQueue | None = None,
    ) -> None:
        self._registry = registry
        self._device_list = device_list
        self._radio_for = radio_for
        self._timeout = timeout
        self._queue = queue

    async def __call__(self, mac_text: str) -> str:
        """Bind the sensor ``mac_text``; a sentence for the page, or a MihomekitError."""
        try:
            device_id = normalize_mac(mac_text)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        mac = display_mac(device_id)
        path = self._device_list.path
        if path is None:
            raise ConfigError("the bridge has no mi32cfg file to write the key to")
        device = self._registry.get(device_id)
        heard = self._registry.unknown.get(device_id)
        if device is not None and device.source == "ble" and device.pid is not None:
            pid, receiver = device.pid, device.best_receiver
        elif heard is not None and heard.pid is not None:
            pid, receiver = heard.pid, heard.receiver
        else:
            raise NotAdvertisingError(
                f"{mac} has not been heard (or sends no product id): wait for its "
                "advertisement, or use `mihomekit bind` on the bridge's host"
            )
        radio = self._radio_for(receiver)
        if radio is None:
            raise NotAdvertisingError(f"no radio of the bridge can reach {mac}")
        _LOGGER.warning("%s", warning_for(mac))
        result, _previous = await activate_and_save(
            radio, mac, pid, path, timeout=self._timeout, queue=self._queue
        )
        await self._device_list.check()
        return (
            f"{mac} took a new bind key ({result.bind_key.hex()[:4].upper()}…), saved in "
            f"{path}; its next advertisement shows whether it works"
        )
