"""MQTT: the bridge's one broker connection, shared by MQTT sources and outputs.

The app makes one :class:`MqttConnection` from ``[mqtt]`` (``app.mqtt``, ``None``
without an ``[mqtt]`` table) and hands it to each MQTT source and output; use
:func:`require_connection` to get it with a clear error when it is missing.
"""

from __future__ import annotations

from mihomekit.errors import ConfigError
from mihomekit.settings import MqttSettings

from .connection import MqttConnection, MqttMessage, topic_matches


def require_connection(connection: MqttConnection | None, what: str) -> MqttConnection:
    """``connection``, or :class:`ConfigError` "``what`` needs an [mqtt] broker"."""
    if connection is None:
        raise ConfigError(f"{what} needs an [mqtt] broker: add an [mqtt] table with its host")
    return connection


__all__ = ["MqttConnection", "MqttMessage", "MqttSettings", "require_connection", "topic_matches"]
