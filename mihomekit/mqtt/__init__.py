"""MQTT: the bridge's one broker connection, shared by MQTT sources and outputs.

``app.mqtt`` is the :class:`MqttConnection` (``None`` without an ``[mqtt]`` table); use
:func:`require_connection` to get it with a clear error when it is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mihomekit.errors import ConfigError
from mihomekit.settings import MqttSettings

from .connection import MqttConnection, MqttMessage, topic_matches

if TYPE_CHECKING:
    from mihomekit.bridge import BridgeApp


def require_connection(app: BridgeApp, what: str) -> MqttConnection:
    """``app.mqtt``, or :class:`ConfigError` "``what`` needs an [mqtt] broker"."""
    if app.mqtt is None:
        raise ConfigError(f"{what} needs an [mqtt] broker: add an [mqtt] table with its host")
    return app.mqtt


__all__ = ["MqttConnection", "MqttMessage", "MqttSettings", "require_connection", "topic_matches"]
