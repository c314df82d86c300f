"""How much the HomeKit server accepts: connections, sizes, timeouts, pair-setup attempts."""

from __future__ import annotations

import logging
import os
import resource
from dataclasses import dataclass, replace

__all__ = ["ServerLimits", "fit_to_descriptors"]

_LOGGER = logging.getLogger(__name__)

#: Descriptors kept free for everything else the bridge opens (files, mDNS, radio, sources)
#: beyond those already open when the server starts.
DESCRIPTOR_HEADROOM = 48


@dataclass(frozen=True, kw_only=True)
class ServerLimits:
    """Limits of the HAP server (the defaults suit a home; tests lower the timeouts).

    Unverified connections (anyone on the LAN) may use ``max_connections -
    reserved_for_verified`` slots; the rest are kept for paired controllers, whose
    connections are never closed to make room.
    """

    max_connections: int = 128
    reserved_for_verified: int = 16
    max_unverified_per_peer: int = 8
    #: A request must arrive whole within this many seconds of its first byte.
    request_timeout: float = 10.0
    #: A connection that has not completed pair-verify is closed after this many seconds.
    unverified_timeout: float = 60.0
    #: HAP's largest legitimate request body is a few KiB.
    max_body: int = 65536
    max_header: int = 8192
    #: An unfinished pair-setup stops blocking others this many seconds after its first
    #: M1 (a repeated M1 does not extend it); see :mod:`.pairing` for who goes next.
    pair_setup_timeout: float = 30.0
    #: An unpaired bridge accepts pair-setup for this many seconds after a start and after
    #: the owner opens pairing; 0 = always (see :mod:`.window`).
    pairing_window: float = 600.0
    #: Consecutive failed setup-code proofs before pair-setup answers Busy for a while.
    lockout_failures: int = 5
    lockout_seconds: float = 60.0
    #: Failed attempts in total (kept across restarts) before pair-setup is refused for
    #: good (kTLVError_MaxTries), until the owner resets it.
    max_failed_attempts: int = 100
    #: Paired controllers a bridge keeps (HAP: at least 16).
    max_pairings: int = 16
    #: Accept at most this many pending connections per loop iteration.
    backlog: int = 16

    @property
    def max_unverified(self) -> int:
        return max(1, self.max_connections - self.reserved_for_verified)


def _open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 64


def fit_to_descriptors(limits: ServerLimits) -> ServerLimits:
    """Lower ``max_connections`` so that the server can never exhaust file descriptors.

    An exhausted descriptor table would refuse a paired controller's next connection, so
    the cap stays below the process's RLIMIT_NOFILE less what is already open, the
    accept backlog and a headroom for the rest of the bridge.
    """
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits
    room = soft - _open_descriptors() - limits.backlog - DESCRIPTOR_HEADROOM
    if room >= limits.max_connections:
        return limits
    fitted = max(4, room)
    reserved = min(limits.reserved_for_verified, max(2, fitted // 4))
    _LOGGER.warning(
        "open-file limit %d allows %d HomeKit connections (not %d); raise LimitNOFILE",
        soft,
        fitted,
        limits.max_connections,
    )
    return replace(limits, max_connections=fitted, reserved_for_verified=reserved)
