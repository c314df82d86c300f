"""Local addresses, found without touching the network (no default route needed)."""

from __future__ import annotations

import ipaddress
import logging

import ifaddr

_LOGGER = logging.getLogger(__name__)


def ipv4_addresses() -> list[tuple[str, str]]:
    """``(interface name, IPv4 address)`` of every interface, in the system's order."""
    out: list[tuple[str, str]] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if ip.is_IPv4 and isinstance(ip.ip, str):
                out.append((adapter.nice_name, ip.ip))
    return out


def default_address() -> str:
    """The first non-loopback, non-link-local IPv4 address; 127.0.0.1 if there is none.

    Unlike HAP-python's own guess this never opens a socket towards the internet, so it
    works on a Pi that boots before its Wi-Fi is up.
    """
    fallback = None
    for _name, address in ipv4_addresses():
        ip = ipaddress.IPv4Address(address)
        if ip.is_loopback:
            continue
        if ip.is_link_local:
            fallback = fallback or address
            continue
        return address
    if fallback:
        _LOGGER.warning(
            "only a link-local address (%s) found: HomeKit controllers ignore those; "
            "give the host a LAN address (DHCP or static) or pass --address",
            fallback,
        )
        return fallback
    _LOGGER.warning("no network address found; listening on 127.0.0.1 only")
    return "127.0.0.1"
