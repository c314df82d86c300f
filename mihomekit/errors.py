"""Exceptions raised by mihomekit. Every error derives from :class:`MihomekitError`.

Each error class carries the exit status of the ``mihomekit`` command that fails with it
(``exit_code``); the statuses are defined here and nowhere else:

====  =========================================================================
 1    any other failure (a gateway or device did not answer, no Bluetooth, ...)
 2    configuration: a bad settings file, mi32cfg or option (also command-line usage)
 3    the state directory holds a file that cannot be read (corrupt, wrong types)
 4    the state directory cannot be written (permissions, read-only, disk full)
 5    the HomeKit port is in use
 6    nothing to bridge: no device from a mi32cfg, a gateway or an earlier run
130   interrupted (Ctrl-C) before the bridge was up
====  =========================================================================
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_STATE_UNREADABLE = 3
EXIT_STATE_NOT_WRITABLE = 4
EXIT_PORT_IN_USE = 5
EXIT_NOTHING_TO_BRIDGE = 6
EXIT_INTERRUPTED = 130


class MihomekitError(Exception):
    """Root of every error mihomekit raises on purpose."""

    #: Exit status of the command that stops with this error.
    exit_code = EXIT_FAILURE


class ConfigError(MihomekitError):
    """A configuration file (mi32cfg or settings) is unreadable or invalid.

    ``path`` names the file, ``index`` the offending mi32cfg entry and ``field`` its key,
    when known.
    """

    exit_code = EXIT_CONFIG

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        index: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.index = index
        self.field = field
        where = []
        if path:
            where.append(path)
        if index is not None:
            where.append(f"entry {index}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(
            f"{': '.join([', '.join(where)] if where else [])}{': ' if where else ''}{reason}"
        )


class StateError(MihomekitError):
    """The persisted bridge state is unreadable; it is never silently replaced."""

    exit_code = EXIT_STATE_UNREADABLE


class StateWriteError(MihomekitError):
    """The state directory cannot be written: permissions, a read-only mount, a full disk."""

    exit_code = EXIT_STATE_NOT_WRITABLE


class GatewayError(MihomekitError):
    """An Aqara/Xiaomi gateway refused or did not answer a request."""


class ControlError(MihomekitError):
    """A write to a device (from HomeKit or MQTT) cannot be carried out: no source can
    control the device, or its source refused."""


class MiioError(MihomekitError):
    """A miIO exchange failed (timeout, wrong token, device error)."""


class AdapterError(MihomekitError):
    """A radio or network adapter could not be used (for example: no Bluetooth adapter)."""


class PortInUseError(AdapterError):
    """The HomeKit TCP port is taken (by another bridge, or another mihomekit)."""

    exit_code = EXIT_PORT_IN_USE


class NothingToBridgeError(MihomekitError):
    """No device to offer to HomeKit: no mi32cfg entry, no gateway device, none known."""

    exit_code = EXIT_NOTHING_TO_BRIDGE
