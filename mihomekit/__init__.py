"""mihomekit: Xiaomi/Mijia BLE sensors and Aqara Zigbee sensors in Apple Home.

Public API::

    from mihomekit import decode_advertisement
    result = decode_advertisement("A4:C1:38:12:34:56", 0xFE95, data, key=bytes.fromhex(...))
    result.ok, result.values, result.events, result.error

    from mihomekit import decode_manufacturer_data
    result = decode_manufacturer_data("A4:C1:38:12:34:56", 0x038F, data)
"""

from __future__ import annotations

__version__ = "0.2.0"

from .decoders import decode_advertisement, decode_manufacturer_data
from .errors import ConfigError, GatewayError, MihomekitError, MiioError, StateError
from .readings import DecodeResult, Event, KeyStatus

__all__ = [
    "ConfigError",
    "DecodeResult",
    "Event",
    "GatewayError",
    "KeyStatus",
    "MihomekitError",
    "MiioError",
    "StateError",
    "__version__",
    "decode_advertisement",
    "decode_manufacturer_data",
]
