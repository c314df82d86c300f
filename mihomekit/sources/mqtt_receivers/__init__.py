"""Remote BLE receivers that publish advertisements to an MQTT broker.

:mod:`.formats` reads Theengs Gateway, OpenMQTTGateway and mihomekit relay messages (pure
functions); :mod:`.source` is the ``[[mqtt_receivers]]`` source on the bridge's one broker
connection.
"""

from __future__ import annotations

from .formats import (
    BadMessage,
    Parsed,
    parse_gateway_message,
    parse_relay_message,
    relay_payload,
    relay_raw_payload,
    relay_status_topic,
    relay_topic,
)
from .source import MqttReceiverSource

__all__ = [
    "BadMessage",
    "MqttReceiverSource",
    "Parsed",
    "parse_gateway_message",
    "parse_relay_message",
    "relay_payload",
    "relay_raw_payload",
    "relay_status_topic",
    "relay_topic",
]
