"""mihomekit's HomeKit server: pairing that cannot be hijacked or guessed, durable state.

HAP-python still models the accessories; this package serves them. Every private name of
HAP-python it relies on is in :mod:`mihomekit.homekit.hap_python`, as typed Protocols.
"""

from .attempts import ATTEMPTS_FILE, Lock, PairingAttempts, reset_attempts
from .driver import BridgeDriver
from .limits import ServerLimits
from .server import HapServer, ServerStats

__all__ = [
    "ATTEMPTS_FILE",
    "BridgeDriver",
    "HapServer",
    "Lock",
    "PairingAttempts",
    "ServerLimits",
    "ServerStats",
    "reset_attempts",
]
