"""Exceptions raised by mihomekit. Every error derives from :class:`MihomekitError`."""

from __future__ import annotations


class MihomekitError(Exception):
    """Root of every error mihomekit raises on purpose."""


class ConfigError(MihomekitError):
    """A configuration file (mi32cfg or settings) is unreadable or invalid.

    ``path`` names the file, ``index`` the offending mi32cfg entry and ``field`` its key,
    when known.
    """

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


class GatewayError(MihomekitError):
    """An Aqara/Xiaomi gateway refused or did not answer a request."""


class MiioError(MihomekitError):
    """A miIO exchange failed (timeout, wrong token, device error)."""


class AdapterError(MihomekitError):
    """A radio or network adapter could not be used (for example: no Bluetooth adapter)."""
